/// A magic line being parsed: the words after the magic's name, the whole input (a `%%px` cell's
/// code follows its first line), and how to word a usage error.
struct MagicLine {
    let input: String
    var words: Words
    let usageError: (String) -> MagicError
}

// MARK: - One parser per magic

extension MagicParser {
    typealias Parser = @Sendable (inout MagicLine) throws -> Command

    /// Each magic's parser, by the name typed. Every magic in ``MagicCatalog`` has one (a test checks).
    static let parsers: [String: Parser] = [
        "%%px": pxCell, "%px": px, "%pxconfig": pxconfig, "%autopx": autopx, "%pxresult": pxresult,
        "%push": push, "%pull": pull, "%scatter": scatter, "%gather": gather,
        "%map": map, "%apply": apply,
        "%jobs": jobs, "%wait": wait, "%abort": abort, "%result": result, "%timeline": timeline,
        "%engines": engines, "%interrupt": interrupt, "%restart": restart, "%add": add, "%remove": remove,
        "%who": who,
        "%record": record, "%run": run, "%help": help, "%quit": quit, "%exit": quit,
    ]

    // MARK: - Running code

    private static func pxCell(_ line: inout MagicLine) throws -> Command {
        let input = line.input
        guard let newline = input.firstIndex(of: "\n") else { throw line.usageError("the cell has no code") }
        var flagWords = Words(String(input[..<newline]))
        _ = flagWords.next()
        let options = try parsePxFlags(&flagWords, allowCode: false, error: line.usageError)
        return .px(options, code: String(input[input.index(after: newline)...]))
    }

    private static func px(_ line: inout MagicLine) throws -> Command {
        let options = try parsePxFlags(&line.words, allowCode: true, error: line.usageError)
        let code = line.words.rest
        guard !code.isEmpty else { throw line.usageError("no code to run") }
        return .px(options, code: code)
    }

    private static func pxconfig(_ line: inout MagicLine) throws -> Command {
        .pxconfig(try parsePxFlags(&line.words, allowCode: false, error: line.usageError))
    }

    private static func autopx(_ line: inout MagicLine) throws -> Command {
        try line.words.expectEnd(line.usageError)
        return .autopx
    }

    private static func pxresult(_ line: inout MagicLine) throws -> Command {
        .pxresult(name: try optionalName(&line))
    }

    // MARK: - Moving data

    private static func push(_ line: inout MagicLine) throws -> Command {
        let targets = try parseTargetsFlag(&line.words, error: line.usageError)
        let assignments = try parseAssignments(line.words.rest, error: line.usageError)
        guard !assignments.isEmpty else { throw line.usageError("name the values to push") }
        return .push(assignments, targets: targets)
    }

    private static func pull(_ line: inout MagicLine) throws -> Command {
        let targets = try parseTargetsFlag(&line.words, error: line.usageError)
        let names = line.words.remainingWords
        guard !names.isEmpty else { throw line.usageError("name the variables to pull") }
        for name in names where !name.isIdentifier { throw line.usageError("'\(name)' is not a variable name") }
        return .pull(names, targets: targets)
    }

    private static func scatter(_ line: inout MagicLine) throws -> Command {
        let targets = try parseTargetsFlag(&line.words, error: line.usageError)
        guard let name = line.words.next()?.text, name.isIdentifier else { throw line.usageError("name the variable") }
        return .scatter(name: name, expression: line.words.rest, targets: targets)
    }

    private static func gather(_ line: inout MagicLine) throws -> Command {
        let targets = try parseTargetsFlag(&line.words, error: line.usageError)
        guard let name = line.words.next()?.text, name.isIdentifier else { throw line.usageError("name the variable") }
        try line.words.expectEnd(line.usageError)
        return .gather(name: name, targets: targets)
    }

    // MARK: - Load balancing

    private static func map(_ line: inout MagicLine) throws -> Command {
        let usageError = line.usageError
        var options = MapOptions()
        while let flag = line.words.peekFlag() {
            _ = line.words.next()
            if flag.name == "--" { break }
            switch flag.name {
            case "--chunksize":
                let value = try flag.value ?? line.words.value(for: flag.name, usageError)
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
                options.name = try identifier(flag.value ?? line.words.value(for: flag.name, usageError), usageError)
            case "--retries":
                let value = try flag.value ?? line.words.value(for: flag.name, usageError)
                guard let retries = Int(value), retries >= 0 else { throw usageError("--retries takes a number") }
                options.retries = retries
            default: throw usageError("unknown flag \(flag.name)")
            }
        }
        guard TopLevel.split(line.words.rest).count >= 2 else { throw usageError("give a function and a sequence") }
        return .map(options, call: line.words.rest)
    }

