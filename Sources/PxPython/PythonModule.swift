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
    public init(python: PythonLibrary, name: String, source: String, filename: String) throws {
        self.python = python
        guard let code = python.compileString(source, filename, PythonModule.fileInput) else {
            throw PythonLoadError("cannot compile \(filename): \(python.fetchErrorText())")
        }
        defer { python.decRef(code) }
        guard let module = python.execCodeModule(name, code) else {
            throw PythonLoadError("cannot import \(name): \(python.fetchErrorText())")
        }
        self.module = module
    }

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
