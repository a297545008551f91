import PxClient

/// Turns outputs into text: a pure function of its input, the width and the style.
///
/// Output is grouped by engine in engine order, with ipyparallel's prefixes (`[stdout:0]`,
/// `[stderr:2]`, `Out[1:4]:`, `[2:execute]`). Engines whose whole output is identical merge into one
/// block, as `[stdout:0-3] done`, which keeps many engines readable.
public struct Renderer: Sendable {
    public var style: Style
    public var width: Int

    public init(style: Style = .plain, width: Int = 80) {
        self.style = style
        self.width = width
    }

    // MARK: - Engine outputs

    public func render(_ outputs: [EngineOutput], grouping: PxOptions.GroupOutputs = .engine) -> String {
        let groups = merge(outputs)
        var text = ""
        switch grouping {
        case .engine, .order:
            for group in groups { text += render(group.output, engines: group.engines) }
        case .type:
            for group in groups { text += stream("stdout", group.output.stdout, group.engines) }
            for group in groups { text += stream("stderr", group.output.stderr, group.engines) }
            for group in groups { text += resultAndError(group.output, engines: group.engines) }
        }
        return text
    }

    /// Groups engines with identical output, ordered by their first engine.
    func merge(_ outputs: [EngineOutput]) -> [(output: EngineOutput, engines: [Int32])] {
        var groups: [(output: EngineOutput, engines: [Int32])] = []
        var index: [[String]: Int] = [:]
        for output in outputs.sorted(by: { $0.engine < $1.engine }) {
            let key = output.content
            if let position = index[key] {
                groups[position].engines.append(output.engine)
            } else {
                index[key] = groups.count
                groups.append((output, [output.engine]))
            }
        }
        return groups
    }

    private func render(_ output: EngineOutput, engines: [Int32]) -> String {
        stream("stdout", output.stdout, engines) + stream("stderr", output.stderr, engines)
            + resultAndError(output, engines: engines)
    }

    private func stream(_ name: String, _ text: String, _ engines: [Int32]) -> String {
        guard !text.isEmpty else { return "" }
        let prefix = style.engine(engines[0], "[\(name):\(EngineRanges.format(engines))]")
        let text = text.resolvingCarriageReturns
        let body = text.hasSuffix("\n") ? text : text + "\n"
        let isMultiline = body.dropLast().contains("\n")
        return prefix + (isMultiline ? "\n" : " ") + body
    }

    private func resultAndError(_ output: EngineOutput, engines: [Int32]) -> String {
        var text = ""
        let label = EngineRanges.format(engines)
        if output.isTruncated {
            text += style.dim("[output:\(label)] (output cut at \(AsyncResult.outputLimit >> 20) MB per task)") + "\n"
        }
        if let result = output.result {
            text +=
                style.engine(engines[0], "Out[\(label):\(result.count)]:") + separator(for: result.repr) + result.repr
                + "\n"
        }
        if let error = output.error {
            // A task that never reached an engine (aborted while queued) has no engine to name.
            let prefix =
                engines.allSatisfy({ $0 == EngineNumber.none })
                ? "[\(error.operation)]" : "[\(label):\(error.operation)]"
            text += style.engine(engines[0], prefix) + " " + style.error(error.summary) + "\n"
            let body = tracebackBody(error)
            if !body.isEmpty { text += body + "\n" }
        }
        return text
    }

    /// The traceback without its final `Name: value` line, which the header already shows.
    func tracebackBody(_ error: RemoteError) -> String {
        var lines = error.traceback.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        if let last = lines.last, last.hasPrefix(error.name) { lines.removeLast() }
        while let last = lines.last, last.trimmingSpaces.isEmpty { lines.removeLast() }
        return lines.joined(separator: "\n")
    }

    private func separator(for repr: String) -> String {
        repr.contains("\n") ? "\n" : " "
    }

    /// `1 engine`, `4 engines`: a count with its noun in the right number.
    public static func count(_ value: Int, _ noun: String) -> String {
        "\(value) \(noun)\(value == 1 ? "" : "s")"
    }

    // MARK: - Local outputs

    /// A local (home engine) result, as a Python REPL shows it: `Out[n]: repr`.
    public func localResult(_ repr: String, count: Int) -> String {
        style.output("Out[\(count)]:") + separator(for: repr) + repr + "\n"
    }

    /// A local error: the traceback as Python prints it.
    public func localError(_ error: RemoteError) -> String {
        var text = error.traceback
        if !text.contains(error.name) { text += (text.isEmpty ? "" : "\n") + error.summary }
        if !text.hasSuffix("\n") { text += "\n" }
        return style.error(text)
    }

    /// An error of pxsh itself (a bad magic, a lost engine): one red line.
    public func failure(_ message: String) -> String {
        style.error(message.hasSuffix("\n") ? message : message + "\n")
    }

    public func notice(_ message: String) -> String {
        style.dim(message.hasSuffix("\n") ? message : message + "\n")
    }
}
