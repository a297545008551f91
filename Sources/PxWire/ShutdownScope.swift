/// What a `shutdown` frame to an engine says in its first segment: whether the engine goes alone
/// (`%remove`) or with the whole cluster (no segment). An engine that is a rank of an MPI job cannot
/// finish MPI alone, so it needs to know.
public enum ShutdownScope {
    public static let alone = Bytes(text: "alone")
}
