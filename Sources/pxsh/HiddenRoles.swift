import ArgumentParser
import PxController
import PxEngine

/// `pxsh engine`: an engine process, started by a controller. Hidden from help.
struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Run an engine (started by the controller).",
        shouldDisplay: false
    )

    @Option var socket: String
    @Option var id: Int32
    @Option var rank: Int
    @Option var size: Int
    @Option var libpython: String
    @Option(name: .customLong("program-name")) var programName: String
    @Flag var home = false
    @Option(help: "The engine's log file.") var log: String?

    func run() throws {
        Engine.run(
            EngineOptions(
                socketPath: socket,
                id: id,
                rank: rank,
                size: size,
                libraryPath: libpython,
                programName: programName,
                isHome: home,
                logPath: log
            )
        )
    }
}

/// `pxsh controller`: the controller of one cluster, started by `pxsh` or `pxsh cluster start`. Hidden from help.
struct ControllerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run a cluster's controller.",
        shouldDisplay: false
    )

    @Option var directory: String
    @Option var engines: Int
    @Option var python: String
    @Option var libpython: String
    @Option var name: String?
    @Flag(name: .customLong("listener-on-stdin"), help: "fd 0 is the listening socket, already bound.")
    var listenerOnStdin = false

    func run() throws {
        let options = ControllerOptions(
            directory: directory,
            engineCount: engines,
            pythonExecutable: python,
            libraryPath: libpython,
            name: name,
            inheritedListener: listenerOnStdin ? .standardInput : nil
        )
        Controller(options: options).run()
    }
}
