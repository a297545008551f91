import CPxSys
import PxTransport
import PxWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Captures everything written to this process's fd 1 and 2 and sends it as `stream` frames.
///
/// The descriptors themselves are redirected into pipes, so output from C code and from child
/// processes (`os.system("echo hi")`) is captured along with Python's. A reader thread forwards
/// whole lines at once and holds a partial line for at most ``partialLineDelay``. When a task
/// ends, ``finishTask(sendingAfterwards:)`` forwards what is left before the reply, under the same
/// lock, so a task's output always reaches the client before its result.
final class OutputCapture: @unchecked Sendable {
    typealias Send = (Frame) -> Void

    private struct State {
        var task: UInt64 = 0
        var pending: [OutputStream: Bytes] = [.stdout: [], .stderr: []]
        var partialSince: UInt64?
    }

    private let engine: Int32
    private let pipes: [(stream: OutputStream, read: FileDescriptor)]
    private let state = Mutex(State())
    private let send: Send
    private var thread: pthread_t?
    private static let partialLineDelay: UInt64 = 50_000_000
    private static let chunkLimit = 1 << 16

    /// Redirects fd 1 and 2 into pipes. Call before anything writes to them.
    init(engine: Int32, send: @escaping Send) throws {
        self.engine = engine
        self.send = send
        var pipes: [(OutputStream, FileDescriptor)] = []
        for (stream, target) in [(OutputStream.stdout, FileDescriptor.standardOutput), (.stderr, .standardError)] {
            let ends = try FileDescriptor.pipe()
            try ends.write.duplicate(onto: target)
            ends.write.close()
            try ends.read.setNonBlocking(true)
            pipes.append((stream, ends.read))
        }
        self.pipes = pipes
    }

    /// Starts the reader thread, with SIGINT blocked in it so that interrupts reach the Python thread.
    func start() {
        let box = Unmanaged.passRetained(self)
        pxsys_block_interrupts_for_thread_creation {
            var thread = pthread_t()
            pthread_create(&thread, nil, { argument in
                let capture = Unmanaged<OutputCapture>.fromOpaque(argument!).takeRetainedValue()
                capture.readLoop()
                return nil
            }, box.toOpaque())
            self.thread = thread
        }
    }

    /// Marks the start of a task: output from now on belongs to it.
    func beginTask(_ task: UInt64) {
        state.withLock { $0.task = task }
    }

    /// Forwards the output the task left in the pipes, then runs `sendReply` before any later output.
    func finishTask(sendingAfterwards sendReply: () -> Void) {
        state.withLock { state in
            for (stream, fd) in pipes { readAvailable(fd, into: &state.pending[stream, default: []]) }
            forward(&state, includingPartialLines: true)
            sendReply()
        }
    }

    // MARK: - Reader thread

    private func readLoop() {
        let watched = pipes.map { ($0.read, Poll.Events.readable) }
        while true {
            let timeout: Int32 = state.withLock { $0.partialSince == nil } ? -1 : 10
            let ready = (try? Poll.wait(watched, timeoutMilliseconds: timeout)) ?? []
            state.withLock { state in
                for (index, events) in ready.enumerated() where !events.isEmpty {
                    readAvailable(pipes[index].read, into: &state.pending[pipes[index].stream, default: []])
                }
                let partialIsStale = state.partialSince.map { Clock.monotonicNanoseconds - $0 >= Self.partialLineDelay } ?? false
                forward(&state, includingPartialLines: partialIsStale)
            }
        }
    }

    private func readAvailable(_ fd: FileDescriptor, into buffer: inout Bytes) {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while buffer.count < Self.chunkLimit * 16 {
            let count = chunk.withUnsafeMutableBytes { raw in read(fd.rawValue, raw.baseAddress, raw.count) }
            if count <= 0 { break }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// Sends whole lines (and, when asked or when too much piled up, partial ones).
    private func forward(_ state: inout State, includingPartialLines: Bool) {
        var hasPartial = false
        for stream in [OutputStream.stdout, .stderr] {
            guard var bytes = state.pending[stream], !bytes.isEmpty else { continue }
            var cut = bytes.count
            if !includingPartialLines && bytes.count < Self.chunkLimit {
                cut = (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
            }
            if cut > 0 {
                send(Frame(kind: .stream, op: stream.rawValue, engine: engine, id: state.task, segments: [Bytes(bytes[0..<cut])]))
                bytes.removeFirst(cut)
            }
            if !bytes.isEmpty { hasPartial = true }
            state.pending[stream] = bytes
        }
        if !hasPartial {
            state.partialSince = nil
        } else if state.partialSince == nil {
            state.partialSince = Clock.monotonicNanoseconds
        }
    }
}

/// Runs `body` with SIGINT and SIGTERM blocked, so threads it creates inherit that mask.
func pxsys_block_interrupts_for_thread_creation(_ body: () -> Void) {
    _ = pxsys_block_interrupts(1)
    body()
    _ = pxsys_block_interrupts(0)
}
