/// A magic that cannot be parsed: what is wrong, and the magic's synopsis.
public struct MagicError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var usage: String?

    public init(_ message: String, usage: String? = nil) {
        self.message = message
        self.usage = usage
    }

    public var description: String { message + (usage.map { "\nusage: \($0)" } ?? "") }
}

/// Turns a line (or a `%%px` cell) that starts with `%` into a ``Command``.
public enum MagicParser {
    /// Parses one magic line (or a `%%px` cell): its first word picks the magic's own parser
    /// from ``parsers``; the magic's synopsis from ``MagicCatalog`` comes with any usage error.
    public static func parse(_ input: String) throws -> Command {
        var words = Words(input)
        guard let head = words.next() else { throw MagicError("empty magic") }
        // `%px?` and `%px??` ask for help, as in IPython.
        var asked = Substring(head.text)
        while asked.hasSuffix("?") { asked = asked.dropLast() }
        if asked.count < head.text.count, let magic = MagicCatalog.named(String(asked)) {
            return .help(magic.name)
        }
        guard let parser = parsers[head.text] else {
            let suggestion = MagicCatalog.all.map(\.name).first { $0.hasPrefix(head.text) || head.text.hasPrefix($0) }
            throw MagicError(
                "unknown magic \(head.text)" + (suggestion.map { " (did you mean \($0)?)" } ?? "")
                    + "; %help lists them"
            )
        }
        let synopsis = MagicCatalog.named(head.text)?.synopsis
        var line = MagicLine(input: input, words: words) { message in
            MagicError("\(head.text): \(message)", usage: synopsis)
        }
        return try parser(&line)
    }

    // MARK: - Flags

    static func parsePxFlags(
        _ words: inout Words,
        allowCode: Bool,
        error: (String) -> MagicError
    ) throws -> PxOptions {
        var options = PxOptions()
        while let flag = words.peekFlag() {
            _ = words.next()
            switch flag.name {
            case "-t", "--targets":
                let value = try flag.value ?? words.value(for: flag.name, error)
                guard let spec = TargetSpec(value) else {
                    throw error("bad targets '\(value)' (\(MagicCatalog.targetsHelp))")
                }
                options.targets = spec
            case "--block": options.block = true
            case "--noblock": options.block = false
            case "--local": options.local = true
            case "--setup": options.setup = true
            case "--stream": options.stream = true
            case "--no-stream": options.stream = false
            case "--group-outputs":
                let value = try flag.value ?? words.value(for: flag.name, error)
                guard let group = PxOptions.GroupOutputs(rawValue: value) else {
                    throw error("--group-outputs takes engine, order or type")
                }
                options.groupOutputs = group
            case "-o", "--name":
                options.name = try identifier(flag.value ?? words.value(for: flag.name, error), error)
            case "--timeout":
                let value = try flag.value ?? words.value(for: flag.name, error)
                guard let seconds = Double(value), seconds >= 0 else { throw error("--timeout takes seconds") }
                options.timeout = seconds
            case "--":
                return options
            default:
                throw error("unknown flag \(flag.name)")
            }
        }
        if !allowCode, let extra = words.next() { throw error("unexpected '\(extra.text)'") }
        return options
    }

    static func parseTargetsFlag(_ words: inout Words, error: (String) -> MagicError) throws -> TargetSpec? {
        guard let flag = words.peekFlag(), flag.name == "-t" || flag.name == "--targets" else { return nil }
        _ = words.next()
        let value = try flag.value ?? words.value(for: flag.name, error)
        guard let spec = TargetSpec(value) else { throw error("bad targets '\(value)' (\(MagicCatalog.targetsHelp))") }
        return spec
    }

    static func optionalTargets(_ text: String, _ error: (String) -> MagicError) throws -> TargetSpec? {
        guard !text.isEmpty else { return nil }
        guard let spec = TargetSpec(text) else { throw error("bad targets '\(text)' (\(MagicCatalog.targetsHelp))") }
        return spec
    }

    static func identifier(_ text: String, _ error: (String) -> MagicError) throws -> String {
        guard text.isIdentifier else { throw error("'\(text)' is not a valid name") }
        return text
    }

    /// `a b x=EXPR y=EXPR`: an expression runs until the next `name=` word.
    static func parseAssignments(_ text: String, error: (String) -> MagicError) throws -> [Command.Assignment] {
        var assignments: [Command.Assignment] = []
        var explicit: [Bool] = []
        var inExpression = false
        for word in TopLevel.split(text) {
            if let equals = word.firstIndex(of: "="), word[..<equals].isIdentifier,
                !word[word.index(after: equals)...].hasPrefix("=")
            {
                assignments.append(
                    Command.Assignment(
                        name: String(word[..<equals]),
                        expression: String(word[word.index(after: equals)...])
                    )
                )
                explicit.append(true)
                inExpression = true
            } else if inExpression {
                assignments[assignments.count - 1].expression += " " + word
            } else {
                guard word.isIdentifier else { throw error("'\(word)' is not a variable name (use NAME=EXPR)") }
                assignments.append(Command.Assignment(name: word))
                explicit.append(false)
            }
        }
        // `x=` with nothing after it is a slip, not a request to push the local x.
        for (assignment, isAssignment) in zip(assignments, explicit)
        where isAssignment && assignment.expression.trimmingSpaces.isEmpty {
            throw error(
                "\(assignment.name)= needs an expression (NAME=EXPR), or push the variable as \(assignment.name)"
            )
        }
        return assignments
    }
}
