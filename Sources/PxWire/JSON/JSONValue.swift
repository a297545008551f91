/// A JSON document, written by hand so that the benchmark needs no Foundation.
///
/// Objects keep their keys in the order given, so that the output reads in the order of the table.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case integer(Int)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// A number, or null when it is not finite (JSON has no NaN or infinity).
    public static func finite(_ value: Double?) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        return .number(value)
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    // MARK: - Writing

    /// The document as text, indented by two spaces per level, without a trailing newline.
    public var text: String {
        var output = ""
        write(to: &output, indent: "")
        return output
    }

    private func write(to output: inout String, indent: String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        // Swift's shortest round-trip form ("0.1", "1e-05", "2.5e+16") is valid JSON for finite numbers.
        case .number(let value): output += value.isFinite ? "\(value)" : "null"
        case .integer(let value): output += String(value)
        case .string(let value): JSONValue.writeString(value, to: &output)
        case .array(let items):
            guard !items.isEmpty else {
                output += "[]"
                return
            }
            let inner = indent + "  "
            output += "["
            for (index, item) in items.enumerated() {
                output += (index == 0 ? "\n" : ",\n") + inner
                item.write(to: &output, indent: inner)
            }
            output += "\n" + indent + "]"
        case .object(let members):
            guard !members.isEmpty else {
                output += "{}"
                return
            }
            let inner = indent + "  "
            output += "{"
            for (index, (key, value)) in members.enumerated() {
                output += (index == 0 ? "\n" : ",\n") + inner
                JSONValue.writeString(key, to: &output)
                output += ": "
                value.write(to: &output, indent: inner)
            }
            output += "\n" + indent + "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped (RFC 8259, section 7).
    private static func writeString(_ value: String, to output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
