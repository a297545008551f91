/// The first frame of every connection: who the peer is and which protocol it speaks.
///
/// Segments: `["pxsh", version, role, field...]`. An engine's fields are its id, rank and pid.
public struct Hello: Equatable, Sendable {
    public enum Role: String, Sendable {
        case client, engine
    }

    /// The protocol version this build speaks. A peer with another version is refused.
    public static let protocolVersion = 1
    static let magic = "pxsh"

    public var version: Int
    public var role: Role
    public var fields: [String]

    public init(role: Role, fields: [String] = [], version: Int = Hello.protocolVersion) {
        self.version = version
        self.role = role
        self.fields = fields
    }

    public var frame: Frame {
        let texts = [Hello.magic, String(version), role.rawValue] + fields
        return Frame(kind: .hello, segments: texts.map { Bytes(text: $0) })
    }

    /// Reads a hello frame; nil when it is not one (wrong kind, magic or shape).
    public init?(_ frame: Frame) {
        guard frame.kind == .hello, frame.segments.count >= 3, frame.segments[0].text == Hello.magic,
            let version = Int(frame.segments[1].text), let role = Role(rawValue: frame.segments[2].text)
        else { return nil }
        self.init(role: role, fields: frame.segments.dropFirst(3).map(\.text), version: version)
    }
}
