import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// Programs the tests need besides pxsh.
enum Executables {
    /// `runuser`, which root uses to run a command as another user.
    static let runuser: String? =
        ProcessSpawner.findExecutable("runuser")
        ?? ["/usr/sbin/runuser", "/sbin/runuser"].first { access($0, X_OK) == 0 }

    /// A python3 that the user `nobody` may run (the one on PATH may live under root's home).
    static let pythonForEveryone: String? = ["/usr/bin/python3", "/usr/local/bin/python3"].first { path in
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & 0o001 != 0
    }

    /// Runs a program to completion and returns its output and status.
    static func run(
        _ executable: String,
        _ arguments: [String],
        timeout: Double = 60
    ) throws
        -> (status: ChildProcess.Termination, stdout: String, transcript: String)
    {
        let child = try ChildProcess(executable: executable, arguments: arguments, input: "")
        let status = child.waitForExit(timeout: timeout)
        return (status, child.stdout, child.transcript)
    }
}
