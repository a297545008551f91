import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// Large buffers travel as files in the cluster's shared-memory directory; a segment then holds
/// a marker and the file's path (see `pxsh_runtime.py`). Whoever finishes a transfer removes them.
enum SharedMemoryFiles {
    static let marker = Bytes(text: "\u{0}pxsh-shared-memory\u{0}")

    /// Removes the files that `segments` refer to. The receivers have mapped them by then, and a
    /// mapping outlives its file's name.
    static func release(_ segments: [Bytes]) {
        for segment in segments where segment.count > marker.count && segment.starts(with: marker) {
            unlink(String(decoding: segment[marker.count...], as: UTF8.self))
        }
    }

    /// Removes the files of every task's reply in `result`.
    static func release(_ result: AsyncResult) {
        for task in result.tasks { release(task.reply ?? []) }
    }
}
