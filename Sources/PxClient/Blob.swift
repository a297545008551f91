import PxWire

/// A pickled Python value as the engine runtime sends it: a count, then that many segments
/// (the pickle and its out-of-band buffers). Swift moves blobs between engines without decoding them.
public enum Blob {
    /// The blob that starts at `index`, and the index after it; nil if the segments are malformed.
    public static func read(_ segments: [Bytes], at index: Int) -> (blob: [Bytes], next: Int)? {
        guard index < segments.count, let count = Int(segments[index].text), count >= 1,
            index + 1 + count <= segments.count
        else { return nil }
        return (Array(segments[index...index + count]), index + 1 + count)
    }

    /// All consecutive blobs from `index` to the end.
    public static func readAll(_ segments: [Bytes], from index: Int) -> [[Bytes]]? {
        var blobs: [[Bytes]] = []
        var position = index
        while position < segments.count {
            guard let (blob, next) = read(segments, at: position) else { return nil }
            blobs.append(blob)
            position = next
        }
        return blobs
    }
}
