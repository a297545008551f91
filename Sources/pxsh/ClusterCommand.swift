import ArgumentParser
import PxClient
import PxPlatform
import PxRepl

#if canImport(Glibc)
import Glibc
#endif

/// `pxsh cluster`: named clusters that outlive their clients.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Start, stop and list named clusters.",
        subcommands: [Start.self, Stop.self, List.self, Status.self, Connection.self]
    )

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a named cluster in the background; attach with `pxsh --cluster NAME`.",
            discussion: """
                The cluster outlives its clients: its engines keep their variables until `pxsh cluster stop`. \
                Every client attached to it shares its engines and its one local namespace (the home \
                engine, where plain lines run), so a variable one client defines at its prompt is seen by \
                the others; pxsh says so when a client attaches.
                """
        )
        @Option(help: "The cluster's name.") var name: String
        @Option(name: .short, parsing: .unconditional, help: "Number of engines (default: the number of cores).")
        var n: Int?
        @Option(help: "The python the engines run.") var python = "python3"
        @OptionGroup var tcp: TCPOptions
        @OptionGroup var launch: LauncherOptions

        func validate() throws {
            if let n { try validateEngineCount(n) }
            _ = try launch.endpoint(tcp.endpoint)
        }

        func run() throws {
            let count = launch.engineCount(requested: n ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
            // Ctrl-C while the engines start stops what had started, instead of leaving it running unseen.
            let interrupts = SignalInterrupts()
            do {
                let cluster = try Cluster.startNamed(
                    name,
                    engines: count,
                    python: python,
                    tcp: try launch.endpoint(tcp.endpoint) ?? TCPEndpoint(),
                    controllerArguments: launch.controllerArguments,
                    startTimeout: launch.clientStartTimeout,
                    interruptedBy: interrupts.descriptor
                )
                Terminal.write(
                    "cluster '\(name)' started: \(Renderer.count(cluster.engineList.count, "engine")) in \(cluster.directory)\n"
                )
                cluster.shutdown()
            } catch ClusterError.interrupted {
                try? FileDescriptor.standardError.writeAll(
                    "pxsh: interrupted: the cluster '\(name)' was stopped before it had started\n"
                )
                throw ExitCode(130)
            } catch {
                try? FileDescriptor.standardError.writeAll("pxsh: \(error)\n")
                throw ExitCode(2)
            }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a named cluster and its engines.",
            discussion: """
                Returns once the cluster's controller has exited, so that a cluster of the same name can \
                be started at once. The controller ends its engines as Python ends (atexit handlers run) \
                and its launcher's jobs; if it has not exited within the timeout, it is killed. A controller \
                that does not answer within 10 s (a stopped or stuck one) is sent SIGTERM (and SIGCONT), then \
                killed if it has not exited within the timeout; pxsh says which. The directory of a cluster \
                whose controller is already gone (killed with SIGKILL) is removed, and pxsh says so.
                """
        )
        @Option(help: "The cluster's name.") var name: String
        @Option(help: "Seconds the controller may take to end its engines and jobs before it is killed.")
        var timeout: Double = Cluster.controllerExitTimeout

        func validate() throws {
            guard timeout > 0 && timeout <= 86_400 else {
                throw ValidationError("--timeout \(timeout): give seconds, more than 0 and at most a day")
            }
        }

        func run() throws {
            do {
                let instead = try Cluster.stop(name: name, timeout: timeout)
                Terminal.write("cluster '\(name)' stopped" + (instead.map { ": \($0)" } ?? "") + "\n")
            } catch {
                try? FileDescriptor.standardError.writeAll("pxsh: \(error)\n")
                throw ExitCode(1)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the running named clusters, and those whose controller is gone (killed)."
        )

        func run() throws {
            var rows: [String] = []
            for name in try Cluster.namedClusterNames() {
                // One stuck controller must not hold the whole list.
                do {
                    let cluster = try Cluster.attach(name: name, timeout: 5)
                    rows.append(
                        "\(name)  \(Renderer.count(cluster.engineList.count, "engine"))  \(cluster.pythonExecutable)"
                    )
                    cluster.shutdown()
                } catch ClusterError.noSuchCluster {
                    // A directory without a controller: one killed with SIGKILL could not remove it.
                    guard let pid = Cluster.goneController(ofCluster: name) else { continue }
                    rows.append(
                        "\(name)  dead: its controller (pid \(pid)) is gone; "
                            + "`pxsh cluster stop --name \(name)` removes what it left"
                    )
                } catch {
                    rows.append("\(name)  not answering: \(error)")
                }
            }
            Terminal.write(rows.isEmpty ? "no named clusters are running\n" : rows.joined(separator: "\n") + "\n")
        }
    }

    struct Connection: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a named cluster's connection file, with which engines join it over TCP.",
            discussion: """
                The JSON holds the cluster's id, the controller's address and port, and the cluster's key. \
                Anyone who has it can run code in the cluster: keep it in a file only you can read \
                (umask 077), or pipe it straight to `pxsh engine --connection-file -`. \
                Example: `pxsh cluster connection --name demo | ssh HOST pxsh engine --connection-file -`.
                """
        )
        @Option(help: "The cluster's name.") var name: String

        func run() throws {
            do {
                let cluster = try Cluster.attach(name: name)
                defer { cluster.shutdown() }
                guard let file = cluster.connectionFile else {
                    throw ClusterError.invalidRequest("cluster '\(name)' takes no engines over TCP")
                }
                Terminal.write(file)
            } catch {
                try? FileDescriptor.standardError.writeAll("pxsh: \(error)\n")
                throw ExitCode(1)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a named cluster's engines.")
        @Option(help: "The cluster's name.") var name: String

        func run() throws {
            do {
                let cluster = try Cluster.attach(name: name)
                defer { cluster.shutdown() }
                Terminal.write(Renderer().engines(try cluster.engines(), now: Clock.realtimeNanoseconds))
            } catch {
                try? FileDescriptor.standardError.writeAll("pxsh: \(error)\n")
                throw ExitCode(1)
            }
        }
    }
}
