import CPxSys

#if canImport(Glibc)
import Glibc
#endif

/// Addresses of this host, for telling engines on other hosts where to connect.
public enum HostAddress {
    /// Whether `address` is the wildcard of IPv4 or IPv6 (`0.0.0.0`, `::`): a listener there takes
    /// connections at every address of the host, but no other host can connect to it.
    public static func isWildcard(_ address: String) -> Bool {
        var bytes = [UInt8](repeating: 0xff, count: 16)
        for family in [AF_INET, AF_INET6] where inet_pton(family, address, &bytes) == 1 {
            return bytes.prefix(family == AF_INET ? 4 : 16).allSatisfy { $0 == 0 }
        }
        return false
    }

    /// Where other hosts most likely reach a listener on `address`: the address itself, unless it is a
    /// wildcard; then the address of the interface of the default route (for `::` IPv6's, else IPv4's),
    /// else the first non-loopback address of an interface that is up, else the loopback address.
    public static func reachable(listeningOn address: String) -> String {
        guard isWildcard(address) else { return address }
        // Documentation addresses (RFC 5737, 3849), which no network has a route of its own to: the
        // kernel picks the default route for them.
        let probes = address.contains(":") ? ["2001:db8::1", "203.0.113.1"] : ["203.0.113.1"]
        for probe in probes {
            if let source = text({ pxsys_route_source_address(probe, $0, $1) }) { return source }
        }
        return text { pxsys_first_interface_address($0, $1) } ?? (address.contains(":") ? "::1" : "127.0.0.1")
    }

    /// The NUL-terminated text that `fill` writes into a buffer; nil when it fails.
    private static func text(_ fill: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        guard fill(&buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
