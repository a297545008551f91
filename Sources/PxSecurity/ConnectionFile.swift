import Foundation
import PxWire

/// What an engine needs to join a cluster over TCP: `pxsh cluster connection --name NAME` prints it,
/// `pxsh engine --connection-file FILE|-` reads it. It holds the key: keep it private (mode 0600).
///
/// ```json
/// {"pxsh_connection": 1, "cluster": "8f3c...", "name": "demo", "address": "10.1.0.1", "port": 40123, "key": "64 hex digits"}
/// ```
/// docs/CONNECTION_FILE.md describes each field.
public struct ConnectionFile: Equatable, Sendable {
    public static let formatVersion = 1

    /// The cluster's id, made with it: an engine of another cluster (or an older one of the same
    /// name) is refused before it proves anything.
    public var cluster: String
    /// The cluster's name, for messages; "" for a private cluster.
    public var name: String
    /// Where the controller listens for engines.
    public var address: String
    public var port: Int
    public var key: ClusterKey

    public init(cluster: String, name: String, address: String, port: Int, key: ClusterKey) {
        self.cluster = cluster
        self.name = name
        self.address = address
        self.port = port
        self.key = key
    }

    /// Why a connection file cannot be used.
    public struct Invalid: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { "invalid connection file: \(reason)" }
    }

    /// Reads the JSON form.
    ///
    /// - Throws: ``Invalid`` naming the missing or wrong field.
    public init(json: Bytes) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)), let fields = object as? [String: Any]
        else { throw Invalid(reason: "not a JSON object") }
        guard let version = fields["pxsh_connection"] as? Int else {
            throw Invalid(reason: "no \"pxsh_connection\" version")
        }
        guard version == ConnectionFile.formatVersion else {
            throw Invalid(reason: "format version \(version) is not \(ConnectionFile.formatVersion)")
        }
        guard let cluster = fields["cluster"] as? String, !cluster.isEmpty else {
            throw Invalid(reason: "no \"cluster\"")
        }
        guard let address = fields["address"] as? String, !address.isEmpty else {
            throw Invalid(reason: "no \"address\"")
        }
        guard let port = fields["port"] as? Int, (1...65535).contains(port) else {
            throw Invalid(reason: "no valid \"port\"")
        }
        guard let hex = fields["key"] as? String, let key = ClusterKey(hex: hex) else {
            throw Invalid(reason: "\"key\" is not 64 hex digits")
        }
        self.init(cluster: cluster, name: fields["name"] as? String ?? "", address: address, port: port, key: key)
    }

    /// The JSON form, one line and a newline.
    public var json: String {
        let fields: [(String, String)] = [
            ("pxsh_connection", String(ConnectionFile.formatVersion)), ("cluster", quoted(cluster)),
            ("name", quoted(name)), ("address", quoted(address)), ("port", String(port)), ("key", quoted(key.hex)),
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}\n"
    }

    private func quoted(_ text: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
        let array = data.map { String(decoding: $0, as: UTF8.self) } ?? "[\"\"]"
        return String(array.dropFirst().dropLast())
    }

    /// A new random cluster id: 16 hex digits.
    public static func makeClusterID() -> String {
        Hex.encode(Array(KeyExchange.randomNonce().prefix(8)))
    }
}
