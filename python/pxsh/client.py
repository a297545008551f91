"""Client: one connection to a pxsh cluster's controller.

``Client(cluster="NAME")`` attaches to a named cluster (``pxsh cluster start
--name NAME``); ``Client()`` to the only one running. At the pxsh prompt the
same class is ``px``, attached to the session's own cluster.

The thread that waits on a result reads the connection itself (one thread
wake-up per reply, not two). A daemon reader thread starts only when results
must complete on their own: a done-callback, ``concurrent.futures.wait`` or
``as_completed``; from then on it reads, and waiters wait for it. Either way
exactly one thread holds the read side at a time; calls from any thread are
safe. State sits in this object: the engines, the requests awaiting task
ids, the unfinished tasks and the results made through it.
"""

import atexit
import collections.abc
import concurrent.futures
import contextlib
import functools
import json
import math
import os
import _signal
import select
import signal
import socket
import stat
import sys
import struct
import threading
import time
import weakref
from typing import Callable, Dict, List, Optional, Tuple, Union

from . import errors, protocol
from .asyncresult import _FINISHED, AsyncResult, MagicResult, _notify_waiters

_REPLY, _ACCEPTED, _ANSWER = protocol.REPLY, protocol.ACCEPTED, protocol.ANSWER
_CONNECT_TIMEOUT = 120.0
_BATCH_FRAMES = 64  # submissions held back at most, before they go in one write
_FLUSH_DELAY = 0.0005  # how long a held-back submission waits when nobody waits on a result
_RECEIVE_SIZE = 1 << 18  # bytes read from the connection at most at once

# How many of the results made through a client `history` keeps (%jobs lists them). Older ones are
# dropped from it, and freed, values included, once nothing else refers to them; unfinished ones
# are kept by the client until they finish (`outstanding`, `wait()` and `abort()` see them all).
HISTORY_LIMIT = 1000


