"""AsyncResult: the results of one request to the engines, as a concurrent.futures.Future.

The client's reader thread fills in each task's engine, output, timings and
reply as frames arrive; when the last task has replied the Future gets its
value (or its RemoteError / CompositeError). So ``as_completed``, ``wait``
and ``add_done_callback`` work as with any Future, and ipyparallel's
``get``, ``ready``, ``wait``, ``successful`` and friends read the same state.
"""

import collections
import concurrent.futures
import pickle
import struct
import sys
from concurrent.futures._base import CANCELLED as _CANCELLED
from concurrent.futures._base import CANCELLED_AND_NOTIFIED as _CANCELLED_AND_NOTIFIED
from concurrent.futures._base import FINISHED as _FINISHED
import time
from typing import Any, Callable, Iterator, List, Optional, Sequence

from . import errors, protocol, serialize


class _Task:
    """One task of a result: its engine, output, timing, and reply once it came.

    In a result made with `read_later` (a blocking execute looks at none of its replies), the slots
    a reply fills (started, completed, reply, value, error) stay unset until first looked at, so
    __getattr__ runs for them: it reads the task's reply, kept as its frame or in the result's
    whole answer (AsyncResult._take_answer), or says there is none yet.
    """

    __slots__ = ("engine", "started", "completed", "reply", "stdout", "stderr", "value", "error",
                 "frame", "owner")

    engine: Optional[int]
    started: int
    completed: int
    reply: Optional[list]  # segments after the timing, once replied
    stdout: str
    stderr: str
    value: Any
    error: Optional[errors.RemoteError]
    frame: Optional[protocol.Frame]  # a reply kept to be read later
    owner: Optional["AsyncResult"]  # the result that reads it, if it reads its replies later

    @staticmethod
    def for_engines(engines: Sequence[Optional[int]], reader: Optional["AsyncResult"] = None) -> List["_Task"]:
        """A new task per engine; with `reader`, its reply's slots unset. Made without __init__:
        called from C (the class), a Python __init__ cost 3k instructions a task, six times its stores."""
        tasks = []
        append, new = tasks.append, object.__new__
        for engine in engines:
            task = new(_Task)
            task.engine = engine
            task.stdout = task.stderr = ""
            task.frame = None
            task.owner = reader
            if reader is None:
                task.started = task.completed = 0
                task.reply = task.value = task.error = None
            append(task)
        return tasks

    def __getattr__(self, name: str):
        # Only for the reply's slots, unset: read the reply now (once, whichever thread asks).
        owner = self.owner
        if owner is None:
            raise AttributeError(name)
        with owner._client._lock:
            if owner._answer is not None:
                owner._open_answer()
            frame = self.frame
            if frame is not None:
                self.frame = None
                owner._read_reply(self, frame)
            else:
                try:
                    return object.__getattribute__(self, name)  # read meanwhile by another thread
                except AttributeError:  # no reply yet
                    self.started = self.completed = 0
                    self.reply = self.value = self.error = None
                    owner._looked_at_pending = True
        return object.__getattribute__(self, name)


_unpack_timing = struct.Struct("<QQ").unpack_from  # protocol.timing, without its call
# The start of a reply's uncut segments when its value is one pickle: segment count (4), timing,
# b"ok", the value blob's count (b"1"), the pickle's length; the pickle follows (protocol 5 begins
# with PROTO, where a shared-memory file's name would begin with 0).
_PLAIN_VALUE = struct.Struct("<IIQQI2sI1sI")
_PLAIN_VALUE_SIZE = _PLAIN_VALUE.size
_PICKLE_PROTO = pickle.PROTO[0]
_NO_ENGINE = protocol.NO_ENGINE
_FAILED = protocol.FAILED
_PENDING = "PENDING"
_SETTLED = (_FINISHED, _CANCELLED, _CANCELLED_AND_NOTIFIED)  # the states Future.done() is True in
# The fields concurrent.futures.Future.__init__ sets (CPython 3.8 and later); if a Python sets
# others, AsyncResult calls it instead of setting them itself.
_FUTURE_FIELDS_KNOWN = set(vars(concurrent.futures.Future())) == {
    "_condition", "_state", "_result", "_exception", "_waiters", "_done_callbacks"}


def _notify_waiters(condition) -> None:
    """condition.notify_all(), with its lock held; nothing when no thread waits on it (the common case of
    one thread, which would pay for notify_all's Python calls on every reply)."""
    if condition._waiters:  # threading.Condition's
        condition.notify_all()


