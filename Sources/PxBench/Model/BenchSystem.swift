/// The systems that do the benchmark's work: pxsh itself and the peers it is compared with.
public enum BenchSystem: String, CaseIterable, Sendable {
    case pxsh
    case ipyparallel
    case multiprocessing
    case concurrentFutures = "concurrent.futures"
    case loky
    case dask

    /// The peers, in the order their columns appear.
    public static let peers: [BenchSystem] = [.ipyparallel, .multiprocessing, .concurrentFutures, .loky, .dask]

    /// The column heading.
    public var displayName: String {
        switch self {
        case .pxsh: "pxsh"
        case .ipyparallel: "ipyparallel"
        case .multiprocessing: "multiprocessing"
        case .concurrentFutures: "concurrent.futures"
        case .loky: "loky"
        case .dask: "dask.distributed"
        }
    }
}
