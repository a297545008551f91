/// Well-known engine numbers in frame headers.
public enum EngineNumber {
    /// The home engine, which holds the local namespace. Never part of `all`.
    public static let home: Int32 = -1
    /// No engine: the frame is about the cluster as a whole.
    public static let none: Int32 = -2
}
