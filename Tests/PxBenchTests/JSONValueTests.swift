import Foundation
import Testing

@testable import PxBench

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

/// Parses with Foundation's parser, which the benchmark itself does without: an independent check.
func parse(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}
