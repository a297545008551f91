import Foundation
import Testing

@testable import PxWire

@Suite struct JSONValueTests {
    @Test func escapesStringsAsRFC8259Requires() throws {
        let value = JSONValue.object([("k\"ey", .string("a\\b\n\t\u{01}é\"µ"))])
        let parsed = try #require(try parse(value.text) as? [String: String])
        #expect(parsed == ["k\"ey": "a\\b\n\t\u{01}é\"µ"])
    }

    @Test func writesNumbersThatParseBack() throws {
        let numbers: [Double] = [0, 0.1, 1e-5, 123_456_789.5, 2.5e16, -3]
        let text = JSONValue.array(numbers.map(JSONValue.number)).text
        let parsed = try #require(try parse(text) as? [Double])
        #expect(parsed == numbers)
    }

    @Test func nonFiniteNumbersBecomeNull() {
        #expect(JSONValue.finite(.nan) == .null)
        #expect(JSONValue.finite(.infinity) == .null)
        #expect(JSONValue.finite(nil) == .null)
        #expect(JSONValue.number(.nan).text == "null")
    }

    @Test func emptyContainersAndNesting() throws {
        let value = JSONValue.object([
            ("a", .array([])), ("b", .object([])), ("c", .array([.integer(1), .bool(false), .null])),
        ])
        let parsed = try #require(try parse(value.text) as? [String: Any])
        #expect(parsed.keys.sorted() == ["a", "b", "c"])
    }
}

// MARK: - Reading

@Suite struct JSONParsingTests {
    @Test func readsWhatItWrites() throws {
        let value = JSONValue.object([
            ("name", .string("a \"quoted\" \\ name\n\u{01}é😀")), ("pid", .integer(-42)), ("ratio", .number(0.25)),
            ("list", .array([.bool(true), .bool(false), .null, .object([])])), ("empty", .array([])),
        ])
        #expect(try JSONValue(parsing: value.text) == value)
    }

    @Test(arguments: [
        (
            #"{"a": 1, "b": [2, 3.5e2], "c": "x"}"#,
            JSONValue.object([
                ("a", .integer(1)), ("b", .array([.integer(2), .number(350)])), ("c", .string("x")),
            ])
        ),
        (#"  "\u00e9\ud83d\ude00\/\b\f"  "#, .string("é😀/\u{08}\u{0C}")),
        ("-0.5", .number(-0.5)),
        ("[ ]", .array([])),
    ])
    func readsStandardJSON(text: String, expected: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == expected)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "{1: 2}", "tru", "\"open", "\"bad \\x escape\"", "1 2", "[1] x", "01x",
        "\"\u{01}\"", String(repeating: "[", count: 10_000),
    ])
    func refusesMalformedText(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func looksUpMembers() throws {
        let value = try JSONValue(parsing: #"{"name": "c1", "pid": 12, "n": 2.0}"#)
        #expect(value["name"]?.stringValue == "c1")
        #expect(value["pid"]?.integerValue == 12)
        #expect(value["n"]?.integerValue == 2)
        #expect(value["missing"] == nil)
        #expect(value["name"]?.integerValue == nil)
    }
}

/// Parses with Foundation's parser, which the benchmark itself does without: an independent check.
func parse(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}
