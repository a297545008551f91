import CPxSys

#if canImport(Glibc)
import Glibc
#endif

/// Signals between pxsh's processes.
public enum Signals {
    /// Asks the kernel to send `signal` to this process when the thread that started it exits, so
    /// that a child never outlives its parent, even one killed with SIGKILL. The corresponding C call
    /// is `prctl(PR_SET_PDEATHSIG)`.
    ///
    /// - Returns: false when the parent is already gone (this process was re-parented to init), so
    ///   that the caller can exit at once.
    @discardableResult
    public static func dieWithParent(signal: Int32) -> Bool {
        _ = pxsys_set_parent_death_signal(signal)
        return getppid() != 1
    }

    /// Sends `signal` to the process group led by `pid`, or to `pid` alone when it leads none.
    /// The corresponding C function is `kill`.
    public static func sendToGroup(_ signal: Int32, leader pid: pid_t) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }

    /// Whether a process `pid` exists (it may be a zombie). The corresponding C call is `kill(pid, 0)`.
    public static func processExists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    // MARK: - Interrupts that name their task

    /// Sends SIGINT to `pid` for `task`: the signal carries the task id (`sigqueue`), and an engine
    /// that filters interrupts (``filterInterruptsByTask()``) drops it unless that task runs.
    public static func interrupt(task: UInt64, of pid: pid_t) {
        _ = pxsys_interrupt_task(pid, task)
    }

    /// Puts a filter in front of the SIGINT handler Python installed: a SIGINT sent with
    /// ``interrupt(task:of:)`` for a task other than ``setCurrentTask(_:)``'s is dropped, so an
    /// interrupt that comes after its task ended never hits the next one. Any other SIGINT (`kill
    /// -INT`, `os.kill` in user code) goes to Python as before. Call it after Python has started.
    public static func filterInterruptsByTask() {
        _ = pxsys_filter_interrupts()
    }

    /// The task this process runs now, or 0 between tasks. Async-signal-safe.
    public static func setCurrentTask(_ task: UInt64) {
        pxsys_set_current_task(task)
    }

    /// Sends SIGINT for `task` to one thread of this process, queued with the task id as
    /// ``interrupt(task:of:)`` does. The corresponding C function is `pthread_sigqueue`.
    public static func interrupt(task: UInt64, thread: pthread_t) {
        _ = pxsys_interrupt_thread_task(thread, task)
    }

    /// Makes SIGTERM, SIGHUP, and a SIGINT that is no task's interrupt while no task runs (Ctrl-C at a
    /// terminal; after ``filterInterruptsByTask()``), ask a remote engine to leave: the signal is kept
    /// for ``leaveSignal`` and a byte is written to both descriptors, which wake its two threads.
    public static func leaveOnSignals(wakingPython python: FileDescriptor, link: FileDescriptor) {
        _ = pxsys_leave_on_signals(python.rawValue, link.rawValue)
    }

    /// Calls `report` on SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT in this process (not in a child it
    /// forks), then lets the signal end it; a report that hangs is cut short after 3 s. Install it
    /// before Python's faulthandler, which then writes the Python stack first.
    public static func reportCrashes(_ report: @convention(c) (Int32) -> Void) {
        _ = pxsys_report_crashes(report)
    }

    /// The signal that asked this engine to leave (``leaveOnSignals(wakingPython:link:)``); nil if none came.
    public static var leaveSignal: Int32? {
        let signal = pxsys_leave_signal()
        return signal == 0 ? nil : signal
    }

    /// The signal's name, or "signal N" for one without a name here.
    public static func label(of signal: Int32) -> String { name(of: signal) ?? "signal \(signal)" }

    /// A signal's conventional name ("SIGKILL"), for the signals that end processes; nil for others.
    public static func name(of signal: Int32) -> String? {
        switch signal {
        case SIGKILL: "SIGKILL"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGHUP: "SIGHUP"
        case SIGILL: "SIGILL"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        default: nil
        }
    }
}

// MARK: - Threads

extension Signals {
    /// The calling thread, for ``interrupt(task:thread:)``. The corresponding C function is `pthread_self`.
    public static var currentThread: pthread_t { pthread_self() }

    /// Blocks SIGINT and SIGTERM on the calling thread, so that they reach the thread that runs Python.
    /// The corresponding C function is `pthread_sigmask`.
    public static func blockInterruptsOnThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        _ = pthread_sigmask(SIG_BLOCK, &set, nil)
    }
}

// MARK: - Signals taken in turn

extension Signals {
    /// Signals blocked for this process from its creation on, so that none is lost and each is taken
    /// in turn with ``next()`` instead of running a handler (SIGCHLD among them: a child's end is
    /// one more signal to take).
    public struct Held {
        private var set = sigset_t()
        private var previous = sigset_t()

        /// Blocks `signals`. The corresponding C function is `sigprocmask`.
        public init(_ signals: [Int32]) {
            sigemptyset(&set)
            for signal in signals { sigaddset(&set, signal) }
            _ = sigprocmask(SIG_BLOCK, &set, &previous)
        }

        /// Unblocks them again, as they were before (in a forked child that must get them as usual).
        public func release() {
            var previous = previous
            _ = sigprocmask(SIG_SETMASK, &previous, nil)
        }

        /// Waits for one of them and takes it. The corresponding C function is `sigwaitinfo`.
        public func next() -> Int32 {
            var set = set
            while true {
                let signal = sigwaitinfo(&set, nil)
                if signal > 0 { return signal }
            }
        }
    }
}
