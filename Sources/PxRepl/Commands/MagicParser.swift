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
    public static func parse(_ input: String) throws -> Command {
        var words = Words(input)
        guard let head = words.next() else { throw MagicError("empty magic") }
        let magic = MagicCatalog.named(head.text)
        func usageError(_ message: String) -> MagicError {
            MagicError("\(head.text): \(message)", usage: magic?.synopsis)
        }

        switch head.text {
        case "%%px":
            guard let newline = input.firstIndex(of: "\n") else { throw usageError("the cell has no code") }
            var flagWords = Words(String(input[..<newline]))
            _ = flagWords.next()
            let options = try parsePxFlags(&flagWords, allowCode: false, error: usageError)
            return .px(options, code: String(input[input.index(after: newline)...]))
        case "%px":
            let options = try parsePxFlags(&words, allowCode: true, error: usageError)
            let code = words.rest
            guard !code.isEmpty else { throw usageError("no code to run") }
            return .px(options, code: code)
        case "%pxconfig":
            let options = try parsePxFlags(&words, allowCode: false, error: usageError)
            return .pxconfig(options)
        case "%autopx":
            try words.expectEnd(usageError)
            return .autopx
        case "%pxresult":
            let name = words.next()?.text
            try words.expectEnd(usageError)
            return .pxresult(name: name)
        case "%push":
            let targets = try parseTargetsFlag(&words, error: usageError)
            let assignments = try parseAssignments(words.rest, error: usageError)
            guard !assignments.isEmpty else { throw usageError("name the values to push") }
            return .push(assignments, targets: targets)
        case "%pull":
            let targets = try parseTargetsFlag(&words, error: usageError)
            let names = words.remainingWords
            guard !names.isEmpty else { throw usageError("name the variables to pull") }
            for name in names where !name.isIdentifier { throw usageError("'\(name)' is not a variable name") }
            return .pull(names, targets: targets)
        case "%scatter":
            let targets = try parseTargetsFlag(&words, error: usageError)
            guard let name = words.next()?.text, name.isIdentifier else { throw usageError("name the variable") }
            return .scatter(name: name, expression: words.rest, targets: targets)
        case "%gather":
            let targets = try parseTargetsFlag(&words, error: usageError)
            guard let name = words.next()?.text, name.isIdentifier else { throw usageError("name the variable") }
            try words.expectEnd(usageError)
            return .gather(name: name, targets: targets)
        case "%map":
            var options = MapOptions()
            while let flag = words.peekFlag() {
                _ = words.next()
                switch flag.name {
                case "--chunksize":
                    let value = try flag.value ?? words.value(for: flag.name, usageError)
                    if value == "auto" {
                        options.chunkSize = nil
                    } else {
                        guard let size = Int(value), size > 0 else {
                            throw usageError("--chunksize takes a positive number or auto")
                        }
                        options.chunkSize = size
                    }
                case "--unordered": options.unordered = true
                case "--ordered": options.unordered = false
                case "--noblock": options.block = false
                case "--block": options.block = true
                case "-o", "--name":
                    options.name = try identifier(flag.value ?? words.value(for: flag.name, usageError), usageError)
                case "--retries":
                    guard let retries = Int(try flag.value ?? words.value(for: flag.name, usageError)), retries >= 0
                    else {
                        throw usageError("--retries takes a number")
                    }
                    options.retries = retries
                case "--": break
                default: throw usageError("unknown flag \(flag.name)")
                }
                if flag.name == "--" { break }
            }
            guard TopLevel.split(words.rest).count >= 2 else { throw usageError("give a function and a sequence") }
            return .map(options, call: words.rest)
        case "%apply":
            var name: String?
            while let flag = words.peekFlag() {
                _ = words.next()
                guard flag.name == "-o" || flag.name == "--name" else { throw usageError("unknown flag \(flag.name)") }
                name = try identifier(flag.value ?? words.value(for: flag.name, usageError), usageError)
            }
            guard !words.rest.isEmpty else { throw usageError("give a function") }
            return .apply(call: words.rest, name: name)
        case "%jobs":
            try words.expectEnd(usageError)
            return .jobs
        case "%wait":
            var name: String?
            var timeout: Double?
            while let word = words.next() {
                if word.text.hasPrefix("--timeout") {
                    let value =
                        word.text.hasPrefix("--timeout=")
                        ? String(word.text.dropFirst(10)) : try words.value(for: "--timeout", usageError)
                    guard let seconds = Double(value), seconds >= 0 else { throw usageError("--timeout takes seconds") }
                    timeout = seconds
                } else if name == nil {
                    name = word.text
                } else {
                    throw usageError("unexpected '\(word.text)'")
                }
            }
            return .wait(name: name, timeout: timeout)
        case "%abort":
            let name = words.next()?.text
            try words.expectEnd(usageError)
            return .abort(name: name)
        case "%result":
            guard let name = words.next()?.text else { throw usageError("name the result") }
            var storeAs: String?
            if let flag = words.next() {
                guard flag.text == "-o" else { throw usageError("unexpected '\(flag.text)'") }
                storeAs = try identifier(words.value(for: "-o", usageError), usageError)
            }
            try words.expectEnd(usageError)
            return .result(name: name, storeAs: storeAs)
        case "%timeline":
            let name = words.next()?.text
            try words.expectEnd(usageError)
            return .timeline(name: name)
        case "%engines":
            try words.expectEnd(usageError)
            return .engines
        case "%interrupt":
            return .interrupt(try optionalTargets(words.rest, usageError))
        case "%restart":
            var replay = false
            var list = false
            var spec: [String] = []
            for word in words.remainingWords {
                if word == "--replay" {
                    replay = true
                } else if word == "--list" {
                    list = true
                } else {
                    spec.append(word)
                }
            }
            if list {
                guard !replay && spec.isEmpty else { throw usageError("--list goes alone") }
                return .listSetup
            }
            return .restart(try optionalTargets(spec.joined(), usageError), replay: replay)
        case "%add":
            guard let count = words.next().flatMap({ Int($0.text) }), count > 0, count <= 256 else {
                throw usageError("give a number of engines (1-256)")
            }
            try words.expectEnd(usageError)
            return .add(count)
        case "%remove":
            guard let spec = try optionalTargets(words.rest, usageError) else { throw usageError("say which engines") }
            return .remove(spec)
        case "%who":
            return .who(try optionalTargets(words.rest, usageError))
        case "%record":
            guard let path = words.next()?.text else { throw usageError("give a file, or --stop") }
            try words.expectEnd(usageError)
            return .record(path: path == "--stop" ? nil : path)
        case "%run":
            let path = words.rest
            guard !path.isEmpty else { throw usageError("give a file") }
            return .run(path: path)
        case "%help":
            let name = words.next()?.text
            try words.expectEnd(usageError)
            if let name, MagicCatalog.named(name) == nil { throw MagicError("%help: no magic \(name)") }
            return .help(name)
        case "%quit", "%exit":
            return .quit
        default:
            let suggestion = MagicCatalog.all.map(\.name).first { $0.hasPrefix(head.text) || head.text.hasPrefix($0) }
            throw MagicError(
                "unknown magic \(head.text)" + (suggestion.map { " (did you mean \($0)?)" } ?? "")
                    + "; %help lists them"
            )
        }
    }

    // MARK: - Flags

    private static func parsePxFlags(
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

    private static func parseTargetsFlag(_ words: inout Words, error: (String) -> MagicError) throws -> TargetSpec? {
        guard let flag = words.peekFlag(), flag.name == "-t" || flag.name == "--targets" else { return nil }
        _ = words.next()
        let value = try flag.value ?? words.value(for: flag.name, error)
        guard let spec = TargetSpec(value) else { throw error("bad targets '\(value)' (\(MagicCatalog.targetsHelp))") }
        return spec
    }

    private static func optionalTargets(_ text: String, _ error: (String) -> MagicError) throws -> TargetSpec? {
        guard !text.isEmpty else { return nil }
        guard let spec = TargetSpec(text) else { throw error("bad targets '\(text)' (\(MagicCatalog.targetsHelp))") }
        return spec
    }

    private static func identifier(_ text: String, _ error: (String) -> MagicError) throws -> String {
        guard text.isIdentifier else { throw error("'\(text)' is not a valid name") }
        return text
    }

    /// `a b x=EXPR y=EXPR`: an expression runs until the next `name=` word.
    private static func parseAssignments(_ text: String, error: (String) -> MagicError) throws -> [Command.Assignment] {
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

// MARK: - Words

/// Whitespace-separated words of a magic line, with access to the raw rest of the line.
struct Words {
    struct Word {
        var text: String
        var start: String.Index
    }

    struct Flag {
        var name: String
        /// The value given as `--flag=value`.
        var value: String?
    }

    private let line: String
    private var position: String.Index

    init(_ line: String) {
        self.line = line
        self.position = line.startIndex
    }

    mutating func next() -> Word? {
        skipSpaces()
        guard position < line.endIndex else { return nil }
        let start = position
        while position < line.endIndex && !line[position].isWhitespace { position = line.index(after: position) }
        return Word(text: String(line[start..<position]), start: start)
    }

    /// The next word if it is a flag (`-x`, `--name`, `--name=value`), without consuming it.
    mutating func peekFlag() -> Flag? {
        var copy = self
        guard let word = copy.next(), word.text.hasPrefix("-"), word.text.count > 1,
            !(word.text.dropFirst().first?.isNumber ?? false)
        else { return nil }
        if let equals = word.text.firstIndex(of: "="), word.text.hasPrefix("--") {
            return Flag(name: String(word.text[..<equals]), value: String(word.text[word.text.index(after: equals)...]))
        }
        return Flag(name: word.text, value: nil)
    }

    /// The value word after a flag.
    mutating func value(for flag: String, _ error: (String) -> MagicError) throws -> String {
        guard let word = next() else { throw error("\(flag) needs a value") }
        return word.text
    }

    /// The unparsed rest of the line, trimmed.
    var rest: String {
        String(line[position...]).trimmingSpaces
    }

    var remainingWords: [String] {
        var copy = self
        var words: [String] = []
        while let word = copy.next() { words.append(word.text) }
        return words
    }

    mutating func expectEnd(_ error: (String) -> MagicError) throws {
        if let extra = next() { throw error("unexpected '\(extra.text)'") }
    }

    private mutating func skipSpaces() {
        while position < line.endIndex && line[position].isWhitespace { position = line.index(after: position) }
    }
}

/// Splits Python-ish text at whitespace outside brackets and quotes: `lambda x: x*x range(10)`
/// is `["lambda", "x:", "x*x", "range(10)"]`, and `f(a, b)` stays one word.
enum TopLevel {
    static func split(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var depth = 0
        var quote: Character?
        var escaped = false
        for character in text {
            if let open = quote {
                current.append(character)
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == open {
                    quote = nil
                }
                continue
            }
            switch character {
            case "'", "\"": quote = character
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth = max(0, depth - 1)
            default: break
            }
            if character.isWhitespace && depth == 0 {
                if !current.isEmpty { words.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}

extension StringProtocol {
    /// Whether the text is a Python identifier (ASCII rules, plus any non-ASCII letter).
    var isIdentifier: Bool {
        guard let first = first, first == "_" || first.isLetter else { return false }
        return allSatisfy { $0 == "_" || $0.isLetter || $0.isNumber }
    }
}