    private static func apply(_ line: inout MagicLine) throws -> Command {
        var name: String?
        while let flag = line.words.peekFlag() {
            _ = line.words.next()
            guard flag.name == "-o" || flag.name == "--name" else {
                throw line.usageError("unknown flag \(flag.name)")
            }
            name = try identifier(flag.value ?? line.words.value(for: flag.name, line.usageError), line.usageError)
        }
        guard !line.words.rest.isEmpty else { throw line.usageError("give a function") }
        return .apply(call: line.words.rest, name: name)
    }

    // MARK: - Results

    private static func jobs(_ line: inout MagicLine) throws -> Command {
        try line.words.expectEnd(line.usageError)
        return .jobs
    }

    private static func wait(_ line: inout MagicLine) throws -> Command {
        var name: String?
        var timeout: Double?
        while let word = line.words.next() {
            if word.text.hasPrefix("--timeout") {
                let value =
                    word.text.hasPrefix("--timeout=")
                    ? String(word.text.dropFirst(10)) : try line.words.value(for: "--timeout", line.usageError)
                guard let seconds = Double(value), seconds >= 0 else {
                    throw line.usageError("--timeout takes seconds")
                }
                timeout = seconds
            } else if name == nil {
                name = word.text
            } else {
                throw line.usageError("unexpected '\(word.text)'")
            }
        }
        return .wait(name: name, timeout: timeout)
    }

    private static func abort(_ line: inout MagicLine) throws -> Command {
        .abort(name: try optionalName(&line))
    }

    private static func result(_ line: inout MagicLine) throws -> Command {
        guard let name = line.words.next()?.text else { throw line.usageError("name the result") }
        var storeAs: String?
        if let flag = line.words.next() {
            guard flag.text == "-o" else { throw line.usageError("unexpected '\(flag.text)'") }
            storeAs = try identifier(line.words.value(for: "-o", line.usageError), line.usageError)
        }
        try line.words.expectEnd(line.usageError)
        return .result(name: name, storeAs: storeAs)
    }

    private static func timeline(_ line: inout MagicLine) throws -> Command {
        .timeline(name: try optionalName(&line))
    }

    // MARK: - Engines

    private static func engines(_ line: inout MagicLine) throws -> Command {
        try line.words.expectEnd(line.usageError)
        return .engines
    }

    private static func interrupt(_ line: inout MagicLine) throws -> Command {
        .interrupt(try optionalTargets(line.words.rest, line.usageError))
    }

    private static func restart(_ line: inout MagicLine) throws -> Command {
        var replay = false
        var list = false
        var spec: [String] = []
        for word in line.words.remainingWords {
            if word == "--replay" {
                replay = true
            } else if word == "--list" {
                list = true
            } else {
                spec.append(word)
            }
        }
        if list {
            guard !replay && spec.isEmpty else { throw line.usageError("--list goes alone") }
            return .listSetup
        }
        return .restart(try optionalTargets(spec.joined(), line.usageError), replay: replay)
    }

    private static func add(_ line: inout MagicLine) throws -> Command {
        guard let count = line.words.next().flatMap({ Int($0.text) }), count > 0, count <= 256 else {
            throw line.usageError("give a number of engines (1-256)")
        }
        try line.words.expectEnd(line.usageError)
        return .add(count)
    }

    private static func remove(_ line: inout MagicLine) throws -> Command {
        guard let spec = try optionalTargets(line.words.rest, line.usageError) else {
            throw line.usageError("say which engines")
        }
        return .remove(spec)
    }

    private static func who(_ line: inout MagicLine) throws -> Command {
        .who(try optionalTargets(line.words.rest, line.usageError))
    }

    // MARK: - Files, help, leaving

    private static func record(_ line: inout MagicLine) throws -> Command {
        guard let path = line.words.next()?.text else { throw line.usageError("give a file, or --stop") }
        try line.words.expectEnd(line.usageError)
        return .record(path: path == "--stop" ? nil : path)
    }

    private static func run(_ line: inout MagicLine) throws -> Command {
        let path = line.words.rest
        guard !path.isEmpty else { throw line.usageError("give a file") }
        return .run(path: path)
    }

    private static func help(_ line: inout MagicLine) throws -> Command {
        let name = try optionalName(&line)
        if let name, MagicCatalog.named(name) == nil { throw MagicError("%help: no magic \(name)") }
        return .help(name)
    }

    private static func quit(_ line: inout MagicLine) throws -> Command {
        .quit
    }

    /// One optional word and nothing after it: `%abort [NAME]`.
    private static func optionalName(_ line: inout MagicLine) throws -> String? {
        let name = line.words.next()?.text
        try line.words.expectEnd(line.usageError)
        return name
    }
}
