/// A JSON text that does not parse: what was wrong and at which byte.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public var offset: Int

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

// MARK: - Reading

extension JSONValue {
    /// Parses a JSON text (RFC 8259). Integers that fit an `Int` become ``integer(_:)``, other numbers
    /// ``number(_:)``; objects keep their keys in the order written.
    ///
    /// - Throws: ``JSONParseError`` for anything that is not exactly one JSON value, with white space around it.
    public init(parsing text: String) throws {
        var parser = JSONParser(bytes: Array(text.utf8))
        self = try parser.parseDocument()
    }

    /// The member `key` of an object; nil for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, if this is one (or a number without a fractional part).
    public var integerValue: Int? {
        switch self {
        case .integer(let value): value
        case .number(let value) where value.rounded() == value && abs(value) < 9e15: Int(value)
        default: nil
        }
    }
}

/// A recursive-descent parser over UTF-8 bytes. Nesting is bounded, so hostile input cannot
/// exhaust the stack.
private struct JSONParser {
    let bytes: [UInt8]
    var position = 0
    var depth = 0
    static let maximumDepth = 512

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws -> JSONValue {
        let value = try parseValue()
        skipWhiteSpace()
        guard position == bytes.count else { throw failure("unexpected text after the value") }
        return value
    }

    private func failure(_ reason: String) -> JSONParseError {
        JSONParseError(reason: reason, offset: position)
    }

    private mutating func skipWhiteSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private mutating func parseValue() throws -> JSONValue {
        skipWhiteSpace()
        guard position < bytes.count else { throw failure("unexpected end") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try nested { try $0.parseObject() }
        case UInt8(ascii: "["): return try nested { try $0.parseArray() }
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try parseLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return try parseLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return try parseLiteral("null", .null)
        default: return try parseNumber()
        }
    }

    private mutating func nested(_ body: (inout JSONParser) throws -> JSONValue) throws -> JSONValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= JSONParser.maximumDepth else { throw failure("nested too deeply") }
        return try body(&self)
    }

    private mutating func expect(_ byte: Character) throws {
        skipWhiteSpace()
        guard position < bytes.count, bytes[position] == byte.asciiValue! else { throw failure("expected '\(byte)'") }
        position += 1
    }

    /// Consumes `byte` (after white space) if it is next.
    private mutating func consume(_ byte: Character) -> Bool {
        skipWhiteSpace()
        guard position < bytes.count, bytes[position] == byte.asciiValue! else { return false }
        position += 1
        return true
    }

    private mutating func parseObject() throws -> JSONValue {
        try expect("{")
        var members: [(String, JSONValue)] = []
        if consume("}") { return .object(members) }
        repeat {
            skipWhiteSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a key") }
            let key = try parseString()
            try expect(":")
            members.append((key, try parseValue()))
        } while consume(",")
        try expect("}")
        return .object(members)
    }

    private mutating func parseArray() throws -> JSONValue {
        try expect("[")
        var items: [JSONValue] = []
        if consume("]") { return .array(items) }
        repeat {
            items.append(try parseValue())
        } while consume(",")
        try expect("]")
        return .array(items)
    }

    private mutating func parseLiteral(_ word: String, _ value: JSONValue) throws -> JSONValue {
        let utf8 = Array(word.utf8)
        guard bytes.count - position >= utf8.count, Array(bytes[position..<position + utf8.count]) == utf8 else {
            throw failure("unexpected character")
        }
        position += utf8.count
        return value
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = position
        var isInteger = true
        if position < bytes.count && bytes[position] == UInt8(ascii: "-") { position += 1 }
        let digitsStart = position
        // Swift's own parsers below judge the form; this only finds where the number ends.
        while position < bytes.count {
            let byte = bytes[position]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                position += 1
            } else if "+-.eE".utf8.contains(byte) {
                isInteger = false
                position += 1
            } else {
                break
            }
        }
        guard position > digitsStart else { throw failure("unexpected character") }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger, let value = Int(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else { throw failure("invalid number '\(text)'") }
        return .number(value)
    }

    private mutating func parseString() throws -> String {
        position += 1  // The opening quote.
        var scalars = String.UnicodeScalarView()
        var chunkStart = position
        func flushChunk(_ parser: JSONParser) {
            let chunk = String(decoding: parser.bytes[chunkStart..<parser.position], as: UTF8.self)
            scalars.append(contentsOf: chunk.unicodeScalars)
        }
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                flushChunk(self)
                position += 1
                return String(scalars)
            }
            if byte < 0x20 { throw failure("control character in a string") }
            if byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            flushChunk(self)
            position += 1
            guard position < bytes.count else { break }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"): scalars.append(try parseUnicodeEscape())
            default: throw failure("invalid escape")
            }
            chunkStart = position
        }
        throw failure("unterminated string")
    }

    /// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`; a lone surrogate becomes U+FFFD.
    private mutating func parseUnicodeEscape() throws -> Unicode.Scalar {
        let high = try parseHex4()
        if (0xD800..<0xDC00).contains(high), bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
            bytes[position + 1] == UInt8(ascii: "u")
        {
            let saved = position
            position += 2
            let low = try parseHex4()
            if (0xDC00..<0xE000).contains(low) {
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
            }
            position = saved
        }
        return Unicode.Scalar(high) ?? "\u{FFFD}"
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard bytes.count - position >= 4,
            let value = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
        else { throw failure("invalid \\u escape") }
        position += 4
        return value
    }
}