class ExecuteReply:
    """What `execute` gives per engine, as in ipyparallel: the engine's execution count, the
    repr of the cell's last expression (``execute_result``; None without one) and its output."""

    __slots__ = ("execution_count", "_repr", "_task")

    def __init__(self, execution_count: int, value_repr: Optional[str]):
        self.execution_count = execution_count
        self._repr = value_repr
        self._task: Optional[_Task] = None

    @property
    def execute_result(self) -> Optional[dict]:
        return None if self._repr is None else {"data": {"text/plain": self._repr}}

    @property
    def engine_id(self) -> Optional[int]:
        return None if self._task is None else self._task.engine

    @property
    def stdout(self) -> str:
        return "" if self._task is None else self._task.stdout

    @property
    def stderr(self) -> str:
        return "" if self._task is None else self._task.stderr

    @property
    def metadata(self) -> dict:
        return {"engine_id": self.engine_id, "stdout": self.stdout, "stderr": self.stderr,
                "execution_count": self.execution_count}

    def __getitem__(self, key: str):
        return self.metadata[key]

    def __repr__(self) -> str:
        shown = "" if self._repr is None else f" {self._repr}"
        return f"<ExecuteReply[{self.execution_count}]:{shown}>"

    def __reduce__(self):
        # A copy without the result it came from, which holds the client (its lock and socket).
        return (_execute_reply_copy, (self.execution_count, self._repr, self.engine_id, self.stdout, self.stderr))

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(f"Out[{self.engine_id}:{self.execution_count}]: {self._repr}" if self._repr is not None
                     else repr(self))


def _execute_reply_copy(execution_count: int, value_repr: Optional[str], engine: Optional[int], stdout: str,
                        stderr: str) -> ExecuteReply:
    reply = ExecuteReply(execution_count, value_repr)
    task = _Task.for_engines([engine])[0]
    task.stdout, task.stderr = stdout, stderr
    reply._task = task
    return reply


_NOT_READ = object()  # the value of a result whose replies are kept unread (see _Task)


class _TasksWhenLookedAt:
    """The tasks of a result that reads its replies later, made when first looked at: a blocking
    execute, which looks at none, spent a fifth of its client instructions making them."""

    def __get__(self, result: Optional["AsyncResult"], owner=None):
        if result is None:
            return self
        # setdefault: two threads that look at once share the list that was stored first.
        return result.__dict__.setdefault("_tasks", _Task.for_engines(result._engines, result))


def _execute_reply(segments: list) -> ExecuteReply:
    # The execute op's reply: execution count, "1" when the cell had a value, its repr.
    count = int(segments[0]) if segments and segments[0].isdigit() else 0
    has_value = len(segments) > 2 and segments[1] == b"1"
    return ExecuteReply(count, segments[2].decode("utf-8", "backslashreplace") if has_value else None)


