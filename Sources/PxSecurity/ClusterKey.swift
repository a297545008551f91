@preconcurrency import Crypto
import PxWire

/// The secret that TCP peers of one cluster share: 32 random bytes, made when the cluster starts.
///
/// It lives in a 0600 file in the cluster's directory and in the connection file, as 64 hex digits.
/// It is never put on a command line or in an environment, where `ps` would show it.
public struct ClusterKey: Equatable, Sendable {
    public static let byteCount = 32

    public let bytes: Bytes

    /// A key from exactly ``byteCount`` bytes; nil for any other length.
    public init?(bytes: Bytes) {
        guard bytes.count == ClusterKey.byteCount else { return nil }
        self.bytes = bytes
    }

    /// A new key from the system's cryptographic random source.
    public static func random() -> ClusterKey {
        let key = SymmetricKey(size: .bits256)
        return ClusterKey(bytes: key.withUnsafeBytes { Bytes($0) })!
    }

    /// The key as 64 lowercase hex digits.
    public var hex: String { Hex.encode(bytes) }

    /// Reads 64 hex digits (surrounding white space is ignored); nil for anything else.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex.trimmingWhiteSpace), let key = ClusterKey(bytes: bytes) else { return nil }
        self = key
    }

    var symmetricKey: SymmetricKey { SymmetricKey(data: bytes) }
}

// MARK: - Hex

enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: Bytes) -> String {
        var text = Bytes()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func decode(_ text: String) -> Bytes? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = Bytes()
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(of: utf8[index]), let low = value(of: utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    var trimmingWhiteSpace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
