import CLibEdit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A history file in libedit's own format, read and written through a libedit `History` of its own.
///
/// The format is libedit's: a `_HiStOrY_V2_` line, then one entry per line, oldest first, encoded with
/// `strvis(3)` so that an entry holding newlines (a multi-line cell) still takes one line. Letting libedit do the
/// encoding keeps the file readable by any libedit program.
///
/// Several sessions may share one file: each appends its entries as they are entered, so none overwrites the
/// others' entries, and the file is trimmed back to the limit from time to time by rewriting it.
struct HistoryFile {
    /// Why a history file could not be written.
    enum WriteError: Error {
        case cannotOpen(errno: Int32)
        case cannotWrite(errno: Int32)
    }

    /// The file's path as given by the user of `LineEditor`.
    let path: String

    /// What a history file holds.
    enum Contents: Equatable {
        /// There is no file, or it is empty.
        case missing
        /// The file exists but cannot be read, or is not in libedit's format: it must not be overwritten.
        case unreadable
        /// The newest entries, oldest first, and the number of entries in the file, which is larger than the
        /// number of entries when the file has outgrown the limit.
        case entries([String], countInFile: Int)
    }

    /// Reads the newest `limit` entries of the file.
    func load(limit: Int) -> Contents {
        var status = stat()
        guard stat(path, &status) == 0, status.st_size > 0 else { return .missing }
        return Self.withScratchHistory(size: limit) { history in
            let countInFile = clibedit_history_load(history, path)
            guard countInFile >= 0 else { return .unreadable }
            var entries: [String] = []
            var entry = clibedit_history_oldest(history)
            while let text = entry {
                entries.append(String(cString: text))
                entry = clibedit_history_newer(history)
            }
            return .entries(entries, countInFile: Int(countInFile))
        }
    }

    /// Appends one entry at the end of the file, creating the file if needed.
    ///
    /// The entry reaches the file with a single `write(2)` in append mode (stdio flushes a small entry at once),
    /// so sessions appending to the same file at the same time do not interleave their entries.
    func append(_ entry: String) throws(WriteError) {
        guard let file = fopen(path, "a") else { throw .cannotOpen(errno: errno) }
        // In append mode the position is only known after a seek; libedit writes its header when `ftell` is 0.
        fseek(file, 0, SEEK_END)
        try Self.write([entry], to: file)
    }

    /// Replaces the file's content with `entries`, oldest first.
    ///
    /// The entries go to a temporary file in the same directory, which is then renamed over the file, so a crash
    /// never leaves a truncated history. A symbolic link is followed, not replaced.
    func replaceContents(with entries: [String]) throws(WriteError) {
        let target = Self.resolvingSymbolicLinks(path)
        var template = Array((target + ".XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw .cannotOpen(errno: errno) }
        let temporaryPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        guard let file = fdopen(descriptor, "w") else {
            let error = errno
            close(descriptor)
            unlink(temporaryPath)
            throw .cannotOpen(errno: error)
        }
        do {
            try Self.write(entries, to: file)
        } catch {
            unlink(temporaryPath)
            throw error
        }
        guard rename(temporaryPath, target) == 0 else {
            let error = errno
            unlink(temporaryPath)
            throw .cannotWrite(errno: error)
        }
    }

    // MARK: - libedit

    /// Writes `entries` to `file` in libedit's format and closes `file`, which this takes ownership of.
    private static func write(_ entries: [String], to file: UnsafeMutablePointer<FILE>) throws(WriteError) {
        let written = withScratchHistory(size: max(entries.count, 1)) { history in
            for entry in entries {
                clibedit_history_enter(history, entry)
            }
            return clibedit_history_save_to_file(history, file)
        }
        let writeError = errno
        // fclose flushes stdio's buffer: a full disk shows up here, not in the save.
        let closed = fclose(file)
        if written < 0 {
            throw .cannotWrite(errno: writeError)
        }
        if closed != 0 {
            throw .cannotWrite(errno: errno)
        }
    }

    /// Runs `body` with an empty libedit `History` that keeps at most `size` entries, and frees it afterwards.
    private static func withScratchHistory<Result>(size: Int, _ body: (OpaquePointer) -> Result) -> Result {
        guard let history = history_init() else {
            fatalError("libedit's history_init() failed: out of memory")
        }
        defer { history_end(history) }
        clibedit_history_set_size(history, Int32(clamping: size))
        return body(history)
    }

    /// Returns the path a symbolic link at `path` points to, or `path` itself.
    private static func resolvingSymbolicLinks(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
