/// A Python module that pxsh loaded from source, and calls with bytes in and bytes out.
///
/// This is the whole boundary between Swift and Python: arguments are a list of `bytes`, results a
/// list of `bytes`; everything else happens in the module itself.
public final class PythonModule: @unchecked Sendable {
    private let python: PythonLibrary
    private let module: PyObjectPointer

    /// CPython's `Py_file_input`: compile a whole module.
    static let fileInput: Int32 = 257

    /// Compiles `source` and imports it as the module `name`.
    ///
    /// - Parameter cacheDirectory: a private directory where the compiled code is kept for the next
    ///   start, by the source's hash and the Python's bytecode version; nil to compile every time.
    public init(
        python: PythonLibrary,
        name: String,
        source: String,
        filename: String,
        cacheDirectory: String? = nil
    ) throws {
        self.python = python
        let cached = cacheDirectory.flatMap {
            PythonModule.cachedCode(python, source: source, filename: filename, directory: $0)
        }
        guard let code = cached ?? python.compileString(source, filename, PythonModule.fileInput) else {
            throw PythonLoadError("cannot compile \(filename): \(python.fetchErrorText())")
        }
        defer { python.decRef(code) }
        guard let module = python.execCodeModule(name, code) else {
            throw PythonLoadError("cannot import \(name): \(python.fetchErrorText())")
        }
        self.module = module
    }

    /// Loads the compiled code of `source` kept in `directory`, or compiles it and keeps it there.
    /// Compiling pxsh's runtime took 76 M of the 230 M instructions of a zygote's start, on the way
    /// to every cluster's first engine. Nil (no Python error left set) if that failed.
    private static func cachedCode(
        _ python: PythonLibrary,
        source: String,
        filename: String,
        directory: String
    ) -> PyObjectPointer? {
        guard let code = python.compileString(loader, "<pxsh-loader>", fileInput) else {
            python.errClear()
            return nil
        }
        defer { python.decRef(code) }
        guard let module = python.execCodeModule("_pxsh_loader", code) else {
            python.errClear()
            return nil
        }
        defer { python.decRef(module) }
        guard let load = python.objectGetAttrString(module, "load") else {
            python.errClear()
            return nil
        }
        defer { python.decRef(load) }
        // FNV-1a: the file is named after the source, so that each pxsh version has its own.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in source.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let path = directory + "/" + String(hash, radix: 16) + ".code"
        let arguments = python.tupleNew(3)
        defer { python.decRef(arguments) }
        for (index, text) in [source, filename, path].enumerated() {
            var text = text
            let bytes = text.withUTF8 { buffer in
                buffer.withMemoryRebound(to: CChar.self) { python.bytesFromStringAndSize($0.baseAddress, $0.count) }
            }
            _ = python.tupleSetItem(arguments, index, bytes)  // Steals the reference.
        }
        guard let loaded = python.objectCallObject(load, arguments) else {
            python.errClear()
            return nil
        }
        return loaded
    }

    /// `load(source, filename, path)`: the code kept at `path` if this Python wrote it (its bytecode's
    /// magic number comes first, as in a `.pyc`), else `source` compiled and written there (atomically,
    /// as another engine may be doing the same). Any failure to read or write only costs a compile.
    static let loader = """
        import marshal, os, _frozen_importlib_external
        def load(source, filename, path):
            magic = _frozen_importlib_external.MAGIC_NUMBER
            try:
                with open(path, "rb") as file:
                    data = file.read()
                if data.startswith(magic):
                    return marshal.loads(data[len(magic):])
            except Exception:
                pass
            code = compile(source, filename.decode(), "exec", dont_inherit=True)
            try:
                temporary = path + b".%d" % os.getpid()
                with open(temporary, "wb") as file:
                    file.write(magic + marshal.dumps(code))
                os.replace(temporary, path)
            except OSError:
                pass
            return code
        """

    /// Looks up a function of the module.
    public func function(_ name: String) throws -> PythonFunction {
        guard let function = python.objectGetAttrString(module, name) else {
            throw PythonLoadError("the runtime has no \(name): \(python.fetchErrorText())")
        }
        return PythonFunction(python: python, object: function)
    }
}

/// A callable of a ``PythonModule``.
public struct PythonFunction: @unchecked Sendable {
    let python: PythonLibrary
    let object: PyObjectPointer

    /// Calls it with integer arguments; the result is discarded.
    public func call(integers: [Int]) throws {
        let arguments = python.tupleNew(integers.count)
        for (index, value) in integers.enumerated() {
            _ = python.tupleSetItem(arguments, index, python.longFromLong(value))
        }
        defer { python.decRef(arguments) }
        guard let result = python.objectCallObject(object, arguments) else {
            throw PythonLoadError(python.fetchErrorText())
        }
        python.decRef(result)
    }

    /// Calls `f(op, [bytes...])`, which returns a list of bytes.
    ///
    /// - Returns: the segments, or nil if the call raised (the error is cleared) or returned something else.
    public func call(op: Int, segments: [[UInt8]]) -> [[UInt8]]? {
        let list = python.listNew(segments.count)
        for (index, segment) in segments.enumerated() {
            let bytes = segment.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { python.bytesFromStringAndSize($0.baseAddress, $0.count) }
            }
            _ = python.listSetItem(list, index, bytes)  // Steals the reference.
        }
        let arguments = python.tupleNew(2)
        _ = python.tupleSetItem(arguments, 0, python.longFromLong(op))
        _ = python.tupleSetItem(arguments, 1, list)
        defer { python.decRef(arguments) }
        guard let result = python.objectCallObject(object, arguments) else {
            python.errClear()
            return nil
        }
        defer { python.decRef(result) }
        let count = python.listSize(result)
        guard count >= 0 else {
            python.errClear()
            return nil
        }
        var segments: [[UInt8]] = []
        segments.reserveCapacity(count)
        for index in 0..<count {
            var pointer: UnsafeMutablePointer<CChar>?
            var length = 0
            guard let item = python.listGetItem(result, index),  // Borrowed.
                python.bytesAsStringAndSize(item, &pointer, &length) == 0, let pointer
            else {
                python.errClear()
                return nil
            }
            segments.append(
                [UInt8](UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer), count: length))
            )
        }
        return segments
    }
}

extension PythonLibrary {
    /// Prints the pending Python error to stderr (the engine's log) and returns a short summary.
    func fetchErrorText() -> String {
        guard errOccurred() != nil else { return "unknown error" }
        errPrint()
        return "see the engine log for the Python traceback"
    }
}
