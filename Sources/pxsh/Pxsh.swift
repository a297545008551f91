import ArgumentParser
import PxClient
import PxPlatform
import PxPythonPackage
import PxRepl

#if canImport(Glibc)
import Glibc
#endif

/// `pxsh`: a REPL for parallel Python sessions.
///
/// Exit codes: 0 when every command succeeded, 1 when a command failed (its error is shown),
/// 2 for a usage error or a cluster that could not start.
@main
struct Pxsh: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pxsh",
        abstract: "A fast REPL for parallel Python sessions on local engines.",
        discussion: """
            `pxsh [-n N] [--python PATH] [--cluster NAME] [-c CODE]` starts the REPL (the default \
            command). Exit status: 0 if every command succeeded, 1 if one failed, 2 for a usage error. \
            `pxsh --version` prints the version.
            """,
        subcommands: [
            ReplCommand.self, RunCommand.self, ClusterCommand.self, BenchCommand.self, MagicsCommand.self,
            EngineCommand.self, ControllerCommand.self,
        ],
        defaultSubcommand: ReplCommand.self
    )

    /// Usage errors exit with 2 (ArgumentParser's own default is 64).
    static func main() {
        // A peer that went away must show up as an error on write, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let arguments = Array(CommandLine.arguments.dropFirst())
        // The roles that pxsh starts itself parse only their own options. Parsing against the whole
        // command tree took about 23 M instructions (most of such a process's start), and a cluster's
        // first engine waits for three processes to start one after the other: pxsh, its controller
        // and the zygote.
        switch arguments.first {
        case "--version" where arguments.count == 1:
            // Not ArgumentParser's `version:`, which would read the version at every start.
            Terminal.write("pxsh \(EmbeddedPythonPackage.version)\n")
            Glibc.exit(0)
        case "controller": run(ControllerCommand.self, Array(arguments.dropFirst()))
        case "engine" where arguments.contains("--socket"): run(EngineCommand.self, Array(arguments.dropFirst()))
        case let first where isReplCommandLine(arguments, first: first):
            // A usage error is reported by the whole tree, as before.
            run(Pxsh.self, nil, parsed: try? ReplCommand.parseAsRoot(arguments))
        default: run(Pxsh.self, nil)
        }
    }

    /// Whether `arguments` are the default command's (`pxsh`, `pxsh -n 4 -c CODE`), which then parses
    /// alone: the whole tree is needed for another command's name and for help.
    private static func isReplCommandLine(_ arguments: [String], first: String?) -> Bool {
        let names = configuration.subcommands.map { $0.configuration.commandName ?? "" } + ["help"]
        let special: Set = ["-h", "--help", "-help", "--version", "--experimental-dump-help"]
        return !names.contains(first ?? "")
            && !arguments.contains { special.contains($0) || $0.hasPrefix("--generate-completion") }
    }

    /// Parses `arguments` (nil: the process's own) as `Root`'s, unless `parsed` is given, and runs the
    /// command they name.
    private static func run<Root: ParsableCommand>(
        _: Root.Type,
        _ arguments: [String]?,
        parsed: (any ParsableCommand)? = nil
    ) -> Never {
        do {
            var command = try parsed ?? Root.parseAsRoot(arguments)
            try command.run()
            Glibc.exit(0)
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            if Root.exitCode(for: error) == .success { Root.exit(withError: error) }
            try? FileDescriptor.standardError.writeAll(Root.fullMessage(for: error) + "\n")
            Glibc.exit(2)
        }
    }
}

/// `pxsh` itself: the REPL on a terminal, or a script from -c or standard input.
struct ReplCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repl",
        abstract: "Start the REPL (the default): interactive on a terminal, else a script from -c or stdin.",
        usage: "pxsh [-n N] [--python PATH] [--cluster NAME] [--ip ADDR [--port P]] [-c CODE] [<options>]",
        discussion: """
            A plain line runs locally; %px runs code on the engines; %help lists the magics. A session \
            whose cluster goes away ends with exit status 1, interactive or not.
            """
    )

    @OptionGroup var cluster: ClusterOptions
    @Option(
        name: .customShort("c"),
        help: "Run these commands (separated by newlines) and exit; several -c run in the order given."
    )
    var commands: [String] = []
    @Flag(help: "Plain output, without colours (also: NO_COLOR=1).") var noColor = false

    func run() throws {
        let terminal = Terminal.current(noColor: noColor)
        let session = try cluster.connect(terminal: terminal)
        defer { session.cluster.shutdown() }
        if !commands.isEmpty {
            ScriptRunner(session: session, stopsAtFirstFailure: false).run(
                lines: commands.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false) }.map(String.init)
            )
        } else if terminal.isInputTerminal {
            Terminal.write(banner(session))
            Repl(session: session, historyFile: historyPath).run()
            // Failed commands were shown as they happened; like IPython, an interactive session exits 0,
            // unless it ended because the cluster was gone.
            session.cluster.shutdown()
            if session.isClusterGone { throw ExitCode(1) }
            if let status = session.exitStatus, status != 0 { throw ExitCode(status) }
            return
        } else {
            ScriptRunner(session: session, stopsAtFirstFailure: false).run(lines: StandardInputLines())
        }
        session.cluster.shutdown()
        if let status = session.exitStatus { throw ExitCode(status) }
        if session.hasFailed { throw ExitCode(1) }
    }

    private var historyPath: String? {
        getenv("HOME").map { String(cString: $0) + "/.pxsh_history" }
    }

    private func banner(_ session: Session) -> String {
        let count = session.cluster.engineList.count
        let where_ = session.cluster.name.map { "cluster '\($0)'" } ?? "a private cluster"
        // A named cluster's file is one `pxsh cluster connection --name` away; a private one's is only here.
        let joining =
            session.cluster.name == nil
            ? session.cluster.connectionFilePath.map {
                "engines join over TCP with: pxsh engine --connection-file \($0)\n"
            } ?? "" : ""
        return session.renderer.style.dim(
            "pxsh \(EmbeddedPythonPackage.version): \(count) engine\(count == 1 ? "" : "s") in \(where_), "
                + "python \(session.cluster.pythonExecutable)\n"
                + joining + "%help lists the magics; a plain line runs locally; Ctrl-D quits.\n"
        )
    }
}

