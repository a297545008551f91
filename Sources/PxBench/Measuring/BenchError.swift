/// Why a measurement could not be made. A measurement that fails does not stop the run: its rows say why.
public enum BenchError: Error, CustomStringConvertible, Equatable {
    /// The work was done but its result is not what it must be; a figure for wrong work would be meaningless.
    case wrongResult(String)
    /// Something the benchmark needs is missing, e.g. numpy on the engines.
    case unavailable(String)
    /// The peers could not be installed.
    case installFailed(String)

    public var description: String {
        switch self {
        case .wrongResult(let what): "wrong result: \(what)"
        case .unavailable(let what): what
        case .installFailed(let why): "cannot install the peers: \(why)"
        }
    }

    /// Whether this is a missing optional dependency (numpy, /proc) rather than a failure.
    public var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }
}
