import PxClient

/// What one engine produced for one request: the renderer's input, a plain value.
public struct EngineOutput: Equatable, Sendable {
    public var engine: Int32
    public var stdout: String
    public var stderr: String
    /// The value of the cell's last expression: the engine's execution count and the repr.
    public var result: Result?
    public var error: RemoteError?
    public var isTruncated = false

    public struct Result: Equatable, Sendable {
        public var count: Int
        public var repr: String

        public init(count: Int, repr: String) {
            self.count = count
            self.repr = repr
        }
    }

    public init(
        engine: Int32,
        stdout: String = "",
        stderr: String = "",
        result: Result? = nil,
        error: RemoteError? = nil,
        isTruncated: Bool = false
    ) {
        self.engine = engine
        self.stdout = stdout
        self.stderr = stderr
        self.result = result
        self.error = error
        self.isTruncated = isTruncated
    }

    /// Everything but the engine, so that identical outputs can merge.
    var content: [String] {
        [
            stdout, stderr, result.map { "\($0.count)\u{0}\($0.repr)" } ?? "",
            error.map { "\($0.name)\u{0}\($0.value)\u{0}\($0.traceback)\u{0}\($0.operation)" } ?? "",
            isTruncated ? "t" : "",
        ]
    }

    /// The outputs of an AsyncResult's tasks, in task order.
    public static func of(_ result: AsyncResult) -> [EngineOutput] {
        result.tasks.map { task in
            var output = EngineOutput(
                engine: task.engine ?? EngineNumber.none,
                stdout: task.stdout.displayText,
                stderr: task.stderr.displayText,
                error: task.error(operation: result.operation),
                isTruncated: task.isOutputTruncated
            )
            switch result.kind {
            case .execute:
                if let reply = task.executeReply, let repr = reply.resultRepr {
                    output.result = Result(count: reply.count, repr: repr)
                }
            case .apply:
                output.result = task.returnValueRepr.map { Result(count: 0, repr: $0) }
            case .map, .other:
                break
            }
            return output
        }
    }
}

extension EngineOutput {
    /// A map's outputs: what its tasks printed, joined per engine in task order, and its failed
    /// tasks, each with its own output and error.
    public static func ofMap(_ result: AsyncResult) -> [EngineOutput] {
        var printed: [Int32: EngineOutput] = [:]
        var failed: [EngineOutput] = []
        for output in of(result) {
            if output.error != nil {
                failed.append(output)
                continue
            }
            guard !output.stdout.isEmpty || !output.stderr.isEmpty || output.isTruncated else { continue }
            var joined = printed[output.engine] ?? EngineOutput(engine: output.engine)
            joined.stdout += output.stdout
            joined.stderr += output.stderr
            joined.isTruncated = joined.isTruncated || output.isTruncated
            printed[output.engine] = joined
        }
        return printed.values.sorted { $0.engine < $1.engine } + failed
    }
}

extension Array where Element == UInt8 {
    /// The bytes as text, with invalid UTF-8 shown escaped (`\xff`) instead of replaced.
    public var displayText: String {
        if let text = String(validating: self, as: UTF8.self) { return text }
        var text = ""
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = makeIterator()
        var consumed = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                text.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                consumed += encoded.count
            case .error(let length):
                for byte in self[consumed..<consumed + length] {
                    let hex = String(byte, radix: 16)
                    text += "\\x" + (hex.count == 1 ? "0" : "") + hex
                }
                consumed += length
            case .emptyInput:
                return text
            }
        }
    }
}

extension String {
    /// Each line as a terminal leaves it after the carriage returns that rewrite it (a progress bar):
    /// the text after its last `\r`, which then cannot overwrite the `[stdout:N]` label before it.
    var resolvingCarriageReturns: String {
        let (newline, carriageReturn) = (UInt8(ascii: "\n"), UInt8(ascii: "\r"))
        guard utf8.contains(carriageReturn) else { return self }
        let lines = utf8.split(separator: newline, omittingEmptySubsequences: false).map { line in
            line.split(separator: carriageReturn).last.map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        return lines.joined(separator: "\n")
    }
}