class _Spin:
    """How long a wait for a reply polls for it before it sleeps: 0 s, or up to LONGEST.

    A process that sleeps in poll() lets its CPU halt when nothing else runs there, and waking a
    halted virtual CPU costs about 30 µs on a VM without guest halt-polling: a call is four such
    hops in a row (this client, the controller, the engine, the controller). A waiting thread that
    polls (and yields its CPU to anything runnable there) until the reply comes keeps its CPU
    awake for it. That burns CPU, so a wait spins only:
    - for a result the caller asked for (get, result, wait, execute with block=True), never in the
      reader thread or an idle loop;
    - for a result of fewer tasks than CPUs: the waiter holds one CPU, and the tasks need the others
      (execute on 4 engines of a 2-CPU machine got no faster, at twice the CPU);
    - while the machine has a CPU to spare: no more runnable tasks than CPUs (/proc/loadavg, read
      after a reply, at most every 10 ms); on a busy machine the other CPUs are awake anyway, and a
      spin would take the CPU that the controller or an engine needs;
    - for twice as long as the last wait took, at most LONGEST: a quick call spins for a short time;
    - while spins pay: after a spin that the reply did not end (a long task), the next 1, 2, 4 ...
      64 waits do not spin, until one does catch its reply.
    PXSH_NO_SPIN in the environment turns it off (pxsh's own waits too).
    """

    LONGEST = 500e-6
    _SAMPLE_EVERY = 0.01
    _BACKOFF_LIMIT = 64

    def __init__(self):
        self._cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self._loadavg: Optional[int] = None  # not Linux, or PXSH_NO_SPIN: never spin
        if os.environ.get("PXSH_NO_SPIN") is None:
            try:
                self._loadavg = os.open("/proc/loadavg", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass
        self._next_sample = 0.0
        self._spare_cpu = False
        self._last_wait = self.LONGEST
        self._skip = 0
        self._backoff = 0
        self.spins = self.caught = 0  # how many waits spun, and how many of them caught their reply

    def pays_for(self, tasks: int) -> bool:
        """Whether a wait for `tasks` tasks may spin."""
        return tasks < self._cpus

    def budget(self) -> float:
        """How long the wait that begins may spin, in seconds (0: not at all)."""
        if self._skip:
            self._skip -= 1
            return 0.0
        return min(self.LONGEST, 2 * self._last_wait) if self._spare_cpu else 0.0

    def ended(self, waited: float, spun: bool, caught: bool) -> None:
        """A wait that could spin got its first input after `waited` s (`caught` while spinning)."""
        self._last_wait = waited
        if spun:
            self.spins += 1
            if caught:
                self.caught += 1
                self._backoff = 0
            else:
                self._backoff = min(self._BACKOFF_LIMIT, 2 * self._backoff or 1)
                self._skip = self._backoff
        now = time.perf_counter()
        if now >= self._next_sample:  # after a reply: this client's own request runs no more
            self._next_sample = now + self._SAMPLE_EVERY
            self._spare_cpu = self._loadavg is not None and self._runnable() <= self._cpus

    def _runnable(self) -> int:
        # The fourth field is runnable/all tasks, this thread included: "0.52 0.40 0.31 2/180 4242".
        try:
            return int(os.pread(self._loadavg, 128, 0).split()[3].split(b"/")[0])
        except (OSError, ValueError, IndexError):
            return 1 << 30


_SPIN = _Spin()  # one per process: the machine's load is the same for every client


class _CtrlCPutOff:
    """A Ctrl-C put off while the main thread takes in what a read received (one for the process: _PutOff).

    Python raises KeyboardInterrupt in the main thread when the call that was running returns: one
    right after a recv_into would drop the bytes it read (results that never end). So in the main
    thread a read puts _put_off_while_a_read_takes_in in place of signal.default_int_handler: it
    puts a Ctrl-C off while any read on the stack takes in (its local `taking_in`), and the read
    raises it once the take-in ends (deliver); any other Ctrl-C raises at once, as before. Python
    runs handlers in the main thread only, whichever thread the kernel gives the signal to, and
    other threads are never interrupted: so no thread holds SIGINT back, and a read pays one check
    on its hot path. It stays in place when the read ends (putting it in place and back on each
    read would cost two system calls). Any other handler is left alone, and what it raises is its
    own: code that installs a handler and checks that it is still the one installed (`python -m
    unittest -c`, asyncio.run) keeps working."""

    def __init__(self):
        # Instance attributes, not the class's: reads read them on their hot path, and Python 3.11
        # specializes an instance's attribute loads but not a class's.
        self.seen: Optional[Callable] = None  # the SIGINT handler a read found last (after putting its own in place)
        self.pending = False  # a Ctrl-C came while the main thread took in

    def replace_default_handler(self) -> None:
        """In the main thread, before a read, when the SIGINT handler changed since the last one."""
        current = _sigint_handler()
        self.seen = current
        if current is not signal.default_int_handler:
            return  # a handler of someone's own, SIG_DFL, SIG_IGN, or ours
        engine_filter = _engine_interrupt_filter()  # first: importing ctypes takes 3 ms
        self.seen = _put_off_while_a_read_takes_in  # first: a Ctrl-C may come as it is put in place
        try:
            signal.signal(signal.SIGINT, _put_off_while_a_read_takes_in)
        except ValueError:  # a subinterpreter: Python runs no handler there
            self.seen = current
        finally:
            if engine_filter is not None:
                engine_filter()

    def deliver(self) -> None:
        """Raise the KeyboardInterrupt that was put off, in the main thread."""
        if self.pending and _get_ident() == _MAIN_THREAD:
            self.pending = False
            raise KeyboardInterrupt


_PutOff = _CtrlCPutOff()


def _put_off_while_a_read_takes_in(number: int, frame) -> None:
    """SIGINT's Python handler once a read in the main thread put it in place (see _PutOff)."""
    caller = frame  # the main thread's
    while caller is not None:
        if caller.f_code is _READ_CODE and caller.f_locals.get("taking_in"):
            _PutOff.pending = True
            return
        caller = caller.f_back
    _PutOff.pending = False  # this one stands for it: a second Ctrl-C as the first was delivered
    signal.default_int_handler(number, frame)


@functools.lru_cache(maxsize=None)
def _engine_interrupt_filter() -> Optional[Callable[[], int]]:
    """In a pxsh engine (the home engine's px, or code on an engine that makes a client): the C
    function that puts the engine's own SIGINT handler back in front of Python's, which
    signal.signal replaces; the engine's handler drops an interrupt sent for a task that has ended,
    so that it never hits the next one. None in any other Python."""
    import ctypes
    return getattr(ctypes.PyDLL(None), "pxsys_filter_interrupts", None)


_MAIN_THREAD = threading.main_thread().ident
_get_ident = threading.get_ident
_SIGINT = int(signal.SIGINT)
_sigint_handler = functools.partial(_signal.getsignal, _SIGINT)  # signal.getsignal's enum lookup fails and costs µs


# A read's wait in the main thread looks at what it waits for at least this often (s): a read nested
# in it may have taken that in without a ping (see _read_some).
_WAIT_SLICE = 1.0
_WAIT_SLICE_MS = int(_WAIT_SLICE * 1000)
_DONT_WAIT = socket.MSG_DONTWAIT
_LONGEST_WAIT = 1e6  # seconds: under poll()'s limit of 2**31 - 1 ms, and a lock's (math.inf overflows)

# In the home engine of a pxsh session: its cluster's controller socket, which Client() attaches to.
SESSION_SOCKET: Optional[str] = None

# In the home engine of a pxsh session: the results of magics run with `-o NAME` (%map, %apply,
# %px), by name, as the prompt hands them over (see Client.result); empty in any other Python.
MAGIC_RESULTS: Dict[str, dict] = {}

# Every client of this process: %jobs at the pxsh prompt lists the results they made.
CLIENTS: "weakref.WeakSet[Client]" = weakref.WeakSet()


def runtime_root() -> str:
    """The per-user directory of pxsh sockets: $XDG_RUNTIME_DIR/pxsh or /tmp/pxsh-UID."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.access(xdg, os.W_OK):
        return os.path.join(xdg, "pxsh")
    return f"/tmp/pxsh-{os.getuid()}"


def _check_private(path: str) -> None:
    """Refuse a directory that another user owns or others may enter (the same checks as pxsh)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise
    if not stat.S_ISDIR(info.st_mode):
        raise errors.ClusterError(f"refusing to use {path}: not a directory")
    if info.st_uid != os.getuid():
        raise errors.ClusterError(f"refusing to use {path}: owned by uid {info.st_uid}, not {os.getuid()}")
    if info.st_mode & 0o077:
        raise errors.ClusterError(f"refusing to use {path}: its mode is {oct(info.st_mode & 0o777)}, not 0700")


def list_clusters() -> List[str]:
    """The names of the named clusters whose controller answers within 5 s, sorted, as `pxsh cluster
    list` shows them. ClusterError if the runtime directory is not private (another owner, or a mode
    other users may enter)."""
    clusters = os.path.join(runtime_root(), "clusters")
    try:
        _check_private(runtime_root())
        names = sorted(os.listdir(clusters))
    except FileNotFoundError:
        return []
    running = []
    for name in names:
        # A handshake, not just a connect: a controller that is dying still accepts a connection.
        try:
            Client(timeout=5, _socket_path=os.path.join(clusters, name, "controller.sock")).close()
            running.append(name)
        except errors.ClusterError:
            pass
    return running


def _cluster_socket(cluster: Optional[str]) -> Tuple[str, str]:
    """(name, controller socket path) of the cluster to attach to."""
    if cluster is None:
        running = list_clusters()
        if not running:
            raise errors.ClusterError(
                "no pxsh cluster is running; start one with `pxsh cluster start --name NAME -n 4`")
        if len(running) > 1:
            raise errors.ClusterError(
                f"{len(running)} pxsh clusters are running ({', '.join(running)}); "
                "choose one with Client(cluster=NAME)")
        cluster = running[0]
    if not cluster or cluster.startswith(".") or not all(c.isalnum() or c in "-_." for c in cluster):
        raise errors.ClusterError(f"{cluster!r} is not a cluster name (letters, digits, '-', '_', '.')")
    root = runtime_root()
    directory = os.path.join(root, "clusters", cluster)
    try:
        _check_private(root)
        _check_private(directory)
    except FileNotFoundError:
        raise errors.ClusterError(_no_such_cluster(cluster)) from None
    return cluster, os.path.join(directory, "controller.sock")


def _controller_pid(directory: str) -> Optional[int]:
    try:
        with open(os.path.join(directory, "cluster.json")) as handle:
            return int(json.load(handle)["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _wait_until_gone(pid: int, timeout: float) -> bool:
    """Whether process `pid` (not a child) ends within `timeout` s: its pidfd turns readable then."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _remove_directory(directory: str) -> None:
    """The files of a stopped cluster's directory, then the directory (kept if a new one has begun there)."""
    try:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    except OSError:
        pass


def _no_such_cluster(name: str) -> str:
    running = list_clusters()
    listed = f"running: {', '.join(running)}" if running else "none is running"
    return f"no pxsh cluster named {name!r} ({listed}; `pxsh cluster list`)"


def _controller_gone(name: str, pid: int) -> str:
    # Its files are still there: it ended without stopping the cluster (which removes them).
    return (f"the controller of cluster {name!r} (pid {pid}) is gone without having stopped the cluster; "
            f"`pxsh cluster stop --name {name}` removes what it left")


def _unreachable(name: str, directory: str, failure: OSError) -> str:
    """Why a named cluster's controller refuses a connection: none is there, or it is gone."""
    pid = _controller_pid(directory)
    if pid is None:
        return _no_such_cluster(name)
    if _wait_until_gone(pid, timeout=1):
        return _controller_gone(name, pid)
    return f"cannot reach the controller of cluster {name!r} (pid {pid}): {failure}"


class Client:
    """A connection to a pxsh cluster, with IPython Parallel's names.

    ``rc.ids``, ``rc[:]``, ``rc[2]``, ``rc[1:3]``, ``rc.direct_view()``,
    ``rc.load_balanced_view()``, ``rc.executor()``, ``rc.wait()``.
    Views made from it inherit ``block`` (False, as in ipyparallel).
    """

    block = False

    def __init__(self, cluster: Optional[str] = None, *, timeout: float = _CONNECT_TIMEOUT,
                 profile: Optional[str] = None, _socket_path: Optional[str] = None, _lazy: bool = False):
        # ipyparallel names a cluster by its profile; here the profile is the cluster's name.
        cluster = cluster if cluster is not None else profile
        if _socket_path is None and cluster is None and SESSION_SOCKET is not None:
            _socket_path = SESSION_SOCKET
        if _socket_path is None:
            self.cluster, self._socket_path = _cluster_socket(cluster)
        else:
            self.cluster, self._socket_path = cluster, _socket_path
        self._timeout = timeout
        self._lock = threading.RLock()
        self._task_condition = threading.Condition(self._lock)
        self._send_lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._engines: Dict[int, protocol.EngineRow] = {}
        self._live: Optional[List[int]] = None  # _live_ids(), until the engines change
        self._next_request = 1
        self._awaiting: Dict[int, AsyncResult] = {}
        self._tasks: Dict[int, Tuple[AsyncResult, int]] = {}
        self._controls: Dict[int, concurrent.futures.Future] = {}
        self._closed: Optional[str] = None
        self._reader: Optional[threading.Thread] = None
        self._decoder = protocol.FrameDecoder()
        self._receiving = bytearray(_RECEIVE_SIZE)
        self._received = memoryview(self._receiving)
        self._outgoing: List[bytes] = []  # submissions held back, sent in one write
        self._waited_since_submit = True
        self._flush_wanted = threading.Event()
        self._flusher: Optional[threading.Thread] = None
        self._forked = False
        self._reading: Optional[int] = None  # the thread that holds the read side
        self._poller: Optional[select.poll] = None  # how the reading thread waits for input
        self._pid = os.getpid()
        self.history: List[AsyncResult] = []  # the last HISTORY_LIMIT results made
        self._made = 0  # results made, numbered from 1
        self.python = ""
        self.notices: List[str] = []
        self._controller_pid: Optional[int] = None  # a named cluster's, as its cluster.json said at connect
        CLIENTS.add(self)
        if not _lazy:
            self._connect()

    # ------------------------------------------------------------------
    # Engines and views

    @property
    def ids(self) -> List[int]:
        """The ids of the live engines (restarting ones included), sorted."""
        self._ensure_connected()
        self._poll()  # engines that joined, were lost or were removed since
        return list(self._live_ids())

    def _live_ids(self) -> List[int]:
        """``ids`` as last heard, without reading the connection: for the checks made on every call.

        The list is kept until the engines change: callers must not change it."""
        if self._sock is None or self._forked or self._closed:
            self._ensure_connected()
        live = self._live
        if live is None:
            with self._lock:
                live = self._live = sorted(
                    row.id for row in self._engines.values() if row.id >= 0 and row.state != "dead")
        return live

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, key: Union[int, slice, List[int]]):
        """A DirectView on `key`: an engine id, a slice of ids or a list of ids."""
        return self.direct_view(targets=self._targets_from_key(key))

    def _targets_from_key(self, key):
        ids = self._live_ids()
        if isinstance(key, int) and not isinstance(key, bool):
            if -len(ids) <= key < 0:
                return ids[key]  # rc[-1] is the last engine, as in ipyparallel
            if key not in ids:
                raise IndexError(f"No such engine: {key} (engines: {_describe_ids(ids)})")
            return key
        if isinstance(key, slice):
            chosen = ids[key]
            if not chosen:
                raise IndexError(f"No engines in {key} (engines: {_describe_ids(ids)})")
            return chosen
        if isinstance(key, (list, tuple, range)):
            from .views import _engine_ids
            key = _engine_ids(key)  # [1.0] is no list of engines
            missing = [k for k in key if k not in ids]
            if missing:
                raise IndexError(f"No such engine: {missing[0]} (engines: {_describe_ids(ids)})")
            return key
        raise TypeError(f"engines are chosen by int, slice or list, not {type(key).__name__}")

    def direct_view(self, targets: Union[str, int, slice, List[int]] = "all"):
        """A DirectView; 'all' follows the engines as they come and go."""
        from .views import DirectView
        if targets != "all":
            targets = self._targets_from_key(targets)
        return DirectView(self, targets)

    def load_balanced_view(self, targets: Union[None, str, int, slice, List[int]] = None):
        """A LoadBalancedView: each task goes to whichever engine is free.

        `targets` (an engine id, a slice or a list of ids) keeps its tasks on those engines; None
        or 'all' balances over every engine, as they come and go.
        """
        from .views import LoadBalancedView
        if targets is None or targets == "all":
            return LoadBalancedView(self)
        chosen = self._targets_from_key(targets)
        return LoadBalancedView(self, sorted({chosen} if isinstance(chosen, int) else set(chosen)))

    def executor(self, targets=None):
        """A concurrent.futures.Executor over the engines, load-balanced."""
        return self.load_balanced_view(targets).executor

    def wait(self, jobs=None, timeout: Optional[float] = -1) -> bool:
        """Wait for `jobs`, AsyncResults or msg ids (`ar.msg_ids`), one or a list (default: every
        unfinished result made through this client); True if all are ready."""
        jobs = self._jobs(jobs)
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in jobs:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if isinstance(job, AsyncResult):
                if not job.wait(remaining):
                    return False
            elif not self._wait_for(lambda: job not in self._tasks, remaining):  # its reply came
                return False
        return True

    def _jobs(self, jobs) -> list:
        """The `jobs` of wait() and abort() as a list of AsyncResults and msg ids."""
        if jobs is None:
            return self._unfinished()
        one = isinstance(jobs, (AsyncResult, int)) or not isinstance(jobs, collections.abc.Iterable)
        listed = [jobs] if one else list(jobs)
        for job in listed:
            if isinstance(job, bool) or not isinstance(job, (AsyncResult, int)):
                raise TypeError(f"jobs are AsyncResults or msg ids (the ints of ar.msg_ids), not {type(job).__name__}")
        return listed

    def result(self, name: str) -> AsyncResult:
        """The AsyncResult of a magic run with `-o NAME` at the pxsh prompt (`%map -o squares f xs`,
        `%apply -o NAME`, `%px -o NAME`), as Python code's results are: a concurrent.futures.Future
        with the magic's values, errors, output and timings.

        The prompt collects a magic's replies and hands the result over before the next command once it
        is done, so a `--noblock` one raises PxshError while it runs (`%wait NAME` first)."""
        record = MAGIC_RESULTS.get(name) if self._socket_path == SESSION_SOCKET else None
        if record is None:
            raise errors.PxshError(f"no result named {name!r}: -o NAME of %map, %apply and %px at the pxsh "
                                   "prompt names one (see %jobs)")
        if record["state"] != "done":
            raise errors.PxshError(f"{record['label']} {name!r} is still running: Python gets its AsyncResult "
                                   f"once it is done (%wait {name} first)")
        made = record.get("result")
        if made is None:
            made = record["result"] = MagicResult(self, name, record)
        return made

    def wait_for_engines(self, n: Optional[int] = None, *, timeout: float = -1, block: bool = True):
        """Wait until at least `n` engines are up (default: those the cluster has now), as ipyparallel's
        does; TimeoutError after `timeout` seconds (negative: no limit). With block=False, a Future."""
        if not block:
            future: concurrent.futures.Future = concurrent.futures.Future()

            def wait():
                try:
                    future.set_result(self.wait_for_engines(n, timeout=timeout))
                except BaseException as exc:
                    future.set_exception(exc)
            _start_thread(wait, "pxsh-wait-for-engines")
            return future
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        while True:
            ids = self.ids
            if n is None or len(ids) >= n:
                return None
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{len(ids)} engines after {timeout} s, not {n}")
            time.sleep(0.05)

    def spin(self) -> None:
        """Nothing to do: replies are read as they come (ipyparallel needs a spin to read them)."""
        self._poll()

    def abort(self, jobs=None) -> None:
        """Abort the tasks of `jobs` (AsyncResults or msg ids, as for wait(); default: all unfinished)
        that have not started."""
        ids = []
        for job in self._jobs(jobs):
            if isinstance(job, AsyncResult):
                if not job.done():
                    self._abort(job)
            elif job in self._tasks:
                ids.append(job)
        if ids:
            self._control(protocol.CTL_ABORT, tasks=ids)

    @property
    def outstanding(self) -> List[AsyncResult]:
        """Results made through this client that are not ready."""
        return [job for job in self._unfinished() if not job.done()]

    def _unfinished(self) -> List[AsyncResult]:
        """The results whose tasks the client still tracks (all of them, past the history's limit), in
        the order they were made."""
        with self._lock:
            pending = {id(r): r for r in self._awaiting.values()}
            for entry in self._tasks.values():
                pending.setdefault(id(entry[0]), entry[0])
        return sorted(pending.values(), key=lambda result: result.number)

    def close(self) -> None:
        """Leave the cluster (it keeps running)."""
        self._flush()
        self._close("the client was closed")

    def shutdown(self, targets="all", restart: bool = False, hub: bool = False, block: Optional[bool] = None) -> None:
        """Stop the whole cluster: its engines and controller. A named cluster's directory (its logs
        with it) goes too once the controller is gone, as with `pxsh cluster stop`.

        ipyparallel's keywords are taken, so that its scripts' `rc.shutdown(hub=True)` runs: `hub`
        changes nothing (a pxsh cluster's controller goes with its engines) and it always waits
        (`block`); stopping or restarting only some engines (`targets`, `restart`) is for %remove and
        %restart at the pxsh prompt, and refused here. At the pxsh prompt it refuses to stop the
        cluster the session runs in: its local namespace would go with it."""
        if restart or not (isinstance(targets, str) and targets == "all"):
            raise errors.PxshError(
                f"shutdown(targets={targets!r}, restart={restart!r}) would stop or restart only some engines, "
                "which pxsh does at the prompt (%remove SPEC, %restart SPEC); shutdown() stops the whole cluster")
        if self._is_session_cluster():
            raise errors.PxshError(_session_shutdown_refusal(self._socket_path, self._shutdown_call()))
        directory = os.path.dirname(self._socket_path) if self.cluster else None
        pid = _controller_pid(directory) if directory else None
        self._control(protocol.CTL_SHUTDOWN)
        self._close(f"the cluster {self.cluster!r} was stopped" if self.cluster else "the cluster was stopped")
        if pid is not None and _wait_until_gone(pid, timeout=30):
            _remove_directory(directory)

    def _shutdown_call(self) -> str:
        """What the user called, for the refusal: px.shutdown(), or shutdown() of another Client object."""
        if getattr(sys.modules.get("__main__"), "px", None) is self:
            return "px.shutdown()"
        return f"pxsh.Client({'' if self.cluster is None else f'cluster={self.cluster!r}'}).shutdown()"

    def _is_session_cluster(self) -> bool:
        """Whether this client's cluster is the one this pxsh session (its home engine) runs in."""
        return SESSION_SOCKET is not None and os.path.realpath(self._socket_path) == os.path.realpath(SESSION_SOCKET)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"<pxsh.Client {self.cluster or 'home'}: closed>"
        if self._sock is None:
            return f"<pxsh.Client {self.cluster or 'of this session'}>"
        count = len(self.ids)
        return f"<pxsh.Client {self.cluster or 'of this session'}: {count} engine{'' if count == 1 else 's'}>"

    # ------------------------------------------------------------------
    # The connection

    def _ensure_connected(self) -> None:
        if self._sock is None or self._forked:
            with self._lock:
                if self._pid != os.getpid():
                    raise errors.ClusterError("this client belongs to another process (it forked); make a new one")
                if self._sock is None:
                    self._connect()
        if self._closed:
            raise errors.ClusterError(self._closed)

    def _connect(self) -> None:
        if self._closed:
            raise errors.ClusterError(self._closed)
        directory = os.path.dirname(self._socket_path)
        if self.cluster:
            self._controller_pid = _controller_pid(directory)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self._socket_path)
        except OSError as exc:
            sock.close()
            if self.cluster:
                raise errors.ClusterError(_unreachable(self.cluster, directory, exc)) from None
            raise errors.ClusterError(f"cannot reach the cluster at {self._socket_path}: {exc}") from None
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _, uid, _ = struct.unpack("3i", creds)
            if uid != os.getuid():
                raise errors.ClusterError(f"refusing a controller run by uid {uid}, not {os.getuid()}")
            sock.sendall(protocol.encode(protocol.hello(os.getpid())))
            sock.settimeout(self._timeout)
            decoder = protocol.FrameDecoder()
            welcome = None
            while welcome is None:
                data = sock.recv(1 << 16)
                if not data:
                    raise errors.ClusterError(self._failure_reason(None))
                decoder.feed(data)
                frames = decoder.frames()
                for index, frame in enumerate(frames):
                    if frame.kind == protocol.REFUSED:
                        reason = frame.segments[0].decode() if frame.segments else ""
                        raise errors.ClusterError(f"the controller refused this client: {reason}")
                    if frame.kind == protocol.WELCOME:
                        welcome = frame
                        rest = frames[index + 1:]
                        break
            sock.settimeout(None)
        except socket.timeout:
            sock.close()
            raise errors.ClusterError(f"the cluster did not answer within {self._timeout} s") from None
        except OSError as exc:  # the controller ended as this client connected
            sock.close()
            raise errors.ClusterError(self._failure_reason(exc)) from None
        except BaseException:
            sock.close()
            raise
        self.python = welcome.segments[2].decode() if len(welcome.segments) > 2 else ""
        for line in welcome.segments[3:]:
            row = protocol.EngineRow.parse(line)
            if row is not None:
                self._engines[row.id] = row
        self._live = None
        self._sock = sock
        self._decoder = decoder
        self._poller = _new_poller(sock)
        if rest:
            finished: list = []
            self._dispatch(rest, finished)
            _finish_all(finished)

    # ------------------------------------------------------------------
    # Reading: whoever waits reads, unless the reader thread does

    def _wait_for(self, predicate: Callable[[], bool], timeout: Optional[float] = None, *, spin: bool = True,
                  answer: Optional[AsyncResult] = None) -> bool:
        """Wait until predicate() holds or `timeout` s; return it. predicate() must stay true once it
        holds (it is checked without the lock after a read).

        The waiting thread reads the connection itself when no other thread does. A done-callback
        that waits on another result runs with the read side released, so it can read in turn.
        `spin`: the caller waits for a reply it asked for (see _Spin); not the reader thread.
        `answer`: the result waited for (see _read_some).
        """
        self._waited_since_submit = True
        if self._outgoing:
            self._flush()
        deadline = None if timeout is None else time.monotonic() + timeout
        condition, lock = self._task_condition, self._lock
        me = threading.get_ident()
        while True:
            finished: list = []
            reading = nested = False
            try:
                with lock:  # the condition's lock (entering the Condition itself adds a Python call)
                    while True:
                        if predicate():
                            return True
                        if self._closed or self._sock is None:
                            return predicate()
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            return False
                        # Or this thread's claim already: one a Ctrl-C left right after it was taken, or
                        # a read of this thread's further down the stack, in which a signal's handler
                        # runs (a nested read: see _reads_further_down).
                        if self._reading is None or self._reading == me:
                            nested = self._reading == me and self._reads_further_down()
                            self._reading = me
                            reading = True
                            break
                        condition.wait(remaining if remaining is None else min(remaining, _LONGEST_WAIT))
                self._read_some(finished, predicate, deadline, spin, answer, nested)
            finally:
                try:
                    if nested:
                        self._wake_outer_read()  # the outer read keeps its claim
                    elif reading and self._reading == me:  # unless given back with the answer
                        self._release_reading()
                finally:  # also when a Ctrl-C cut the read or the release short
                    if finished:  # their done-callbacks run here, with the read side free
                        _finish_all(finished)
            if predicate():
                return True

    def _read_some(self, finished: list, predicate: Callable[[], bool], deadline: Optional[float], spin: bool = False,
                   answer: Optional[AsyncResult] = None, nested: bool = False) -> None:
        """Read frames until one batch finished results or predicate() holds; the results finished go
        into `finished` (the caller's, filled while a Ctrl-C is put off: a returned list would be lost
        to one that came as the read returned), for the caller to _finish.

        The caller holds the read side. Every wait is in poll(), so the socket stays blocking. A
        recv() that blocks would also be woken each time the controller takes in what this side sent
        (Linux wakes a Unix socket's readers on write space too): one more wake-up per call.
        A signal's handler may use this client while a read of its thread waits or takes in: a
        `nested` read (see _reads_further_down), which may take in what the outer read waits for. It
        waits with a poll object of its own (the outer one may be in the connection's poll(), where
        Python runs a handler and then waits on, PEP 475; a poll object refuses a second, nested
        poll()) and does not spin; when it ends, its caller's ping wakes the outer one
        (_wake_outer_read). A read's recv_into does not block (a nested read may have taken what
        poll() saw), and it looks at predicate() at least every _WAIT_SLICE s.
        With `spin`, the first wait polls for a while before it sleeps (see _Spin). `answer`: a
        recorded result the caller waits for (see _submit): a read that is its whole answer in one
        frame (the usual case) settles it and gives the read side back at once.
        """
        sock, decoder = self._sock, self._decoder
        if sock is None:
            return
        reason = None
        in_main = _get_ident() == _MAIN_THREAD  # the only thread a signal's handler runs in
        if in_main and _sigint_handler() is not _PutOff.seen:
            _PutOff.replace_default_handler()
        # Only a read in the main thread can have one nested in it (see above).
        longest, longest_ms = (_WAIT_SLICE, _WAIT_SLICE_MS) if in_main else (_LONGEST_WAIT, None)
        poller = _new_poller(sock) if nested else self._poller
        spin = spin and not nested  # a spin polls the connection's poll object
        # From a recv_into to the record of what it read: a Ctrl-C is put off
        # (_put_off_while_a_read_takes_in reads this name), and a failure loses bytes.
        taking_in = False
        try:
            if spin:
                began, budget = time.perf_counter(), _SPIN.budget()
                caught = budget > 0 and self._poll_briefly(budget)
            while True:
                if deadline is None:
                    ready = poller.poll(longest_ms)
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        if spin:
                            _SPIN.ended(time.perf_counter() - began, budget > 0, False)
                        return
                    # In whole milliseconds, rounded up; a longer wait goes on after this one.
                    ready = poller.poll(math.ceil(min(remaining, longest) * 1000))
                if not ready:
                    if predicate():  # a nested read took it in
                        return
                    continue
                # Into one buffer kept for the connection: recv(256 KiB) would allocate (mmap) a
                # new one, shrink it (mremap) and free it (munmap) for every read.
                taking_in = True
                try:
                    received = sock.recv_into(self._receiving, 0, _DONT_WAIT)
                except BlockingIOError:  # a nested read took in what poll() saw
                    taking_in = False
                    if predicate():
                        return
                    continue
                if answer is not None and self._took_whole_answer(received, answer):
                    if answer._state is not _FINISHED:
                        finished.append(answer)
                    if _PutOff.pending:
                        taking_in = False
                        _PutOff.deliver()
                    if spin:
                        _SPIN.ended(time.perf_counter() - began, budget > 0, caught)
                    return
                frames = decoder.decode(self._received[:received]) if received else None
                if frames:
                    self._dispatch(frames, finished)
                taking_in = False
                if _PutOff.pending:
                    _PutOff.deliver()
                if spin:
                    _SPIN.ended(time.perf_counter() - began, budget > 0, caught)
                    spin = False
                if not received:
                    break  # the controller's end of file
                if finished or predicate():
                    return
            reason = self._failure_reason(None)  # it may wait a second
        except BaseException as exc:
            # A Ctrl-C is not put off from here on (closing runs done-callbacks); one that was is raised
            # after the close, or is this exception itself.
            took_in, taking_in = taking_in, False
            if isinstance(exc, OSError) and self._closed:
                _PutOff.deliver()
                return
            if not took_in or not isinstance(exc, Exception):
                # A Ctrl-C (put off until the take-in ended), or an exception a signal's handler raised in
                # a wait (a SIGALRM timeout's; TimeoutError is an OSError): nothing read is lost, so it goes
                # to the caller, which finishes the results this read completed (in `finished`).
                if _PutOff.pending and _get_ident() == _MAIN_THREAD:
                    _PutOff.pending = False  # this exception stands for it
                raise
            # A failure once bytes were read must not leave results waiting forever for them.
            if isinstance(exc, OSError):
                reason = self._failure_reason(exc)
            elif isinstance(exc, protocol.ProtocolError):
                reason = f"the controller sent an invalid frame: {exc}"
            else:
                reason = f"the client's reader failed: {type(exc).__name__}: {exc}"
        self._close(reason)
        _PutOff.deliver()  # a Ctrl-C that came as the failed read took in

    def _reads_further_down(self) -> bool:
        """Whether a frame of this client further down this thread's stack holds the read side: then a
        signal's handler runs in it, and a read here is nested in that one (not a claim that a Ctrl-C
        left behind). Looked at only when this thread finds the claim its own."""
        frame = sys._getframe(2)  # below the caller's
        while frame is not None:
            if frame.f_code in _HOLDING_READ_CODES and frame.f_locals.get("self") is self:
                return True
            frame = frame.f_back
        return False

    def _wake_outer_read(self) -> None:
        """After a nested read (see _read_some): a ping (an empty status request, whose reply nobody
        waits for), which wakes the outer read's wait at once. Not while a send is under way: the
        handler may have cut this thread's own send short (its lock would never come free); the outer
        read then looks again within _WAIT_SLICE."""
        with self._lock:
            if self._closed or self._sock is None:
                return
            request = self._next_request
            self._next_request += 1
        if not self._send_lock.acquire(blocking=False):
            return
        try:
            self._sock.sendall(protocol.encode(protocol.control(protocol.CTL_STATUS, request)))
        except (OSError, AttributeError):
            pass  # the outer read finds the failure
        finally:
            self._send_lock.release()

    def _failure_reason(self, failure: Optional[OSError]) -> str:
        """Why the connection ended: `failure` of a send or receive, or None for the controller's end of file."""
        if failure is not None and not isinstance(failure, (BrokenPipeError, ConnectionResetError)):
            where = f"the cluster {self.cluster!r}" if self.cluster else "the cluster"
            return f"the connection to {where} failed: {failure}"
        pid = self._controller_pid
        if not self.cluster or pid is None:
            return "the controller closed the connection"
        if _controller_pid(os.path.dirname(self._socket_path)) != pid:
            # A controller that stops removes its files before it closes its connections.
            return f"the cluster {self.cluster!r} was stopped (its controller closed the connection)"
        if _wait_until_gone(pid, timeout=1):
            return _controller_gone(self.cluster, pid)
        return f"the controller of cluster {self.cluster!r} closed the connection"

    @staticmethod
    def _spin_pays_for(tasks: int) -> bool:
        return _SPIN.pays_for(tasks)

    def _poll_briefly(self, seconds: float) -> bool:
        """Whether input arrives within `seconds`, polling without sleeping; the CPU goes to any
        other task that is runnable on it meanwhile."""
        poll, now, pass_cpu = self._poller.poll, time.perf_counter, os.sched_yield
        end = now() + seconds
        while not poll(0):
            if now() >= end:
                return False
            pass_cpu()
        return True

    def _poll(self) -> None:
        """Take in what has arrived, without waiting, when no other thread is reading."""
        self._waited_since_submit = True
        if self._outgoing:
            self._flush()
        me = threading.get_ident()
        if self._reading not in (None, me) or self._sock is None or self._closed:
            return
        finished: list = []
        reading = nested = took_in = False
        try:
            with self._lock:
                if self._reading not in (None, me) or self._sock is None:
                    return
                # As in _wait_for: a claim this thread left is taken again; a nested read keeps it.
                nested = self._reading == me and self._reads_further_down()
                self._reading = me
                reading = True
            poller = _new_poller(self._sock) if nested else self._poller  # see _read_some
            ready = poller.poll(0)
            while ready:
                took_in = True
                self._read_some(finished, lambda: True, None, False, None, nested)
                if self._sock is None:
                    break
                ready = poller.poll(0)
        finally:
            try:
                if nested:
                    if took_in:  # what the outer read waits for may be among it
                        self._wake_outer_read()
                elif reading:
                    self._release_reading()
            finally:  # also when a Ctrl-C cut the read or the release short
                if finished:
                    _finish_all(finished)

    def _start_reader(self) -> None:
        """Results must complete with nobody waiting on them (done-callbacks, futures.wait): from
        now on a daemon thread reads."""
        self._waited_since_submit = True
        if self._outgoing:
            self._flush()
        if self._reader is not None or self._closed:
            return
        with self._lock:
            if self._reader is not None or self._closed:
                return
            self._reader = _start_thread(self._read, "pxsh-client-reader")

    def _read(self) -> None:
        while not self._closed:
            self._wait_for(lambda: self._closed is not None, spin=False)

    def _dispatch(self, frames: List[protocol.Frame], finished: list) -> None:
        """Record frames; the results whose last task replied go into `finished` (the caller finishes them)."""
        with self._lock:
            self._record(frames, finished)
            _notify_waiters(self._task_condition)

    def _record(self, frames: List[protocol.Frame], finished: list) -> None:
        tasks = self._tasks
        for frame in frames:
            kind = frame.kind
            if kind == _REPLY:
                entry = tasks.pop(frame.id, None)
                if entry is not None and entry[0]._record_reply(entry[1], frame):
                    finished.append(entry[0])
            elif kind == _ANSWER:
                result = self._awaiting.get(frame.id)
                if result is not None and result._take_answer(frame):
                    del self._awaiting[frame.id]
                    if result._state is not _FINISHED:  # _take_answer may have settled it
                        finished.append(result)
                else:  # output, a failure, or nobody waits for it: its frames one by one
                    self._record(protocol.frames_in(frame), finished)
            elif kind == _ACCEPTED:
                result = self._awaiting.pop(frame.id, None)
                if result is not None:
                    first, count = protocol.accepted(frame)
                    for index in range(min(count, len(result._tasks))):
                        tasks[first + index] = (result, index)
                    result._accept(first)
            elif kind == protocol.STREAM:
                entry = self._tasks.get(frame.id)
                if entry is not None and frame.segments:
                    entry[0]._record_output(entry[1], frame.op, frame.segments[0])
            elif kind == protocol.CONTROL_REPLY:
                future = self._controls.pop(frame.id, None)
                if future is not None:
                    future.set_result(list(frame.segments))
            elif kind == protocol.EVENT:
                self._event(frame)

    def _event(self, frame: protocol.Frame) -> None:
        self._live = None  # the engines may have changed
        if frame.op == protocol.EVENT_ENGINE_STARTED and frame.segments:
            row = protocol.EngineRow.parse(frame.segments[0])
            if row is not None:
                self._engines[row.id] = row
        elif frame.op == protocol.EVENT_ENGINE_DIED:
            row = self._engines.get(frame.engine)
            if len(frame.segments) > 2:
                # A lost remote engine leaves the cluster: nothing can start it again.
                self._engines.pop(frame.engine, None)
            elif row is not None:
                restarting = bool(frame.flags & protocol.RESTARTING)
                self._engines[frame.engine] = row._replace(state="starting" if restarting else "dead")
        elif frame.op == protocol.EVENT_ENGINE_REMOVED:
            self._engines.pop(frame.engine, None)
        elif frame.op == protocol.EVENT_TASK_RETRIED:
            entry = self._tasks.get(frame.id)
            if entry is not None:
                result = entry[0]
                result.notices = [*result.notices, f"task {entry[1]} retried after engine {frame.engine} died"]
        elif frame.op == protocol.EVENT_NOTICE and frame.segments:
            self.notices.append(frame.segments[0].decode("utf-8", "replace"))

    def _close(self, reason: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = reason
            sock, self._sock = self._sock, None
            pending = list(self._awaiting.values()) + [entry[0] for entry in self._tasks.values()]
            controls = list(self._controls.values())
            self._awaiting.clear()
            self._tasks.clear()
            self._controls.clear()
            self._task_condition.notify_all()
        self._flush_wanted.set()  # the flusher thread, if any, sees the close and ends
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        error = errors.ClusterError(reason)
        for result in {id(r): r for r in pending}.values():
            result._fail_all(error)
        for future in controls:
            if not future.done():
                future.set_exception(error)

    def _send(self, data: Optional[bytes]) -> None:
        """Send an encoded frame after the submissions held back (None: just those), in order."""
        try:
            with self._send_lock:
                outgoing = self._outgoing
                if outgoing:
                    if data is not None:
                        outgoing.append(data)
                    data = b"".join(outgoing)
                    outgoing.clear()
                elif data is None:
                    return
                self._sock.sendall(data)
        except (OSError, AttributeError) as exc:
            self._close(self._closed or self._failure_reason(exc if isinstance(exc, OSError) else None))
            raise errors.ClusterError(self._closed) from None

    def _flush(self) -> None:
        """Send the submissions held back, if any."""
        if self._outgoing:
            try:
                self._send(None)
            except errors.ClusterError:
                pass  # the results waiting on them have failed with the reason

    def _flush_later(self) -> None:
        # Held-back submissions go within _FLUSH_DELAY even if nobody waits on them.
        while not self._closed:
            self._flush_wanted.wait()
            self._flush_wanted.clear()
            time.sleep(_FLUSH_DELAY)
            self._flush()

    # ------------------------------------------------------------------
    # Requests (used by the views)

    def _submit(self, result: AsyncResult, op: int, *, targets=(), balanced=False, retries=None,
                shared=(), per_task=(), init: Optional[tuple] = None) -> AsyncResult:
        """Send a request for `result`, which the caller does not wait for at once (see _submit_and_wait).

        `init`: the arguments of `result.__init__` after the client, not yet called. When no other thread
        reads and the request would go out at once, this thread holds the read side while it sends the
        request first, then makes and records the result (work done while the engines run costs the round
        trip almost nothing; before the send, all of it): no thread can take the answer before the result is
        recorded.
        """
        if self._sock is None or self._forked:
            self._ensure_connected()
        # A Ctrl-C may come at any line: these say what is left to undo.
        request = None
        holding = sent = made = recorded = interrupted = False
        try:
            with self._lock:
                if self._closed:
                    raise errors.ClusterError(self._closed)
                request = self._next_request
                self._next_request += 1
                # Not while submissions are batched (see below): they go out after they are recorded.
                if self._reading is None and self._waited_since_submit and not self._outgoing:
                    me = threading.get_ident()
                    holding = True  # before the claim: a Ctrl-C between the two leaves none behind
                    self._reading = me
            data = protocol.encode_submission(op, request, targets, balanced, retries, shared, per_task,
                                              not balanced or len(per_task) == 1)
            if holding:
                submitted = time.time()
                self._waited_since_submit = False
                self._send(data)
                sent = True
            if init is not None:
                result.__init__(self, *init)
                if holding:
                    result.submitted = submitted  # when it went out, not when it was made after that
            made = True
            with self._lock:
                self._record_request(result, request)
                recorded = True
                closed = self._closed
                if holding:
                    self._reading = None
                    _notify_waiters(self._task_condition)
            if closed:  # while the request went out: _close failed the results it knew
                result._fail_all(errors.ClusterError(closed))
            if sent:
                return result
            # Submissions made one after another with no wait between them (a loop of apply_async) go
            # out together: one write, and one wake-up of the controller, per batch (_send, or the
            # flusher thread within _FLUSH_DELAY).
            with self._send_lock:
                held_back = self._outgoing
                batched = bool(held_back) or not self._waited_since_submit
                if batched:
                    held_back.append(data)
                    sent = True
                    if len(held_back) == 1:
                        self._wake_flusher()
                full = batched and len(held_back) >= _BATCH_FRAMES
                self._waited_since_submit = False
            if full or not batched:
                self._send(None if batched else data)
                sent = True
            return result
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if interrupted:
                self._undo_interrupted_submit(result, request, init, sent, made, recorded, me if holding else None,
                                              False)
            elif holding and self._reading == me:  # unless given back with the record
                self._release_reading()

    def _submit_and_wait(self, result: AsyncResult, op: int, targets: List[int], shared, init: tuple) -> AsyncResult:
        """Send a direct request that the caller waits for next (block=True), and read until a result
        finishes, usually its own: a direct request's answer is one frame. What is left of the wait goes
        on in _wait_for (result._wait_done).

        As _submit does, this thread holds the read side from before the send until the result is made
        and recorded; then it reads on with it. While another thread reads, it is _submit.
        """
        if self._sock is None or self._forked:
            self._ensure_connected()
        me = _get_ident()
        # A Ctrl-C may come at any line: these say what is left to undo.
        request = None
        holding = sent = made = recorded = interrupted = False
        finished: list = []
        try:
            with self._lock:
                if self._closed:
                    raise errors.ClusterError(self._closed)
                if self._reading is None:
                    request = self._next_request
                    self._next_request = request + 1
                    holding = True  # before the claim: a Ctrl-C between the two leaves none behind
                    self._reading = me
            if not holding:
                return self._submit(result, op, targets=targets, shared=shared, init=init)
            data = protocol.encode_submission(op, request, targets, False, None, shared, (), True)
            submitted = time.time()
            self._waited_since_submit = True
            self._send(data)
            sent = True
            result.__init__(self, *init)
            result.submitted = submitted  # when it went out, not when it was made after that
            made = True
            with self._lock:
                self._record_request(result, request)
                recorded = True
                closed = self._closed
            if closed:  # while the request went out: _close failed the results it knew
                result._fail_all(errors.ClusterError(closed))
            else:
                self._read_some(finished, result._complete, None, _SPIN.pays_for(result._task_count), result)
            return result
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            try:
                if interrupted:
                    self._undo_interrupted_submit(result, request, init, sent, made, recorded, me if holding else None,
                                                  True)
                elif holding and self._reading == me:  # unless given back with the answer
                    self._release_reading()
            finally:  # also when a Ctrl-C cut the above short: done-callbacks run with the read side free
                if finished:
                    _finish_all(finished)

    def _undo_interrupted_submit(self, result: AsyncResult, request: Optional[int], init: Optional[tuple],
                                 sent: bool, made: bool, recorded: bool, holder: Optional[int], waited: bool) -> None:
        """After a Ctrl-C in a submit: a request that went out gets its result recorded (made if need be),
        for its tasks to be interrupted, before the read side is given back (`holder`: the thread that held
        it for the submit, if one did), for a thread that reads next to find it; then _undo_submit."""
        if not recorded and request is not None and self._awaiting.get(request) is result:
            recorded = True  # a Ctrl-C came between the record and its flag
        elif sent and not recorded:
            if not made and init is not None:
                result.__init__(self, *init)
            with self._lock:
                self._record_request(result, request)
            recorded = True
        if holder is not None and self._reading == holder:  # unless given back with the record or the answer
            self._release_reading()
        if recorded:
            self._undo_submit(result, request, sent, waited)

    def _took_whole_answer(self, received: int, result: AsyncResult) -> bool:
        """Whether the `received` bytes just read are the whole answer to `result`'s request, in one
        frame (FrameDecoder.whole_answer), and settled it; if so the read side, which this thread held
        for it, is given back in the same lock. If not, the caller decodes them as any read."""
        taken = self._decoder.whole_answer(self._received, received, result._request, result._task_count)
        if taken is None:
            return False
        answer, first = taken
        with self._lock:
            if not result._take_answer(answer, first):
                return False
            self._awaiting.pop(result._request, None)
            self._reading = None
            _notify_waiters(self._task_condition)
        return True

    def _record_request(self, result: AsyncResult, request: int) -> None:
        """Expect the answer to `request` for `result`, and keep the result in history (under the lock)."""
        self._awaiting[request] = result
        result._request = request
        history = self.history
        history.append(result)
        if len(history) > HISTORY_LIMIT:
            del history[0]  # a move of HISTORY_LIMIT pointers: cheaper than the call around it
        self._made += 1
        result.number = self._made

    def _undo_submit(self, result: AsyncResult, request: int, sent: bool, waited: bool) -> None:
        """After a Ctrl-C in _submit, with the result recorded: a request that did not go out is
        withdrawn (its result cancelled: nothing will answer it); one that this thread waited for has
        its tasks interrupted, as _wait_done does."""
        if sent:
            if waited and not result._complete():
                self._interrupt(result)
            return
        with self._lock:
            if self._awaiting.pop(request, None) is None:
                return
            result._finished = True
        concurrent.futures.Future.cancel(result)
        result.set_running_or_notify_cancel()

    def _release_reading(self) -> None:
        with self._lock:
            self._reading = None
            _notify_waiters(self._task_condition)

    def _wake_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = _start_thread(self._flush_later, "pxsh-client-flusher")
        self._flush_wanted.set()

    def _control(self, op: int, *, engines=(), tasks=(), argument=None) -> list:
        future = self._send_control(op, engines=engines, tasks=tasks, argument=argument)
        self._wait_for(future.done)
        return future.result()

    def _send_control(self, op: int, *, engines=(), tasks=(), argument=None) -> concurrent.futures.Future:
        """Send a control request; the future of its reply, which whoever reads sets."""
        self._ensure_connected()
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise errors.ClusterError(self._closed)
            request = self._next_request
            self._next_request += 1
            self._controls[request] = future
        self._send(protocol.encode(protocol.control(op, request, engines=engines, tasks=tasks, argument=argument)))
        return future

    def _unfinished_ids(self, result: AsyncResult) -> List[int]:
        # The controller answers submissions at once; only a lost connection leaves this unset.
        self._wait_for(lambda: result._first_id is not None, 10)
        if result._first_id is None:
            return []
        return [result._first_id + i for i, task in enumerate(result._tasks) if task.reply is None]

    def _abort(self, result: AsyncResult) -> int:
        """Abort the result's tasks that have not started; the number still running."""
        ids = self._unfinished_ids(result)
        if not ids:
            return 0
        reply = self._control(protocol.CTL_ABORT, tasks=ids)
        return int(reply[0]) if reply and reply[0].isdigit() else 0

    def _any_running(self, result: AsyncResult) -> bool:
        """Whether the controller has one of the result's tasks on an engine (heading its queue)."""
        ids = self._unfinished_ids(result)
        statuses = self._control(protocol.CTL_STATUS, tasks=ids) if ids else []
        return any(status.startswith(b"running") for status in statuses)

    def _cancel(self, result: AsyncResult) -> bool:
        """Take back all of the result's tasks, or none if one has started or ended; whether it did."""
        ids = self._unfinished_ids(result)
        if not ids or len(ids) != len(result._tasks):
            return False
        reply = self._control(protocol.CTL_ABORT, tasks=ids, argument="whole")
        return len(reply) > 1 and reply[1] == str(len(ids)).encode()

    def _interrupt(self, *results: AsyncResult) -> None:
        """Ctrl-C while waiting: stop the results' tasks, and only those.

        Those that have not started are aborted; the controller's interrupt of tasks then SIGINTs
        only the engines running the others, with the task id, which an engine checks: another
        client's work on the cluster goes on. This repeats until none is left (for up to 10 s), as
        a task may start while the one before it stops. Both requests go out with SIGINT held back,
        so that a second Ctrl-C (GNU timeout sends two) cannot stop them half-sent; it ends the wait.
        """
        try:
            if self._closed or self._sock is None:
                return
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                ids = [task for result in results for task in self._unfinished_ids(result)]
                if not ids:
                    return
                with _sigint_held():
                    self._send_control(protocol.CTL_ABORT, tasks=ids)
                    self._send_control(protocol.CTL_INTERRUPT_TASKS, tasks=ids)
                replied = sum(result._replied_tasks for result in results)
                self._wait_for(lambda: sum(result._replied_tasks for result in results) > replied
                               or all(result._complete() for result in results), 0.5)
        except (errors.PxshError, KeyboardInterrupt):
            pass


def _finish_all(results: list) -> None:
    """_finish each of `results`, also those after one that a Ctrl-C (or a failing done-callback's
    caller) cut short; then raise the first such exception."""
    failure = None
    for result in results:
        try:
            result._finish()
        except BaseException as exc:
            failure = failure or exc
    if failure is not None:
        raise failure


_READ_CODE = Client._read_some.__code__  # _put_off_while_a_read_takes_in looks for it on the stack
_HOLDING_READ_CODES = frozenset(method.__code__ for method in (
    Client._wait_for, Client._poll, Client._read_some, Client._submit, Client._submit_and_wait))


@contextlib.contextmanager
def _sigint_held():
    """Holds SIGINT back in this thread while the block runs, so that a Ctrl-C cannot cut it short;
    one that came meanwhile raises KeyboardInterrupt (in the main thread) right after. It holds in
    the main thread only if no other thread takes SIGINT (see _start_thread): the kernel gives a
    signal to any thread that lets it through, and Python then raises it in the main thread."""
    # The mask read first, and the hold inside the try: a Ctrl-C that came just before the hold is
    # raised as its call returns, and must find SIGINT let through again.
    before = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        yield
    finally:
        if signal.SIGINT not in before:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _new_poller(sock: socket.socket) -> select.poll:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return poller


def _start_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """Start a daemon thread that never takes SIGINT: a Ctrl-C is the main thread's to take (and
    to hold back, see _sigint_held); a thread starts with the signal mask of the one that starts it."""
    with _sigint_held():
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
    return thread


def _session_shutdown_refusal(socket_path: str, called: str) -> str:
    """Why shutdown() (`called`) does not stop the cluster of this pxsh session, and what to do instead."""
    directory = os.path.dirname(socket_path)
    if os.path.basename(os.path.dirname(directory)) == "clusters":
        name = os.path.basename(directory)
        return (f"{called} would stop the cluster {name!r} this session is attached to, and the local "
                f"namespace with it: %exit leaves this session (the cluster runs on), and `pxsh cluster stop "
                f"--name {name}` in a shell stops the cluster")
    return (f"{called} would stop this session's own cluster, and the local namespace with it: %exit "
            "(or Ctrl-D) leaves pxsh, which stops it; pxsh.Client(cluster=NAME).shutdown() stops a named cluster")


def _after_fork_in_child() -> None:
    # The child shares the parent's socket: its clients must not use it (see _ensure_connected).
    for client in list(CLIENTS):
        client._forked = True
    # The thread that forked is the child's main thread (see _PutOff), with no read of its own going on.
    global _MAIN_THREAD
    _MAIN_THREAD = _get_ident()
    _PutOff.pending = False


os.register_at_fork(after_in_child=_after_fork_in_child)


def _flush_at_exit() -> None:
    # Submissions held back for the flusher thread (a daemon, gone at exit) go out before Python
    # ends: a script that submits and exits without waiting must not lose the last ones.
    for client in list(CLIENTS):
        if client._pid == os.getpid() and not client._forked:
            client._flush()


atexit.register(_flush_at_exit)


def _describe_ids(ids: List[int]) -> str:
    if not ids:
        return "none"
    if ids == list(range(ids[0], ids[-1] + 1)) and len(ids) > 2:
        return f"{ids[0]}-{ids[-1]}"
    return ", ".join(map(str, ids))