class AsyncResult(concurrent.futures.Future):
    """The eventual result of execute, apply, push, pull, scatter, gather or map.

    ``get(timeout)`` returns the value (one per engine for a multi-engine
    view, a single value for one engine or a load-balanced apply) or raises
    the remote error. It may be fetched any number of times.
    """

    # The fields that a new result has, and most keep for long, are the class's until one is set: a
    # store per field made __init__ the longest step of a call's bookkeeping. Most results get neither
    # a done-callback nor a notice: each is a list of its own once it does.
    _done_callbacks: Sequence[Callable] = ()
    notices: Sequence[str] = ()  # what happened to its tasks (a retry after an engine died)
    _state = _PENDING  # Future's, with _result and _exception (see __init__)
    _result: Any = None
    _exception: Optional[BaseException] = None
    _request: Optional[int] = None  # its request id, once sent (Client._record_request)
    number = 0  # its place in the client's history
    name: Optional[str] = None  # the local name of a magic's result
    _unread = 0  # replies kept to be read later
    _answer: Optional[protocol.Frame] = None  # an ANSWER taken whole, until a task is read
    _looked_at_pending = False  # a task's reply slots were looked at before it replied
    _replied = 0  # values replied (a map's task has several)
    _replied_tasks = 0
    _first_id: Optional[int] = None
    _finished = False  # a thread settles it (see _finish)
    _cancelling = False  # cancel() asked for all of the tasks to be taken back
    _ended_at: Optional[float] = None  # when the last reply came, if no task ran (see elapsed)
    _waiter_list: Optional["_Waiters"] = None  # made when first used (see _waiters)
    _tasks: List[_Task] = _TasksWhenLookedAt()  # a list of the result's own, once made

    def __init__(self, client, label: str, method: str, engines: Sequence[Optional[int]],
                 decode: Callable[[list], Any], single: bool = False,
                 combine: Optional[Callable[[List[Any]], Any]] = None, read_later: bool = False):
        """`read_later`: `decode` cannot fail, so a successful reply may be read when first looked at.
        The arguments may be positional: Client._submit passes a tuple of them (half the cost of keywords)."""
        self._client = client
        # Read on every call's path: set here, as Python 3.11 specializes the load of an instance's
        # attribute, not of a class's default.
        self._waiter_list = None
        self._looked_at_pending = False
        if _FUTURE_FIELDS_KNOWN:
            # Future.__init__'s fields: the client's condition instead of a new one per result (a
            # Condition costs more to make than the rest of a call; waits go through the client), the
            # others the class's but for those read on every call's path.
            self._condition = client._task_condition
            self._exception = None
            self._done_callbacks = ()
        else:
            super().__init__()
        self.label = label
        self.method = method
        if read_later:
            self._engines = engines  # callers do not change it
        else:
            self._tasks = _Task.for_engines(engines)
        self._task_count = len(engines)
        self._decode = decode
        self._read_later = read_later
        self._single = single
        self._combine = combine
        self.submitted = time.time()
        if not engines:
            self._finish()

    @property
    def _waiters(self) -> "_Waiters":
        """Future's waiters: concurrent.futures.wait and as_completed register here, and the reader
        thread must then run. Made when first used, as most results never have one."""
        waiters = self._waiter_list
        if waiters is None:
            waiters = self._waiter_list = _Waiters(self._client)
        return waiters

    @_waiters.setter
    def _waiters(self, waiters: list) -> None:  # Future.__init__ sets it, on a Python it calls
        self._waiter_list = _Waiters(self._client)
        self._waiter_list.extend(waiters)

    # ------------------------------------------------------------------
    # IPython Parallel's API

    @property
    def msg_ids(self) -> List[int]:
        """The controller's task ids, in task order (it accepts a submission at once; empty if the
        connection was lost first)."""
        if self._first_id is None and self._tasks:
            self._client._wait_for(lambda: self._first_id is not None, 10)
        if self._first_id is None:
            return []
        return list(range(self._first_id, self._first_id + len(self._tasks)))

    def ready(self) -> bool:
        """Whether every task has replied."""
        return self.done()

    def done(self) -> bool:
        """Whether every task has replied (takes in what has arrived first)."""
        if self._state in _SETTLED:
            return True
        self._client._poll()
        if self._complete():
            self._finish()
        return self._state in _SETTLED

    def add_done_callback(self, fn: Callable) -> None:
        """As for any Future; the callback may wait on other results."""
        if self._state not in _SETTLED:
            self._client._start_reader()  # nobody may wait on this result: it must complete by itself
        with self._client._lock:
            if type(self._done_callbacks) is tuple:
                self._done_callbacks = []
        super().add_done_callback(fn)

    def wait(self, timeout: Optional[float] = -1) -> bool:
        """Wait until ready or `timeout` seconds (-1 or None: no limit); return ready()."""
        if timeout is not None and timeout < 0:
            timeout = None
        return self._wait_done(timeout)

    def wait_interactive(self, interval: float = 0.1, timeout: Optional[float] = -1, widget=None) -> None:
        """Wait until ready or `timeout` seconds (-1 or None: no limit), printing the progress as
        ipyparallel's does, as plain text: a line redrawn every `interval` s on a terminal, else a
        line each time it changes (at most one a second). `widget` is accepted and ignored."""
        if timeout is not None and timeout < 0:
            timeout = None
        began = time.monotonic()
        redraw = sys.stdout.isatty()
        every = interval if redraw else max(interval, 1.0)
        shown = -1
        while True:
            ready = self.wait(every if timeout is None else max(0.0, min(every, began + timeout - time.monotonic())))
            waited = time.monotonic() - began
            done = self.progress
            ended = ready or (timeout is not None and waited >= timeout)
            line = f"{self.label}: {done}/{len(self)} tasks done, {waited:.1f} s"
            if redraw:
                sys.stdout.write("\r" + line + ("\n" if ended else ""))
            elif done != shown or ended:
                sys.stdout.write(line + "\n")
            shown = done
            sys.stdout.flush()
            if ended:
                return

    def running(self) -> bool:
        """Whether a task of it has started and not all have ended (concurrent.futures' running()).

        The controller is asked: it counts a task as started once it heads an engine's queue.
        """
        if self.done():
            return False
        if self._replied_tasks:
            return True
        return self._client._any_running(self)

    def get(self, timeout: Optional[float] = -1) -> Any:
        """The result, waiting up to `timeout` seconds (-1 or None: no limit).

        Raises TimeoutError if it is not ready by then (the tasks go on),
        and RemoteError or CompositeError if tasks failed.
        """
        if self._state != _FINISHED or self._exception is not None:
            error = self._outcome(timeout)
            if error is not None:
                raise error.with_traceback(None)  # the remote traceback is in the error; not this module's frames
        result = self._result
        return result if result is not _NOT_READ else self._read_values()

    def _outcome(self, timeout: Optional[float] = -1) -> Optional[BaseException]:
        """Wait as get() does; the remote error it raises, or None. It raises TimeoutError and
        CancelledError itself."""
        if timeout is not None and timeout < 0:
            timeout = None
        if not self._wait_done(timeout):
            closed = self._client._closed
            if closed:  # the wait ended as the connection did, before _close failed this result
                raise errors.ClusterError(closed)
            raise errors.TimeoutError(
                f"Result not ready after {timeout} s: {self.progress} of {len(self)} done; "
                "the tasks go on (wait() or get() again)")
        if self._state != _FINISHED:
            raise concurrent.futures.CancelledError()
        return self._exception

    def _read_values(self) -> Any:
        """The value of a result that settled with its replies unread: read them now, once."""
        with self._client._lock:
            if self._result is _NOT_READ:
                values = [task.value for task in self._tasks]
                failures = [task.error for task in self._tasks if task.error is not None]
                if failures:  # only a reply the controller garbled: see _read_reply
                    raise errors.collect(failures, self.method)
                self._result = values
            return self._result

    def _wait_done(self, timeout: Optional[float], *, interrupting: bool = True) -> bool:
        """Wait until ready or `timeout` s; Ctrl-C during it interrupts this result's tasks too,
        unless not `interrupting` (the caller interrupts them together with others)."""
        if self._state not in _SETTLED:  # read without the lock: a settled state never changes
            try:
                client = self._client
                if not client._wait_for(self._complete, timeout, spin=client._spin_pays_for(self._task_count),
                                        answer=self):
                    return False
            except KeyboardInterrupt:
                if interrupting and not self._complete():
                    self._client._interrupt(self)
                raise
            self._finish()
        return True

    def set_result(self, result: Any) -> None:
        """As concurrent.futures.Future.set_result, with the client's lock taken directly."""
        if not _FUTURE_FIELDS_KNOWN:
            return super().set_result(result)
        self._settle(result, None)

    def set_exception(self, exception: BaseException) -> None:
        """As concurrent.futures.Future.set_exception, with the client's lock taken directly."""
        if not _FUTURE_FIELDS_KNOWN:
            return super().set_exception(exception)
        self._settle(None, exception)

    def _settle(self, result: Any, exception: Optional[BaseException]) -> None:
        # Future.set_result/set_exception without the Condition's Python-level enter and exit and its
        # notify_all when no thread waits: the same state change, under the same lock.
        with self._client._lock:
            if self._state in _SETTLED:
                raise concurrent.futures.InvalidStateError(f"{self._state}: {self!r}")
            self._result = result
            self._exception = exception
            self._state = _FINISHED
            for waiter in self._waiter_list or ():
                if exception is None:
                    waiter.add_result(self)
                else:
                    waiter.add_exception(self)
            _notify_waiters(self._condition)
        if self._done_callbacks:
            self._invoke_callbacks()

    def _complete(self) -> bool:
        """Every task replied, or the Future is settled (cancelled, the connection lost)."""
        return self._replied_tasks == self._task_count or self._state in _SETTLED

    def result(self, timeout: Optional[float] = None) -> Any:
        """concurrent.futures' name for get()."""
        return self.get(timeout)

    def exception(self, timeout: Optional[float] = None):
        if timeout is not None and timeout < 0:
            timeout = None
        self._wait_done(timeout)
        return concurrent.futures.Future.exception(self, 0)

    def successful(self) -> bool:
        """Whether every task succeeded; only once ready, as in ipyparallel."""
        assert self.ready(), "the result is not ready yet (see wait())"
        return super().exception() is None

    def get_dict(self, timeout: Optional[float] = -1) -> dict:
        """{engine id: result}, as in ipyparallel; ValueError unless each engine gave one value."""
        values = self.get(timeout)
        if self._single:
            values = [values]
        engines = self._engines_of_values()
        if engines is None or len(engines) != len(values):
            raise ValueError(f"Cannot build dict, the values of this {self.label} are not one per task")
        counts = collections.Counter(engines)
        for engine in engines:
            if counts[engine] > 1:
                raise ValueError(f"Cannot build dict, {counts[engine]} jobs ran on engine #{engine}")
        return dict(zip(engines, values))

    def abort(self) -> None:
        """Abort the tasks that have not started; running ones go on."""
        if self.done():
            raise errors.PxshError("nothing to abort: the result is ready")
        self._client._abort(self)

    def cancel(self) -> bool:
        """Cancel the call if none of its tasks has started, as concurrent.futures does.

        True if it is cancelled (``cancelled()``; ``result()`` raises CancelledError); False if a
        task of it runs or ended, and then nothing is cancelled (``abort()`` takes back the tasks
        that have not started, as in ipyparallel).
        """
        if self.done():
            return self.cancelled()
        with self._client._lock:
            self._cancelling = True
        cancelled = False
        try:
            cancelled = self._replied_tasks == 0 and self._client._cancel(self)
        finally:
            if not cancelled:
                with self._client._lock:
                    self._cancelling = False
        if cancelled:
            self._wait_done(None)  # the tasks' aborted replies came before the answer: this settles it
        return self.cancelled()

    @property
    def progress(self) -> int:
        """Tasks (items, for a map) done so far."""
        self._client._poll()
        return self._replied

    @property
    def engine_id(self):
        ids = [task.engine for task in self._tasks]
        return ids[0] if self._single else ids

    @property
    def stdout(self):
        self._client._poll()
        values = [task.stdout for task in self._tasks]
        return values[0] if self._single else values

    @property
    def stderr(self):
        self._client._poll()
        values = [task.stderr for task in self._tasks]
        return values[0] if self._single else values

    @property
    def sent(self) -> bool:
        return self._first_id is not None

    @property
    def elapsed(self) -> float:
        """Seconds from submission to the last completion, or to when it ended without one (aborted,
        cancelled, the connection lost); to now while it runs."""
        if not self.done():
            return max(0.0, time.time() - self.submitted)
        ends = [task.completed for task in self._tasks if task.completed]
        end = max(ends) / 1e9 if ends else self._ended_at or self.submitted
        return max(0.0, end - self.submitted)

    @property
    def wall_time(self) -> float:
        """Seconds from the first task's start to the last one's end."""
        self._client._poll()
        starts = [task.started for task in self._tasks if task.started]
        ends = [task.completed for task in self._tasks if task.completed]
        if not starts or not ends:
            return 0.0
        return max(0.0, (max(ends) - min(starts)) / 1e9)

    @property
    def serial_time(self) -> float:
        """The sum of the tasks' durations: what running them one after another would take."""
        self._client._poll()
        return sum((task.completed - task.started) / 1e9 for task in self._tasks
                   if task.started and task.completed >= task.started)

    @property
    def metadata(self):
        """ipyparallel's per-task metadata: engine_id, submitted, started, completed (datetimes, None until
        then), stdout, stderr and error; one dict for a single engine or apply, else a list."""
        import datetime
        self._client._poll()
        submitted = datetime.datetime.fromtimestamp(self.submitted)
        rows = [{
            "engine_id": task.engine,
            "submitted": submitted,
            "started": datetime.datetime.fromtimestamp(task.started / 1e9) if task.started else None,
            "completed": datetime.datetime.fromtimestamp(task.completed / 1e9) if task.completed else None,
            "stdout": task.stdout,
            "stderr": task.stderr,
            "error": task.error,
        } for task in self._tasks]
        return rows[0] if self._single else rows

    @property
    def timings(self) -> List[tuple]:
        """(engine, started, completed) of each task, in real-time nanoseconds (0 until it ran)."""
        self._client._poll()
        return [(task.engine, task.started, task.completed) for task in self._tasks]

    def display_outputs(self, groupby: str = "type") -> None:
        """Print each task's stdout and stderr, as `[stdout:0] ...`."""
        streams = [("stdout", sys.stdout), ("stderr", sys.stderr)]
        if groupby == "engine":
            order = [(task, name, stream) for task in self._tasks for name, stream in streams]
        else:
            order = [(task, name, stream) for name, stream in streams for task in self._tasks]
        for task, name, stream in order:
            text = getattr(task, name)
            if text:
                engine = "-" if task.engine is None else task.engine
                stream.write(f"[{name}:{engine}] " + text.replace("\n", "\n" + " " * 0)
                             + ("" if text.endswith("\n") else "\n"))
        sys.stdout.flush()

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Any]:
        """The results, each as soon as it is there, in task order."""
        for index in range(len(self._tasks)):
            self._wait_task(index)
            yield from self._task_values(index)

    def __repr__(self) -> str:
        state = ("failed" if self.done() and not self.cancelled() and super().exception() else
                 "done" if self.done() else "pending")
        if self.cancelled():
            state = "cancelled"
        name = f"'{self.name}'" if self.name else f"#{self.number}"
        return f"<AsyncResult {name}: {self.label} on {self._scope()}, {state}>"

    # ------------------------------------------------------------------
    # Inside the package

    def _scope(self) -> str:
        engines = {task.engine for task in self._tasks if task.engine is not None}
        if self.method == "map" or any(task.engine is None for task in self._tasks):
            return f"{len(self._tasks)} task{'s' * (len(self._tasks) != 1)}"
        return f"{len(engines)} engine{'s' * (len(engines) != 1)}"

    def _engines_of_values(self) -> Optional[List[Optional[int]]]:
        """The engine that gave each value of get(), in order; None if the values are joined (gather)."""
        return None if self._combine is not None else [task.engine for task in self._tasks]

    def _task_values(self, index: int) -> List[Any]:
        task = self._tasks[index]
        if task.error is not None:
            raise task.error
        return [task.value]

    def _wait_task(self, index: int) -> None:
        task = self._tasks[index]
        if task.reply is None:
            self._interruptible(lambda: self._client._wait_for(lambda: task.reply is not None or self._complete()))
        if self._complete():
            self._finish()
        if self.cancelled():
            raise concurrent.futures.CancelledError()

    def _interruptible(self, wait):
        """Run a wait; Ctrl-C during it interrupts this result's tasks too."""
        try:
            return wait()
        except KeyboardInterrupt:
            if not self.done():
                self._client._interrupt(self)
            raise

    def _accept(self, first_id: int) -> None:
        self._first_id = first_id  # under the client's lock, which notifies its task condition

    def _record_output(self, index: int, stream: int, data: bytes) -> None:
        task = self._tasks[index]
        text = data.decode("utf-8", "backslashreplace")
        if stream == protocol.STDOUT:
            task.stdout += text
        else:
            task.stderr += text

    def _record_reply(self, index: int, frame: protocol.Frame) -> bool:
        """Record a task's reply; True when it was the last one."""
        task = self._tasks[index]
        if task.frame is not None or task.reply is not None:
            return False
        engine = frame.engine
        if engine != _NO_ENGINE or task.engine is None:
            task.engine = None if engine == _NO_ENGINE else engine
        if self._read_later and not frame.flags & _FAILED:
            task.owner = self
            task.frame = frame
            del task.started, task.completed, task.reply, task.value, task.error
            self._unread += 1
        else:
            self._read_reply(task, frame)
        self._replied += self._count_of(index)
        self._replied_tasks += 1
        if self._replied_tasks != self._task_count:
            return False
        if frame.flags & _FAILED:  # perhaps no task ran, and none has a completion time
            self._ended_at = time.time()
        return True

    def _take_answer(self, answer: protocol.Frame, first: Optional[int] = None) -> bool:
        """Take an ANSWER frame whole, if it holds only the ACCEPTED and one successful reply per task;
        whether it did. A result that reads its replies later keeps it unread, if its tasks' reply
        slots are still unset: the first of those looked at opens the answer (_open_answer), so per
        request, not per task, is all a blocking execute pays for its replies. A result of one task
        that reads at once (a call) reads the reply now (_take_reply). `first`: the answer's first
        task id, if the caller found it whole (FrameDecoder.whole_answer)."""
        if not self._read_later:
            return self._task_count == 1 and self._take_reply(answer, first)
        if self._looked_at_pending:
            return False
        count = self._task_count
        if first is None:
            first = protocol.whole_answer(answer, count)
            if first is None:
                return False
        self._answer = answer
        self._first_id = first
        self._unread = self._replied = self._replied_tasks = count
        if count > 1:
            self._settle_untold(_NOT_READ)
        return True

    def _take_reply(self, answer: protocol.Frame, first: Optional[int]) -> bool:
        """_take_answer for a result of one task that reads its reply at once."""
        if first is None:
            first = protocol.whole_answer(answer, 1)
        reply = None if first is None else protocol.only_reply(answer)
        if reply is None:
            return False
        self._first_id = first
        self._record_reply(0, reply)
        task = self._tasks[0]
        if task.error is None and self._combine is None:
            self._settle_untold(task.value if self._single else [task.value])
        return True

    def _settle_untold(self, value: Any) -> None:
        """Settle with `value` as _finish would, here under the client's lock already held, when there
        is no waiter or done-callback to tell (its waiting thread reads the state)."""
        if self._waiter_list is None and not self._done_callbacks:
            self._finished = True
            self._result = value
            self._state = _FINISHED

    def _open_answer(self) -> None:
        """Give each task its reply from the answer taken whole (under the client's lock)."""
        answer, self._answer = self._answer, None
        first, tasks = self._first_id, self._tasks
        replies = {}
        try:
            for frame in protocol.frames_in(answer):
                if frame.kind == protocol.REPLY:
                    replies[frame.id - first] = frame
            problem = None if set(replies) == set(range(len(tasks))) else "it does not hold one reply per task"
        except protocol.ProtocolError as exc:
            problem = str(exc)
        for index, task in enumerate(tasks):
            if problem is None:
                task.frame = frame = replies[index]
                if frame.engine != _NO_ENGINE:
                    task.engine = frame.engine
            else:
                self._garbled(task, problem)

    def _garbled(self, task: _Task, problem: object) -> None:
        task.started = task.completed = 0
        task.reply = []
        task.value = None
        task.error = errors.RemoteError("ProtocolError", f"the controller sent an invalid reply: {problem}", "",
                                        {"engine_id": task.engine, "method": self.method})

    def _read_reply(self, task: _Task, frame: protocol.Frame) -> None:
        """Fill in a task from its reply frame (all five slots that a kept reply leaves unset)."""
        task.value = task.error = None
        body = frame.segments
        if self._decode is _load_value and type(body) is bytes and len(body) > _PLAIN_VALUE_SIZE \
                and body[_PLAIN_VALUE_SIZE] == _PICKLE_PROTO:
            # A value in one pickle (a call's, usually), read without cutting the segments one by one.
            count, sixteen, started, completed, two, status, one, blob_count, size = _PLAIN_VALUE.unpack_from(body)
            if count == 4 and status == b"ok" and blob_count == b"1" and _PLAIN_VALUE_SIZE + size == len(body) \
                    and sixteen == 16 and two == 2 and one == 1:
                task.started, task.completed = started, completed
                data = body[_PLAIN_VALUE_SIZE:]
                task.reply = [status, blob_count, data]
                try:
                    task.value = pickle.loads(data)
                except BaseException as exc:
                    self._unloadable(task, exc)
                return
        try:
            segments = protocol.segments_of(frame)
        except protocol.ProtocolError as exc:
            self._garbled(task, exc)
            return
        task.started, task.completed = _unpack_timing(segments[0])
        reply = segments[1:]
        task.reply = reply
        if reply and reply[0] == b"ok":
            try:
                task.value = self._decode(reply[1:])
                if type(task.value) is ExecuteReply:
                    task.value._task = task
            except BaseException as exc:
                self._unloadable(task, exc)
        else:
            info = {"engine_id": task.engine, "method": self.method}
            text = [segment.decode("utf-8", "backslashreplace") for segment in reply[1:4]]
            text += [""] * (3 - len(text))
            status = reply[0] if reply else b""
            task.error = errors.task_error(status, text[0], text[1], text[2], info)

    def _unloadable(self, task: _Task, failure: BaseException) -> None:
        task.error = errors.RemoteError(type(failure).__name__, f"cannot load the result here: {failure}", "",
                                        {"engine_id": task.engine, "method": self.method})

    def _count_of(self, index: int) -> int:
        return 1

    def _tasks_in_order(self) -> List[_Task]:
        return self._tasks

    def _finish(self) -> None:
        """Give the Future its value once the last task has replied; whoever sees that first does."""
        while self._state not in _SETTLED:
            claimed = False
            try:
                with self._client._lock:
                    if self._state in _SETTLED:
                        return
                    if not self._finished:
                        self._finished = claimed = True  # one step: no Ctrl-C comes between the two
                if claimed:
                    self._give_value()
                    return
            except BaseException:
                if claimed:
                    # A Ctrl-C cut the settling short: the next _finish settles it, where it would have
                    # waited for good for a value never set (a plain store first, which nothing cuts
                    # short); a cancel is told to futures.wait; and a thread that waits for this one
                    # looks again, whether the value was set or not.
                    if self._state not in _SETTLED:
                        self._finished = False
                    elif self._state is _CANCELLED:
                        self.set_running_or_notify_cancel()
                    with self._condition:
                        self._condition.notify_all()
                raise
            # Another thread saw the last reply first and is combining the values (a large gather takes a
            # while): wait for the value it sets, or get() would find no value yet.
            with self._condition:
                self._condition.wait_for(lambda: concurrent.futures.Future.done(self) or not self._finished)

    def _give_value(self) -> None:
        """_finish's settling, by the one thread that does it."""
        tasks = self._tasks
        if self._cancelling and all(type(task.error) is errors.TaskAborted for task in tasks):
            concurrent.futures.Future.cancel(self)
            self.set_running_or_notify_cancel()  # wakes concurrent.futures.wait and as_completed
            return
        if len(tasks) == 1 and self._combine is None:  # one call: the common case
            task = tasks[0]
            if task.error is None:
                self.set_result(task.value if self._single else [task.value])
            else:
                self.set_exception(task.error if self._single else errors.collect([task.error], self.method))
            return
        if self._unread == len(tasks) and self._combine is None:  # all succeeded: values when asked for
            self.set_result(_NOT_READ)
            return
        failures = [task.error for task in tasks if task.error is not None]
        if failures:
            if self._single and len(failures) == 1:
                error = failures[0]
            else:
                error = errors.collect(failures, self.method)
            self.set_exception(error)
            return
        values = [task.value for task in self._tasks_in_order()]
        try:
            if self._combine is not None:
                value = self._combine(values)
            else:
                value = values[0] if self._single else values
        except BaseException as exc:
            self.set_exception(exc)
            return
        self.set_result(value)

    def _fail_all(self, error: errors.PxshError) -> None:
        """The connection is gone: unfinished tasks fail with `error`."""
        with self._client._lock:
            if self._finished or concurrent.futures.Future.done(self):
                return
            self._finished = True
            self._ended_at = time.time()
        for task in self._tasks:
            if task.reply is None:
                task.reply = []
                task.error = errors.RemoteError(
                    type(error).__name__, str(error), "", {"engine_id": task.engine, "method": self.method})
        self.set_exception(error)


