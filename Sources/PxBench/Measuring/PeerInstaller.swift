/// Installs the peers into a scratch virtual environment, only when the user asks (`--install-peers DIR`).
///
/// The venv is made with `--system-site-packages`, so that the peers use the same numpy (and the same
/// interpreter) as the engines, and only the peers and their dependencies are added. Nothing outside `DIR` is
/// touched. `multiprocessing` and `concurrent.futures` are in the standard library and need nothing.
public enum PeerInstaller {
    /// The packages installed into the venv.
    public static let packages = ["ipyparallel", "loky", "distributed"]

    /// Creates (or reuses) the venv at `directory` with `python`, and installs ``packages`` with pip.
    ///
    /// - Parameter log: receives the tools' output, line by line.
    /// - Returns: the venv's python, to pass as `--peer-python`.
    /// - Throws: ``BenchError/installFailed(_:)``.
    public static func install(into directory: String, python: String, log: (String) -> Void) throws -> String {
        let venvPython = directory + "/bin/python"
        try step(python, ["-m", "venv", "--system-site-packages", directory], log: log)
        try step(venvPython, ["-m", "pip", "install", "--disable-pip-version-check"] + packages, log: log)
        return venvPython
    }

    private static func step(_ executable: String, _ arguments: [String], log: (String) -> Void) throws {
        log("$ \(([executable] + arguments).joined(separator: " "))")
        let ending: LineReadingProcess.Ending
        do {
            ending = try LineReadingProcess.run(executable, arguments: arguments, idleSeconds: 600, onLine: log)
        } catch {
            throw BenchError.installFailed("cannot run \(executable): \(error)")
        }
        guard case .exited(.exited(0)?) = ending else {
            throw BenchError.installFailed("\(executable) \(arguments.joined(separator: " ")) failed (\(ending))")
        }
    }
}
