#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's one SIGINT handler, which turns Ctrl-C into data instead of death.
///
/// The handler only writes a byte to a self-pipe. Each byte in the pipe is one SIGINT not yet taken, so:
/// - a loop that waits for engines can `poll()` on `fileDescriptor` next to its sockets and wake up on
///   Ctrl-C;
/// - `takePending()` drains the pipe and says how many interrupts arrived since it last ran.
///
/// The handler is installed without `SA_RESTART`, so a blocking `read()` returns `EINTR` on Ctrl-C. That
/// is how `LineEditor.readLine(prompt:)` tells Ctrl-C from Ctrl-D.
///
/// libedit installs its own handler while it reads a line. On Ctrl-C that handler restores this one and
/// re-sends SIGINT with `kill(0, SIGINT)` to the whole process group, so this handler still counts it, once.
/// Anything else in the process group receives that SIGINT too: start child processes that must not see
/// it in a process group of their own.
///
/// A Ctrl-C can also arrive while libedit is busy with earlier keys rather than blocked in `read()`. Nothing
/// is interrupted then, and the terminal discards the keys typed after it, so libedit's next `read()` would
/// wait for a key that never comes. While a line is being read (`beginLineRead()` … `endLineRead()`), the
/// handler therefore also makes standard input non-blocking: that next `read()` fails with `EAGAIN` at once.
public enum InterruptSignal {
    /// Installs the SIGINT handler and creates the self-pipe.
    ///
    /// Calling it again does nothing. Call it from the main thread before any other thread can race it,
    /// as `LineEditor.init` does.
    public static func install() {
        guard selfPipe.readEnd < 0 else { return }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            fatalError("InterruptSignal: pipe() failed with errno \(errno)")
        }
        for end in ends {
            // Non-blocking: the handler must never block, and draining stops at "empty".
            // Close-on-exec: child processes must not hold the pipe open.
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, fcntl(end, F_GETFD) | FD_CLOEXEC)
        }
        selfPipe = (readEnd: ends[0], writeEnd: ends[1])

        var action = sigaction()
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = recordInterrupt
        #else
        action.__sigaction_u.__sa_handler = recordInterrupt
        #endif
        sigemptyset(&action.sa_mask)
        // No SA_RESTART: a read() blocked in the line editor must return EINTR.
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
    }

    /// Returns the number of SIGINTs received since the last call, and resets it to zero.
    ///
    /// This drains `fileDescriptor`. Before `install()` it returns 0.
    public static func takePending() -> Int {
        let readEnd = selfPipe.readEnd
        guard readEnd >= 0 else { return 0 }
        var count = 0
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let bytesRead = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if bytesRead > 0 {
                count += bytesRead
            } else if bytesRead < 0 && errno == EINTR {
                continue
            } else {
                return count
            }
        }
    }

    /// Marks the start of a line read: from now on, a Ctrl-C also makes standard input non-blocking, so that
    /// the read cannot go on waiting after it. Call `endLineRead()` when the read returns.
    public static func beginLineRead() {
        lineRead.isInProgress = true
    }

    /// Marks the end of a line read, and makes standard input blocking again if a Ctrl-C made it non-blocking.
    public static func endLineRead() {
        // In this order: once the flag is down, the handler no longer touches standard input.
        lineRead.isInProgress = false
        if lineRead.madeInputNonBlocking {
            lineRead.madeInputNonBlocking = false
            _ = fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) & ~O_NONBLOCK)
        }
    }

    /// Whether an interrupt is pending: one that `takePending()` would count. This does not take it.
    public static var isPending: Bool {
        isReadableNow(fileDescriptor)
    }

    /// The read end of the self-pipe: readable while an interrupt is pending.
    ///
    /// Wait on it with `poll()` or `select()`, then call `takePending()`, which empties it. Do not read or
    /// close it yourself. Reading this property installs the handler if `install()` has not run yet.
    public static var fileDescriptor: Int32 {
        install()
        return selfPipe.readEnd
    }
}

/// Whether `descriptor` has data to read at once.
func isReadableNow(_ descriptor: Int32) -> Bool {
    var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, 0) > 0 && entry.revents & Int16(POLLIN) != 0
}

// MARK: - The signal handler's state

/// Both ends of the self-pipe, or -1 before `InterruptSignal.install()`.
///
/// The only global the handler needs: a C signal handler cannot capture context. It is written once, by
/// `install()` before the handler exists, and only read afterwards, which is why unsynchronised access is
/// safe here.
nonisolated(unsafe) private var selfPipe: (readEnd: Int32, writeEnd: Int32) = (-1, -1)

/// Whether a line is being read, and whether the handler made standard input non-blocking during it.
///
/// Written by the main thread and by the handler, which runs on the main thread too (the REPL process has no
/// other thread), so the two never run at the same time.
nonisolated(unsafe) private var lineRead = (isInProgress: false, madeInputNonBlocking: false)

/// Records one SIGINT by writing a byte to the self-pipe.
///
/// Only async-signal-safe calls here (`write`, `fcntl`). `write` may fail (a full pipe means thousands of untaken
/// interrupts, which are then counted as the pipe's capacity), and it must not disturb the interrupted
/// code's `errno`: libedit reads `errno` right after its `read()` returns `EINTR`.
private func recordInterrupt(_: Int32) {
    let savedErrno = errno
    var byte: UInt8 = 1
    _ = write(selfPipe.writeEnd, &byte, 1)
    if lineRead.isInProgress && !lineRead.madeInputNonBlocking {
        lineRead.madeInputNonBlocking = true
        _ = fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK)
    }
    errno = savedErrno
}
