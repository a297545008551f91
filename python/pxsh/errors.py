"""The exceptions of the pxsh client, with IPython Parallel's names."""

import concurrent.futures
import sys
from typing import List, Optional, Tuple


class PxshError(Exception):
    """Base of the client's own errors."""


class ClusterError(PxshError):
    """A cluster cannot be found, reached, or was closed or stopped."""


class NoEnginesRegistered(PxshError):
    """An operation that needs engines found none."""


class TimeoutError(concurrent.futures.TimeoutError, PxshError):
    """A result was not ready within the time asked; its tasks go on."""


class RemoteError(PxshError):
    """An exception raised by user code on an engine.

    ``ename`` and ``evalue`` are its type name and message, ``traceback``
    the traceback of the user's frames, ``engine_info`` has the engine id
    and the method (execute, apply, ...).
    """

    def __init__(self, ename: str, evalue: str, traceback: str, engine_info: Optional[dict] = None):
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.engine_info = engine_info or {}
        self.args = (ename, evalue)

    @property
    def engine_id(self) -> Optional[int]:
        return self.engine_info.get("engine_id")

    def __repr__(self) -> str:
        return f"<Remote[{self.engine_info.get('engine_id', ' ')}]:{self.ename}({self.evalue})>"

    def __str__(self) -> str:
        prefix = _engine_prefix(self.engine_info)
        line = f"{self.ename}: {self.evalue}" if self.evalue else self.ename
        text = prefix + line
        # A traceback of no frame (pxsh's own errors, as SerializationError) is that line again.
        if self.traceback and self.traceback.strip() and self.traceback.strip() != line:
            text += "\n" + self.traceback
        return text

    def render_traceback(self) -> List[str]:
        return (self.traceback or "No traceback available").splitlines()

    _render_traceback_ = render_traceback  # IPython shows this instead of the local traceback

    def print_traceback(self, excid=None) -> None:
        print("\n".join(self.render_traceback()))


class CompositeError(RemoteError):
    """Exceptions from several tasks; ``elist`` holds (ename, evalue, traceback, engine_info)."""

    tb_limit = 4

    def __init__(self, message: str, elist: List[Tuple[str, str, str, dict]]):
        Exception.__init__(self, message, elist)
        self.msg = message
        self.elist = elist
        self.ename, self.evalue, self.traceback, self.engine_info = elist[0]
        self.args = [e[0] for e in elist]

    def __str__(self) -> str:
        lines = [self.msg]
        for ename, evalue, _, info in self.elist[:self.tb_limit]:
            lines.append(f"{_engine_prefix(info)}{ename}: {evalue}")
        if len(self.elist) > self.tb_limit:
            lines.append(f".... {len(self.elist) - self.tb_limit} more exceptions ...")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CompositeError({len(self.elist)})"

    def render_traceback(self, excid=None) -> List[str]:
        chosen = self.elist[:self.tb_limit] if excid is None else [self.elist[excid]]
        lines = []
        for _, _, tb, info in chosen:
            lines.append(_engine_prefix(info).rstrip())
            lines.extend((tb or "No traceback available").splitlines())
            lines.append("")
        if excid is None and len(self.elist) > self.tb_limit:
            lines.append(f"... {len(self.elist) - self.tb_limit} more exceptions ...")
        return lines

    _render_traceback_ = render_traceback

    def raise_exception(self, excid: int = 0):
        try:
            ename, evalue, tb, info = self.elist[excid]
        except IndexError:
            raise IndexError(f"an exception with index {excid} does not exist") from None
        raise RemoteError(ename, evalue, tb, info)


class TaskAborted(RemoteError, concurrent.futures.CancelledError):
    """A task was aborted before it started (``abort()``, ``%abort``).

    It is a RemoteError, as in ipyparallel, and a concurrent.futures.CancelledError, so code
    written for futures catches it too.
    """


class EngineError(RemoteError):
    """A task's engine died, or there was no such engine."""


def _engine_prefix(info: dict) -> str:
    if not info:
        return ""
    engine = info.get("engine_id")
    return f"[{'-' if engine is None else engine}:{info.get('method', 'apply')}]: "


# The reply statuses of the failures pxsh reports itself (see docs/PROTOCOL.md), and their classes.
PXSH_FAILURES = {b"engine-error": EngineError, b"aborted": TaskAborted}


def remote_error(ename: str, evalue: str, traceback: str, engine_info: dict) -> RemoteError:
    """The RemoteError for a task whose Python code raised."""
    if ename == "SerializationError" and _ENGINE_CLOUDPICKLE in evalue:
        named = evalue + _client_cloudpickle()
        evalue, traceback = named, traceback.replace(evalue, named)
    return RemoteError(ename, evalue, traceback, engine_info)


# How the engine runtime's error begins when it cannot load a pickle this client's cloudpickle made.
_ENGINE_CLOUDPICKLE = "cannot load what the client pickled with cloudpickle"


def _client_cloudpickle() -> str:
    """Which cloudpickle pickled it, for the engine's error that names its own."""
    from .serialize import _cloudpickle_module
    cloudpickle = _cloudpickle_module()
    here = f"cloudpickle {getattr(cloudpickle, '__version__', '?')}" if cloudpickle else "no cloudpickle"
    return f" (this client, {sys.executable}, has {here})"


def task_error(status: bytes, ename: str, evalue: str, traceback: str, engine_info: dict) -> RemoteError:
    """The error of a task that did not end ok: pxsh's own failure (its kind is the status and it carries
    only a reason, in `ename`'s place), or the user's code's."""
    if status in PXSH_FAILURES:
        return PXSH_FAILURES[status](PXSH_FAILURES[status].__name__, ename, "", engine_info)
    return remote_error(ename, evalue, traceback, engine_info)


def collect(errors: List[RemoteError], method: str) -> CompositeError:
    elist = [(e.ename, e.evalue, e.traceback, e.engine_info) for e in errors]
    return CompositeError(f"one or more exceptions from call to method: {method}", elist)