/// Options that say which cluster to use.
struct ClusterOptions: ParsableArguments {
    // Unconditional: `-n -1` is a count to reject, not a missing value followed by a flag.
    @Option(name: .short, parsing: .unconditional, help: "Number of engines (default: the number of cores).")
    var n: Int?
    @Option(
        help: ArgumentHelp("The python the engines run (a venv's python works; default python3).", valueName: "python")
    )
    var python: String?
    @Option(name: .customLong("cluster"), help: "Attach to the named cluster instead of starting a private one.")
    var clusterName: String?
    @OptionGroup var tcp: TCPOptions
    @OptionGroup var launch: LauncherOptions

    var engineCount: Int { launch.engineCount(requested: n ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }

    func validate() throws {
        if let n { try validateEngineCount(n) }
        if let clusterName {
            // A named cluster has its engines and its python already: say so rather than ignore the option.
            let given = [
                ("-n", n != nil), ("--python", python != nil), ("--ip", tcp.ip != nil), ("--port", tcp.port != nil),
                ("--location", tcp.location != nil),
            ]
            if let option = given.first(where: \.1)?.0 {
                throw ValidationError(
                    "\(option) is for a cluster this command starts; the cluster '\(clusterName)' has its engines "
                        + "and python already (%add N adds engines to it; see `pxsh cluster start`)"
                )
            }
        }
        if clusterName != nil && launch.launcher != .local {
            throw ValidationError("--launcher is for a cluster this command starts; see `pxsh cluster start`")
        }
        if clusterName == nil && tcp.ip == nil && tcp.port != nil && launch.launcher == .local {
            throw ValidationError(
                "--port goes with --ip ADDR: a private cluster takes engines over TCP only at an address you give "
                    + "(--ip 127.0.0.1 for this host alone)"
            )
        }
        if clusterName == nil { _ = try launch.endpoint(tcp.endpoint) }
    }

    func connect(terminal: Terminal) throws -> Session {
        let cluster: Cluster
        do {
            cluster =
                try clusterName.map { try Cluster.attach(name: $0) }
                ?? Cluster.start(
                    engines: engineCount,
                    python: python ?? "python3",
                    tcp: try launch.endpoint(tcp.endpoint),
                    controllerArguments: launch.controllerArguments,
                    startTimeout: launch.clientStartTimeout
                )
        } catch {
            try? FileDescriptor.standardError.writeAll("pxsh: \(error)\n")
            throw ExitCode(2)
        }
        if let clusterName, terminal.isInputTerminal {
            // One home engine serves the named cluster, so its clients share their local namespace. Said to a
            // person at a terminal; a script (`-c`, stdin) is not told on every call.
            try? FileDescriptor.standardError.writeAll(
                terminal.renderer.notice(ClusterOptions.sharedNote(clusterName))
            )
        }
        return Session(cluster: cluster, renderer: terminal.renderer, write: Terminal.write)
    }

    static func sharedNote(_ name: String) -> String {
        "attached to cluster '\(name)': its engines and its local namespace are shared with every other client "
            + "of the cluster, since the cluster has one home engine, where every client's plain lines run"
    }
}

/// `-n`: a count of engines, 0 to 256.
func validateEngineCount(_ n: Int) throws {
    if n < 0 { throw ValidationError("-n \(n): the number of engines must be 0 or more") }
    if n > 256 { throw ValidationError("-n \(n): the number of engines must be at most 256") }
}

/// Lines of standard input, read as they come.
struct StandardInputLines: Sequence, IteratorProtocol {
    mutating func next() -> String? { readLine(strippingNewline: true) }
}

/// Where a cluster started here accepts engines over TCP.
struct TCPOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Also accept engines over TCP at this address of this host (e.g. 10.1.0.1, or 0.0.0.0 or :: for all: "
                + "the connection file then names the address of the default route's interface; see --location). "
                + "Engines prove they hold the cluster's key; traffic is authenticated, not encrypted. "
                + "Default: none for a private cluster, 127.0.0.1 for a named one.",
            valueName: "ADDR"
        )
    )
    var ip: String?
    @Option(help: "The TCP port for engines (default: a free one; see `pxsh cluster connection`).") var port: Int?
    @Option(
        help: ArgumentHelp(
            "The address engines connect to, written in the connection file, when it is not the --ip address "
                + "(a host name, or one address of several when --ip is 0.0.0.0).",
            valueName: "ADDR"
        )
    )
    var location: String?

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port takes 0 to 65535") }
        if location != nil && ip == nil {
            throw ValidationError("--location goes with --ip ADDR: the address the controller listens on")
        }
    }

    /// nil when none of the options was given.
    var endpoint: TCPEndpoint? {
        guard ip != nil || port != nil else { return nil }
        return TCPEndpoint(address: ip ?? "127.0.0.1", port: port ?? 0, location: location)
    }
}