class AsyncMapResult(AsyncResult):
    """A map's result: one task per chunk, iterable as results arrive.

    With ``ordered`` (the default) iteration follows the input order; without
    it, chunks come in the order they finish. ``balanced``: a load-balanced
    view's map (for %jobs: its tasks' engines are known only once they ran).
    """

    def __init__(self, client, *, label: str, engines: Sequence[Optional[int]], sizes: Sequence[int],
                 ordered: bool = True, balanced: bool = False):
        # Set before AsyncResult.__init__, which finishes a map of nothing at once.
        self._sizes = list(sizes)
        self._ordered = ordered
        self._balanced = balanced
        self._finish_order: List[int] = []
        super().__init__(client, label=label, method="map", engines=engines,
                         decode=_load_value, combine=_chain)

    def __len__(self) -> int:
        return sum(self._sizes)

    def _count_of(self, index: int) -> int:
        return self._sizes[index]

    def _engines_of_values(self) -> Optional[List[Optional[int]]]:
        if self._combine is not _chain:
            return None  # @parallel: the engines' blocks are joined into one value
        order = range(len(self._tasks)) if self._ordered else self._finish_order
        return [self._tasks[i].engine for i in order for _ in range(self._sizes[i])]

    def _tasks_in_order(self) -> List[_Task]:
        if self._ordered:
            return self._tasks
        return [self._tasks[i] for i in self._finish_order]

    def _task_values(self, index: int) -> List[Any]:
        task = self._tasks[index]
        if task.error is not None:
            raise task.error
        return task.value

    def _record_reply(self, index: int, frame: protocol.Frame) -> bool:
        if self._tasks[index].reply is None:
            self._finish_order.append(index)
        return super()._record_reply(index, frame)

    def __iter__(self) -> Iterator[Any]:
        if self._ordered:
            yield from super().__iter__()
            return
        for position in range(len(self._tasks)):
            self._interruptible(lambda: self._client._wait_for(
                lambda: len(self._finish_order) > position or self._complete()))
            if self._complete():
                self._finish()
            if self.cancelled():
                raise concurrent.futures.CancelledError()
            if position >= len(self._finish_order):
                return
            yield from self._task_values(self._finish_order[position])


