/// The systems that do the benchmark's work: pxsh itself and the peers it is compared with.
public enum BenchSystem: String, CaseIterable, Sendable {
    case pxsh
    case ipyparallel
    case multiprocessing

    /// The peers, in the order their columns appear.
    public static let peers: [BenchSystem] = [.ipyparallel, .multiprocessing]

    /// The column heading.
    public var displayName: String {
        switch self {
        case .pxsh: "pxsh"
        case .ipyparallel: "ipyparallel"
        case .multiprocessing: "multiprocessing"
        }
    }
}
