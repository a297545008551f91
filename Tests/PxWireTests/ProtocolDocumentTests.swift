import Foundation
import Testing

@testable import PxWire

/// The example frames of docs/PROTOCOL.md, which the Python client's tests check too.
@Suite struct ProtocolDocumentTests {
    struct Example {
        var frame: Frame
        var bytes: Bytes
    }

    static func examples() throws -> [Example] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/PROTOCOL.md").standardizedFileURL.path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var examples: [Example] = []
        for block in text.components(separatedBy: "```frame\n").dropFirst() {
            let body = block.components(separatedBy: "```").first ?? ""
            var fields: [String: String] = [:]
            for line in body.split(separator: "\n") {
                if line.hasPrefix("segments=") || line.hasPrefix("bytes=") {
                    let parts = line.split(separator: "=", maxSplits: 1)
                    fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
                } else {
                    for pair in line.split(separator: " ") {
                        let parts = pair.split(separator: "=", maxSplits: 1)
                        if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
                    }
                }
            }
            let segments = (fields["segments"] ?? "").split(separator: " ").map { $0 == "-" ? Bytes() : hex($0) }
            let frame = Frame(
                kind: try #require(MessageKind(rawValue: UInt8(fields["kind"] ?? "") ?? 0)),
                op: try #require(UInt8(fields["op"] ?? "")),
                flags: FrameFlags(rawValue: try #require(UInt16(fields["flags"] ?? ""))),
                engine: try #require(Int32(fields["engine"] ?? "")),
                id: try #require(UInt64(fields["id"] ?? "")),
                segments: segments
            )
            examples.append(Example(frame: frame, bytes: hex(Substring(fields["bytes"] ?? ""))))
        }
        return examples
    }

    static func hex(_ text: Substring) -> Bytes {
        var bytes = Bytes()
        var index = text.startIndex
        while index < text.endIndex, let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) {
            bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    @Test func theDocumentHasExamples() throws {
        #expect(try Self.examples().count >= 10)
    }

    @Test func encodingGivesTheDocumentedBytes() throws {
        for example in try Self.examples() {
            #expect(FrameEncoder.encode(example.frame) == example.bytes, "\(example.frame.kind)")
        }
    }

    @Test func decodingTheBytesGivesTheFields() throws {
        for example in try Self.examples() {
            var decoder = FrameDecoder()
            decoder.feed(example.bytes)
            #expect(try decoder.nextFrame() == example.frame)
        }
    }

    @Test func theSubmissionsParse() throws {
        let submissions = try Self.examples().compactMap { Submission($0.frame) }
        #expect(submissions.count == 2)
        #expect(submissions[0].targets == [0, 1] && submissions[0].shared == [Bytes(text: "x = 1")])
        #expect(submissions[1].isBalanced && submissions[1].retries == 2 && submissions[1].perTask.count == 1)
        #expect(submissions[1].op == .call)
    }
}
