/// One entry of `--hosts user@host[:port][*N],...`: where the ssh launcher starts engines.
public struct SSHHost: Equatable, Sendable, CustomStringConvertible {
    public var user: String?
    public var host: String
    public var port: Int?
    /// How many engines run there.
    public var engines: Int

    public init(user: String? = nil, host: String, port: Int? = nil, engines: Int = 1) {
        self.user = user
        self.host = host
        self.port = port
        self.engines = engines
    }

    /// `user@host` (or `host`), as ssh takes it; an IPv6 address stays bare.
    public var destination: String { (user.map { $0 + "@" } ?? "") + host }

    /// How the user wrote it, without the count: `root@10.0.0.2:2222`.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return (user.map { $0 + "@" } ?? "") + shownHost + (port.map { ":\($0)" } ?? "")
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let entry: String
        public let reason: String
        public var description: String { "bad host '\(entry)' in --hosts: \(reason)" }
    }

    /// Parses a comma-separated list: `node1,root@node2:2222*4,[fe80::1]:22*2`.
    public static func parseList(_ text: String) throws -> [SSHHost] {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingWhitespace()
        }
        guard !text.trimmingWhitespace().isEmpty else {
            throw ParseError(entry: text, reason: "no hosts given (user@host[:port][*N],...)")
        }
        return try entries.map(parse)
    }

    /// Parses one entry: `[user@]host[:port][*N]`, with an IPv6 host in brackets.
    public static func parse(_ entry: String) throws -> SSHHost {
        func fail(_ reason: String) -> ParseError { ParseError(entry: entry, reason: reason) }
        guard !entry.isEmpty else { throw fail("empty entry") }
        var rest = Substring(entry)
        var engines = 1
        if let star = rest.lastIndex(of: "*") {
            guard let count = Int(rest[rest.index(after: star)...]), count >= 1, count <= 256 else {
                throw fail("the count after '*' must be 1 to 256")
            }
            engines = count
            rest = rest[..<star]
        }
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            guard !user!.isEmpty else { throw fail("empty user before '@'") }
            rest = rest[rest.index(after: at)...]
        }
        var host: String
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("no ']' after an IPv6 address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("expected ':PORT' after ']'") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            host = String(rest)
        }
        guard !host.isEmpty else { throw fail("no host name") }
        guard !host.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "'" || $0 == "\"" }), !host.hasPrefix("-")
        else { throw fail("not a host name") }
        if let user, user.hasPrefix("-") || user.contains(where: \.isWhitespace) { throw fail("not a user name") }
        var port: Int?
        if let portText {
            guard let value = Int(portText), value >= 1, value <= 65535 else {
                throw fail("the port must be 1 to 65535")
            }
            port = value
        }
        return SSHHost(user: user, host: host, port: port, engines: engines)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text = text.dropFirst() }
        while text.last?.isWhitespace == true { text = text.dropLast() }
        return String(text)
    }
}
