import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// A Python that engines can embed: its executable and its shared libpython.
public struct PythonInstallation: Equatable, Sendable {
    /// The interpreter's own path (`sys.executable`), which engines pass to Python as the program name:
    /// that is how a venv's python finds the venv.
    public var executable: String
    /// The shared libpython the engines load.
    public var libraryPath: String
    /// Its version, e.g. "3.12".
    public var version: String

    /// Why a Python cannot be used.
    public struct Unusable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Asks the interpreter at `command` (a path, or a name looked up on PATH) where its libpython is.
    ///
    /// The answer is cached per interpreter in the runtime directory, keyed by the file's identity
    /// and modification time, because starting a python costs about 20 ms (more through pyenv's shims).
    public static func locate(_ command: String = "python3") throws -> PythonInstallation {
        guard let path = ProcessSpawner.findExecutable(command) else {
            throw Unusable(
                description: "cannot find \(command) on PATH; install Python 3.9 or newer, or pass --python PATH"
            )
        }
        let cachePath = try cacheFile(for: path)
        if let cached = readCache(cachePath) { return cached }
        let installation = try probe(path)
        writeCache(installation, to: cachePath)
        return installation
    }

    // The probe prints key=value lines; the candidates are the places a shared libpython can be.
    private static let probeScript = """
        import sys, sysconfig, os
        v = sysconfig.get_config_var
        print("executable=" + sys.executable)
        print("version=" + sys.version.split()[0])
        print("shared=" + str(v("Py_ENABLE_SHARED") or 0))
        names = [n for n in (v("INSTSONAME"), v("LDLIBRARY")) if n and ".so" in n]
        dirs = [d for d in (v("LIBDIR"), os.path.join(v("LIBDIR") or "", v("MULTIARCH") or ""), os.path.join(sys.base_prefix, "lib")) if d]
        for d in dirs:
            for n in names:
                p = os.path.join(d, n)
                if os.path.exists(p):
                    print("library=" + p)
        """

    private static func probe(_ path: String) throws -> PythonInstallation {
        let output = try capture(path, arguments: ["-I", "-c", probeScript])
        var fields: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            if fields[key] == nil { fields[key] = String(line[line.index(after: equals)...]) }
        }
        guard let executable = fields["executable"], let version = fields["version"] else {
            throw Unusable(description: "\(path) did not answer like Python 3")
        }
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2, parts[0] == 3, parts[1] >= 9 else {
            throw Unusable(description: "\(path) is Python \(version); pxsh needs CPython 3.9 or newer")
        }
        guard let library = fields["library"] else {
            throw Unusable(
                description: """
                    \(path) (Python \(version)) has no shared libpython, so engines cannot embed it.
                    Use a Python built with --enable-shared: Debian's python3 with libpython3-dev \
                    (apt-get install python3 libpython3-dev), or with pyenv: \
                    env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install \(version). Then pass --python PATH.
                    """
            )
        }
        return PythonInstallation(executable: executable, libraryPath: library, version: version)
    }

    // MARK: - Cache

    private static func cacheFile(for path: String) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Unusable(description: "cannot stat \(path)") }
        let directory = try RuntimeDirectory.root() + "/python-cache"
        try RuntimeDirectory.makePrivateDirectory(directory)
        // FNV-1a of the path and the identity of the file it reaches.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array("\(path)|\(info.st_dev)|\(info.st_ino)|\(info.st_mtim.tv_sec)|\(info.st_size)".utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return directory + "/" + String(hash, radix: 16)
    }

    private static func readCache(_ path: String) -> PythonInstallation? {
        guard let fd = try? FileDescriptor.open(path, flags: O_RDONLY) else { return nil }
        defer { fd.close() }
        var buffer = [UInt8](repeating: 0, count: 8192)
        guard let count = try? buffer.withUnsafeMutableBytes({ try fd.read(into: $0) }), count > 0 else { return nil }
        let lines = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.count == 3, access(lines[1], R_OK) == 0 else { return nil }
        return PythonInstallation(executable: lines[0], libraryPath: lines[1], version: lines[2])
    }

    private static func writeCache(_ installation: PythonInstallation, to path: String) {
        let temporary = path + ".\(getpid())"
        guard let fd = try? FileDescriptor.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC) else { return }
        try? fd.writeAll("\(installation.executable)\n\(installation.libraryPath)\n\(installation.version)\n")
        fd.close()
        rename(temporary, path)
    }

    // MARK: - Helpers

    /// Runs a program and returns its stdout.
    static func capture(_ executable: String, arguments: [String]) throws -> String {
        let pipe = try FileDescriptor.pipe()
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(executable, arguments: arguments, output: pipe.write)
        } catch {
            pipe.read.close()
            pipe.write.close()
            throw error
        }
        pipe.write.close()
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while let count = try? chunk.withUnsafeMutableBytes({ try pipe.read.read(into: $0) }), count > 0 {
            output.append(contentsOf: chunk[0..<count])
        }
        pipe.read.close()
        _ = ProcessSpawner.wait(pid)
        return String(decoding: output, as: UTF8.self)
    }
}
