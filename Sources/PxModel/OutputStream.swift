/// The two output streams of an engine. The raw value is the `op` of a `stream` frame.
public enum OutputStream: UInt8, Sendable {
    case stdout = 1
    case stderr = 2
}
