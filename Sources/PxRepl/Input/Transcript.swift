/// A transcript (`.pxt`): inputs after their prompts, each followed by the output it should produce.
///
/// Lines that start with `# ` (or are just `#`) outside inputs are comments, for teaching notes.
/// When checking, `...` in an expected line matches anything within that line (pids, timings), and
/// blank lines at the end of an output do not count. An output line that starts with `\\` was escaped
/// by the recorder (``TranscriptFormat/escapedOutput(_:)``): it is expected without that mark.
public struct Transcript: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var input: String
        public var expected: [String]
        /// The number of its prompt, `In [number]:`.
        public var number: Int?
    }

    public var entries: [Entry]

    public static func parse(_ text: String) -> [Entry] {
        var entries: [Entry] = []
        var inInput = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if let (number, input) = Prompt.parseNumbered(line) {
                entries.append(Entry(input: input, expected: [], number: number))
                inInput = true
            } else if inInput && line.hasPrefix(TranscriptFormat.continuation) {
                entries[entries.count - 1].input += "\n" + line.dropFirst(TranscriptFormat.continuation.count)
            } else if inInput && line.trimmingSpaces == "...:" {
                entries[entries.count - 1].input += "\n"
            } else {
                inInput = false
                if isComment(line) || entries.isEmpty { continue }
                entries[entries.count - 1].expected.append(TranscriptFormat.unescapedOutput(line))
            }
        }
        return entries
    }

    static func isComment(_ line: String) -> Bool { line == "#" || line.hasPrefix("# ") }

    // MARK: - Updating

    /// The transcript with the outputs of some entries replaced: `actual[i]` is entry i's new output,
    /// or nil to keep it. Comments stay where they are, and an expected line that still matches keeps
    /// its `...` pattern, so only what changed changes.
    public static func updated(_ text: String, actual: [String?]) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var result: [String] = []
        var entry = -1
        var index = 0
        while index < lines.count {
            let line = lines[index]
            guard Prompt.parse(line) != nil else {
                result.append(line)
                index += 1
                continue
            }
            entry += 1
            result.append(line)
            index += 1
            while index < lines.count
                && (lines[index].hasPrefix(TranscriptFormat.continuation) || lines[index].trimmingSpaces == "...:")
            {
                result.append(lines[index])
                index += 1
            }
            var region: [String] = []
            while index < lines.count && Prompt.parse(lines[index]) == nil {
                region.append(lines[index])
                index += 1
            }
            // Comments and blank lines after the output belong to what follows.
            var split = region.count
            while split > 0 && (isComment(region[split - 1]) || region[split - 1].trimmingSpaces.isEmpty) { split -= 1 }
            guard entry < actual.count, let output = actual[entry] else {
                result += region
                continue
            }
            let old = region[..<split].filter { !isComment($0) }
            let printed = normalized(output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
            let new = printed.indices.map { position in
                position < old.count
                    && lineMatches(pattern: TranscriptFormat.unescapedOutput(old[position]), printed[position])
                    ? old[position] : TranscriptFormat.escapedOutput(printed[position])
            }
            result += new + region[split...]
        }
        return result.joined(separator: "\n")
    }

    // MARK: - Checking

    /// Whether `actual` output matches the expected lines.
    public static func matches(expected: [String], actual: String) -> Bool {
        let actualLines = normalized(actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        let expectedLines = normalized(expected)
        return actualLines.count == expectedLines.count
            && zip(expectedLines, actualLines).allSatisfy { lineMatches(pattern: $0, $1) }
    }

    /// A unified-style diff of expected against actual lines, for a mismatch.
    public static func diff(expected: [String], actual: String) -> String {
        let actualLines = normalized(actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        let expectedLines = normalized(expected)
        var text = ""
        let count = max(actualLines.count, expectedLines.count)
        for index in 0..<count {
            let want = index < expectedLines.count ? expectedLines[index] : nil
            let got = index < actualLines.count ? actualLines[index] : nil
            if let want, let got, lineMatches(pattern: want, got) {
                text += "  \(got)\n"
            } else {
                if let want { text += "- \(want)\n" }
                if let got { text += "+ \(got)\n" }
            }
        }
        return text
    }

    private static func normalized(_ lines: [String]) -> [String] {
        var lines = lines.map { TranscriptFormat.stripEscapes($0) }
        while let last = lines.last, last.trimmingSpaces.isEmpty { lines.removeLast() }
        // Trailing spaces are invisible in a file; do not let them fail a check.
        return lines.map { String($0.reversed().drop { $0 == " " }.reversed()) }
    }

    /// `...` in the pattern matches any run of characters (possibly none) within the line.
    static func lineMatches(pattern: String, _ line: String) -> Bool {
        let parts = pattern.components(separatedByString: "...")
        guard parts.count > 1 else { return pattern == line }
        var rest = Substring(line)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for (index, part) in parts.enumerated().dropFirst() {
            if index == parts.count - 1 { return part.isEmpty || rest.hasSuffix(part) }
            guard let range = rest.firstRange(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }
}

extension String {
    func components(separatedByString separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
