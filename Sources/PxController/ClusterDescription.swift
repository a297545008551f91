import PxTransport

#if canImport(Glibc)
import Glibc
#endif

/// The small JSON file that describes a named cluster to `pxsh cluster list|status` and to clients.
enum ClusterDescription {
    static func write(for options: ControllerOptions, name: String) {
        let json = """
            {"name": \(quoted(name)), "pid": \(getpid()), "engines": \(options.engineCount), \
            "python": \(quoted(options.pythonExecutable)), "created": \(Clock.realtimeNanoseconds / 1_000_000_000)}

            """
        let path = options.directory + "/cluster.json"
        guard let fd = try? FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC) else { return }
        try? fd.writeAll(json)
        fd.close()
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