class MagicResult(AsyncResult):
    """The AsyncResult of a magic run with `-o NAME` at the pxsh prompt (%map, %apply, %px).

    The prompt made the tasks and collected their replies; once the result is done it hands its
    record over to the home engine (values, errors, output, timings), and this is that record as
    a settled Future (``Client.result(NAME)``).
    """

    def __init__(self, client, name: str, record: dict):
        tasks = record["tasks"]
        super().__init__(client, label=record["label"], method=record["method"],
                         engines=[task["engine"] for task in tasks], decode=_load_value,
                         single=record["method"] == "apply")
        self.name = name
        self.number = record["number"]
        self.submitted = record["submitted"] / 1e9
        self._ended_at = record["ended"] / 1e9 or None  # what elapsed ends at when no task ran (all aborted)
        self.notices = list(record["notices"])
        self._first_id = record["first_id"]
        failures = []
        for task, fields in zip(self._tasks, tasks):
            task.started, task.completed = fields["started"], fields["completed"]
            task.stdout, task.stderr = fields["stdout"], fields["stderr"]
            task.reply = []
            info = {"engine_id": task.engine, "method": fields["operation"]}
            status = fields["status"].encode()
            if status == b"ok":
                if fields["execute"] is not None:
                    task.value = _execute_reply(fields["execute"])
                    task.value._task = task
            else:
                # pxsh's own failures have their reason in evalue here.
                reason = fields["evalue"] if status in errors.PXSH_FAILURES else fields["ename"]
                task.error = errors.task_error(status, reason, fields["evalue"], fields["traceback"], info)
            if task.error is not None:
                failures.append(task.error)
        values = record.get("values")
        self._replied_tasks = len(tasks)
        self._replied = len(values) if self.method == "map" and isinstance(values, list) else len(tasks)
        self._finished = True
        if concurrent.futures.Future.done(self):
            return  # no tasks: settled as an empty result
        if failures:
            self.set_exception(failures[0] if self._single and len(failures) == 1
                               else errors.collect(failures, self.method))
        elif self.method == "execute":
            self.set_result([task.value for task in self._tasks])
        else:
            self.set_result(values)

    def __len__(self) -> int:
        return self._replied if self.method == "map" else len(self._tasks)

    def _engines_of_values(self) -> Optional[List[Optional[int]]]:
        if self.method != "map":
            return super()._engines_of_values()
        # The record has no chunk sizes: one value per task is the only map whose engines are known.
        return [task.engine for task in self._tasks] if self._replied == len(self._tasks) else None

    def __iter__(self) -> Iterator[Any]:
        """A map's values (it is done); else one value per task."""
        values = self.get()
        yield from (values if self.method in ("map", "execute") else [values])


class _Waiters(list):
    """A Future's waiters; the first one starts the client's reader thread."""

    def __init__(self, client):
        super().__init__()
        self._client = client

    def append(self, waiter) -> None:
        self._client._start_reader()
        super().append(waiter)


def _load_value(segments: list) -> Any:
    """The decode of a reply whose value is a value blob (see _read_reply)."""
    return serialize.load(segments, 0)[0]


def _chain(chunks: List[list]) -> list:
    out: list = []
    for chunk in chunks:
        out.extend(chunk)
    return out
