#if canImport(Glibc)
import Glibc
#endif

/// A `PyObject *`. Python's objects stay opaque to Swift.
public typealias PyObjectPointer = OpaquePointer

/// Why CPython could not be loaded or started.
public struct PythonLoadError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The C API of a libpython opened with `dlopen` at run time, so that pxsh links against no Python.
///
/// Only functions of the stable ABI are used, looked up once with `dlsym`. The library is opened with
/// `RTLD_GLOBAL` because extension modules such as numpy's are not linked against libpython themselves.
/// All of it must be used on the one thread that called ``initialize(programName:)``, with the GIL held.
public final class PythonLibrary: @unchecked Sendable {
    typealias Object = PyObjectPointer?

    let handle: UnsafeMutableRawPointer
    let incRef: @convention(c) (Object) -> Void
    let decRef: @convention(c) (Object) -> Void
    let bytesFromStringAndSize: @convention(c) (UnsafePointer<CChar>?, Int) -> Object
    let bytesAsStringAndSize:
        @convention(c) (Object, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, UnsafeMutablePointer<Int>) -> Int32
    let listNew: @convention(c) (Int) -> Object
    let listSetItem: @convention(c) (Object, Int, Object) -> Int32
    let listSize: @convention(c) (Object) -> Int
    let listGetItem: @convention(c) (Object, Int) -> Object
    let tupleNew: @convention(c) (Int) -> Object
    let tupleSetItem: @convention(c) (Object, Int, Object) -> Int32
    let longFromLong: @convention(c) (Int) -> Object
    let objectCallObject: @convention(c) (Object, Object) -> Object
    let objectGetAttrString: @convention(c) (Object, UnsafePointer<CChar>) -> Object
    let compileString: @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, Int32) -> Object
    let execCodeModule: @convention(c) (UnsafePointer<CChar>, Object) -> Object
    let errOccurred: @convention(c) () -> Object
    let errClear: @convention(c) () -> Void
    let errPrint: @convention(c) () -> Void
    let errCheckSignals: @convention(c) () -> Int32
    let saveThread: @convention(c) () -> OpaquePointer?
    let restoreThread: @convention(c) (OpaquePointer?) -> Void
    let getVersion: @convention(c) () -> UnsafePointer<CChar>

    /// Opens the libpython at `path`.
    ///
    /// - Throws: ``PythonLoadError`` when it cannot be opened or lacks a needed function.
    public init(path: String) throws {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL) else {
            throw PythonLoadError("cannot load \(path): \(String(cString: dlerror()))")
        }
        self.handle = handle
        func symbol<T>(_ name: String, as _: T.Type = T.self) throws -> T {
            guard let address = dlsym(handle, name) else {
                throw PythonLoadError("\(path) has no \(name); pxsh needs CPython 3.9 or newer")
            }
            return unsafeBitCast(address, to: T.self)
        }
        incRef = try symbol("Py_IncRef")
        decRef = try symbol("Py_DecRef")
        bytesFromStringAndSize = try symbol("PyBytes_FromStringAndSize")
        bytesAsStringAndSize = try symbol("PyBytes_AsStringAndSize")
        listNew = try symbol("PyList_New")
        listSetItem = try symbol("PyList_SetItem")
        listSize = try symbol("PyList_Size")
        listGetItem = try symbol("PyList_GetItem")
        tupleNew = try symbol("PyTuple_New")
        tupleSetItem = try symbol("PyTuple_SetItem")
        longFromLong = try symbol("PyLong_FromLong")
        objectCallObject = try symbol("PyObject_CallObject")
        objectGetAttrString = try symbol("PyObject_GetAttrString")
        compileString = try symbol("Py_CompileString")
        execCodeModule = try symbol("PyImport_ExecCodeModule")
        errOccurred = try symbol("PyErr_Occurred")
        errClear = try symbol("PyErr_Clear")
        errPrint = try symbol("PyErr_Print")
        errCheckSignals = try symbol("PyErr_CheckSignals")
        saveThread = try symbol("PyEval_SaveThread")
        restoreThread = try symbol("PyEval_RestoreThread")
        getVersion = try symbol("Py_GetVersion")
    }

    /// The interpreter's version line, e.g. "3.11.7 (main, ...)".
    public var version: String { String(cString: getVersion()) }

    // MARK: - Starting the interpreter

    /// Starts the interpreter, with Python's own SIGINT handler (so SIGINT raises KeyboardInterrupt),
    /// and with ``ArenaCache`` as its arena allocator.
    ///
    /// `programName` must be the path of the python executable the user chose: it is how a venv's
    /// python finds its prefix and site-packages. Python 3.14's PEP 741 API is used where present,
    /// `Py_SetProgramName` (deprecated since 3.11) before that.
    public func initialize(programName: String) throws {
        if let create = dlsym(handle, "PyInitConfig_Create"),
            let setString = dlsym(handle, "PyInitConfig_SetStr"),
            let initializeFromConfig = dlsym(handle, "Py_InitializeFromInitConfig"),
            let free = dlsym(handle, "PyInitConfig_Free"),
            let getError = dlsym(handle, "PyInitConfig_GetError")
        {
            typealias Create = @convention(c) () -> OpaquePointer?
            typealias SetString = @convention(c) (OpaquePointer?, UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32
            typealias Initialize = @convention(c) (OpaquePointer?) -> Int32
            typealias Free = @convention(c) (OpaquePointer?) -> Void
            typealias GetError = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32
            let config = unsafeBitCast(create, to: Create.self)()
            defer { unsafeBitCast(free, to: Free.self)(config) }
            let ok =
                unsafeBitCast(setString, to: SetString.self)(config, "program_name", programName) == 0
                && unsafeBitCast(initializeFromConfig, to: Initialize.self)(config) == 0
            if !ok {
                var message: UnsafePointer<CChar>?
                _ = unsafeBitCast(getError, to: GetError.self)(config, &message)
                throw PythonLoadError(
                    "Python failed to start: \(message.map { String(cString: $0) } ?? "unknown error")"
                )
            }
            ArenaCache.install(in: handle)
            return
        }
        typealias DecodeLocale =
            @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<Int>?) -> UnsafeMutableRawPointer?
        typealias SetProgramName = @convention(c) (UnsafeMutableRawPointer?) -> Void
        typealias InitializeEx = @convention(c) (Int32) -> Void
        let decode = unsafeBitCast(try requiredSymbol("Py_DecodeLocale"), to: DecodeLocale.self)
        let setProgramName = unsafeBitCast(try requiredSymbol("Py_SetProgramName"), to: SetProgramName.self)
        let initializeEx = unsafeBitCast(try requiredSymbol("Py_InitializeEx"), to: InitializeEx.self)
        // Python keeps the pointer for its lifetime, so the decoded name is never freed.
        setProgramName(decode(programName, nil))
        initializeEx(1)
        ArenaCache.install(in: handle)
    }

    private func requiredSymbol(_ name: String) throws -> UnsafeMutableRawPointer {
        guard let address = dlsym(handle, name) else { throw PythonLoadError("libpython has no \(name)") }
        return address
    }

    /// Ends the interpreter as Python's own exit does: waits for non-daemon threads, runs `atexit`
    /// handlers, flushes and closes open files. The corresponding C function is `Py_FinalizeEx`.
    public func finalize() {
        typealias FinalizeEx = @convention(c) () -> Int32
        guard let address = dlsym(handle, "Py_FinalizeEx") else { return }
        _ = unsafeBitCast(address, to: FinalizeEx.self)()
    }

    // MARK: - Forking

    /// Forks through `fork`, as `os.fork` does: Python's locks are taken before and made valid again
    /// after, and `os.register_at_fork` hooks run (which reseed `random`, for one).
    /// The corresponding C functions are `PyOS_BeforeFork` and `PyOS_AfterFork_Parent`/`_Child`.
    ///
    /// - Parameter fork: forks, returning the child's pid in the caller and nil in the child.
    /// - Returns: what `fork` returned.
    public func forking(_ fork: () throws -> pid_t?) throws -> pid_t? {
        typealias Hook = @convention(c) () -> Void
        let hooks = try ["PyOS_BeforeFork", "PyOS_AfterFork_Parent", "PyOS_AfterFork_Child"].map {
            unsafeBitCast(try requiredSymbol($0), to: Hook.self)
        }
        hooks[0]()
        let pid: pid_t?
        do {
            pid = try fork()
        } catch {
            hooks[1]()
            throw error
        }
        hooks[pid == nil ? 2 : 1]()
        return pid
    }

    // MARK: - The GIL

    /// Releases the GIL while `body` runs, so Python threads progress while Swift blocks on I/O.
    public func withoutGIL<T>(_ body: () throws -> T) rethrows -> T {
        let state = saveThread()
        defer { restoreThread(state) }
        return try body()
    }

    /// Runs Python's pending signal handlers and discards what they raise, so that an interrupt
    /// aimed at a finished command does not hit the next one.
    public func discardPendingSignals() {
        if errCheckSignals() != 0 { errClear() }
    }
}
