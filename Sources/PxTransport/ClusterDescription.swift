import PxWire

/// What `cluster.json` says about a named cluster: who runs it, how many engines it started with,
/// which Python they run and since when.
public struct ClusterDescription: Equatable, Sendable {
    public var name: String
    /// The controller's pid.
    public var pid: Int32
    /// The number of engines it started with.
    public var engines: Int
    public var python: String
    /// Seconds since the epoch.
    public var created: Int

    public init(name: String, pid: Int32, engines: Int, python: String, created: Int) {
        self.name = name
        self.pid = pid
        self.engines = engines
        self.python = python
        self.created = created
    }

    /// A JSON document that is not a cluster description: which member is missing or of the wrong kind.
    public struct Invalid: Error, CustomStringConvertible {
        public var member: String
        public var description: String { "the cluster description has no valid \"\(member)\"" }
    }

    // MARK: - JSON

    /// The description as `cluster.json` holds it.
    public var json: JSONValue {
        .object([
            ("name", .string(name)), ("pid", .integer(Int(pid))), ("engines", .integer(engines)),
            ("python", .string(python)), ("created", .integer(created)),
        ])
    }

    /// Reads a description; members it does not know are ignored, so later versions may add some.
    public init(json: JSONValue) throws {
        func member<T>(_ key: String, _ value: (JSONValue) -> T?) throws -> T {
            guard let found = json[key].flatMap(value) else { throw Invalid(member: key) }
            return found
        }
        self.init(
            name: try member("name", \.stringValue),
            pid: try member("pid") { $0.integerValue.flatMap { Int32(exactly: $0) } },
            engines: try member("engines", \.integerValue),
            python: try member("python", \.stringValue),
            created: try member("created", \.integerValue)
        )
    }
}
