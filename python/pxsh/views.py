"""DirectView and LoadBalancedView, with IPython Parallel's names and defaults.

A DirectView runs on explicit engines: execute, push, pull, scatter, gather,
apply and map (the sequence split into one contiguous block per engine). A
LoadBalancedView sends each task to whichever engine is free. Both default to
``block = False``: calls return an AsyncResult; ``*_sync`` waits and returns
the value, ``*_async`` never waits.

Functions, lambdas and closures travel by value (cloudpickle) and run in the
engine's namespace, so they see ``rank``, ``size`` and what ``%px`` defined.
"""

import builtins
import collections.abc
import contextlib
import operator
import sys
from typing import Any, Callable, Iterable, List, Optional, Sequence, Union

from . import errors, protocol, serialize
from .asyncresult import _FINISHED, AsyncMapResult, AsyncResult, _chain, _execute_reply, _load_value


_callable_name = serialize.callable_name


def _pack_call(func, args: tuple, kwargs: dict) -> List[bytes]:
    """The segments of a CALL: the function's blob, then (args, kwargs)'s."""
    if not callable(func):
        raise TypeError(f"{func!r} is not callable ({type(func).__name__})")
    fn_blob = serialize.function_blob(func)
    try:
        call_blob = serialize.dump_arguments(args, kwargs)
    except Exception as exc:
        name = _callable_name(func)
        for index, arg in enumerate(args):
            serialize.dump_named(arg, f"argument at index {index} of {name!r}")
        for key, arg in kwargs.items():
            serialize.dump_named(arg, f"argument {key!r} of {name!r}")
        raise serialize.SerializationError(
            f"cannot serialize the arguments of {name!r}: {type(exc).__name__}: {exc}") from None
    return fn_blob + call_blob


def _dump_items(items: list, first: int, name: str) -> List[bytes]:
    try:
        return serialize.dump(items)
    except Exception as exc:
        for offset, item in enumerate(items):
            serialize.dump_named(item, f"item at index {first + offset} of the sequence mapped with {name!r}")
        raise serialize.SerializationError(
            f"cannot serialize the items mapped with {name!r}: {type(exc).__name__}: {exc}") from None


def _none(segments: list) -> None:
    return None


def _split(value, n: int) -> list:
    """n contiguous blocks of value, the first len % n one item longer (numpy.array_split sizes)."""
    if hasattr(value, "iloc") and hasattr(value, "__len__"):
        blocks, length = value.iloc, len(value)
    elif isinstance(value, (list, tuple, range, str, bytes, bytearray)) or (
            hasattr(value, "ndim") and getattr(value, "ndim", 0) and hasattr(value, "__getitem__")):
        blocks, length = value, len(value)
    elif isinstance(value, (collections.abc.Mapping, set, frozenset)):
        # A dict would scatter its keys alone, a set in an arbitrary order.
        raise TypeError(f"cannot scatter a {type(value).__name__}: it is not a sequence "
                        "(scatter a list, tuple, range or array: list(d.items()), sorted(s))")
    else:
        try:
            blocks = list(value)
        except TypeError:
            raise TypeError(f"cannot scatter {type(value).__name__}: not a sequence") from None
        length = len(blocks)
    base, extra = divmod(length, n)
    parts, start = [], 0
    for i in range(n):
        stop = start + base + (i < extra)
        parts.append(blocks[start:stop])
        start = stop
    return parts


def _concat(parts: list):
    """Join gathered blocks back into one value of the blocks' kind."""
    if not parts:
        return []
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)
    if all(isinstance(p, bytes) for p in parts):
        return b"".join(parts)
    first = parts[0]
    if type(first).__module__ == "numpy" and all(getattr(p, "ndim", 0) for p in parts):
        import numpy
        return numpy.concatenate(parts)
    if hasattr(first, "iloc") and type(first).__module__.startswith("pandas"):
        import pandas
        return pandas.concat(parts)
    if all(isinstance(p, tuple) for p in parts):
        return tuple(x for p in parts for x in p)
    if all(isinstance(p, (list, tuple, range)) for p in parts):
        joined: list = []
        for p in parts:
            joined.extend(p)
        return joined
    return list(parts)


# A result of a call or an execute is made with this and its __init__ called from Python (by
# Client._submit): calling the class goes through C, which passes the keywords
# to __init__ in a new dict (4.6k instructions more per result, a few percent of a call).
_new_result = object.__new__


# The arguments of a load-balanced call's AsyncResult.__init__ (after the client), which Client._submit calls.
_BALANCED_CALL = ("apply", "apply", (None,), _load_value, True)


def _engine_id(target) -> int:
    """An engine id given as a target: an integer (numpy's too), not 1.0."""
    try:
        return operator.index(target)
    except TypeError:
        raise TypeError(f"engine ids are integers, not {type(target).__name__} ({target!r})") from None


def _engine_ids(targets) -> List[int]:
    """The engine ids of targets given as one id or a list of them."""
    return [_engine_id(target) for target in ([targets] if isinstance(targets, int) else targets)]


def _zip_items(sequences: Sequence[Iterable]) -> list:
    if not sequences:
        raise TypeError("map() needs at least one sequence")
    return list(zip(*sequences))


class View:
    """What both views share: block, wait, abort and the function decorators' plumbing."""

    def __init__(self, client):
        self.client = client
        self.block = client.block

    def _blocking(self, block: Optional[bool]) -> bool:
        return self.block if block is None else block

    def _result(self, result: AsyncResult, block: Optional[bool]):
        return result.get() if self._blocking(block) else result

    def use_cloudpickle(self):
        """Nothing to change: functions and classes defined interactively already travel by value
        with cloudpickle (ipyparallel's views switch to it here). As there, it is a call on the
        engines, whose result follows `block`."""
        return self.apply(type(None))  # a call that does nothing and returns None

    use_dill = use_cloudpickle

    def apply(self, f: Callable, *args, **kwargs):
        """Call f(*args, **kwargs); waits and returns the value if `block`, else an AsyncResult."""
        return self._result(self._apply(f, args, kwargs), None)

    def apply_async(self, f: Callable, *args, **kwargs) -> AsyncResult:
        """Call f(*args, **kwargs); return its AsyncResult at once."""
        return self._apply(f, args, kwargs)

    def apply_sync(self, f: Callable, *args, **kwargs):
        """Call f(*args, **kwargs) and return its value."""
        return self._apply(f, args, kwargs).get()

    def map_async(self, f: Callable, *sequences, **kwargs) -> AsyncMapResult:
        kwargs["block"] = False
        return self.map(f, *sequences, **kwargs)

    def map_sync(self, f: Callable, *sequences, **kwargs) -> list:
        kwargs["block"] = True
        return self.map(f, *sequences, **kwargs)

    def wait(self, jobs=None, timeout: Optional[float] = -1) -> bool:
        return self.client.wait(jobs, timeout)

    def abort(self, jobs=None) -> None:
        self.client.abort(jobs)

    @property
    def executor(self):
        """A concurrent.futures.Executor that submits through this view."""
        from .executor import ViewExecutor
        return ViewExecutor(self)

    def remote(self, block: Optional[bool] = None):
        """Decorator: calling the function runs it on the view's engines (like apply)."""
        def decorate(func):
            return RemoteFunction(self, func, block)
        return decorate

    def parallel(self, dist: str = "b", block: Optional[bool] = None):
        """Decorator: the function is called on a block of the sequence on each engine; f.map is elementwise."""
        if dist != "b":
            raise ValueError("pxsh distributes in contiguous blocks only (dist='b')")

        def decorate(func):
            return ParallelFunction(self, func, block)
        return decorate

    def _apply(self, f, args, kwargs) -> AsyncResult:
        raise NotImplementedError


class DirectView(View):
    """Runs on explicit engines; `targets` is 'all', an engine id or a list of ids.

    With a single engine id, results are single values; otherwise one per engine.
    """

    def __init__(self, client, targets):
        super().__init__(client)
        self.targets = targets
        self._checked: Optional[tuple] = None  # (targets, live ids, their engine ids): the last check

    def __repr__(self) -> str:
        return f"<DirectView {self.targets!r}>"

    def __len__(self) -> int:
        return len(self._targets())

    def _targets(self, targets=None) -> List[int]:
        """The engine ids of `targets` (the view's by default), checked against the live engines;
        the list is kept while neither changes, so callers must not change it."""
        targets = self.targets if targets is None else targets
        live = self.client._live_ids()
        checked = self._checked
        if checked is not None and checked[1] is live and checked[0] == targets:
            return checked[2]
        if targets == "all":
            if not live:
                raise errors.NoEnginesRegistered("this view's cluster has no engines")
            ids = live
        else:
            ids = _engine_ids(targets)
            known = set(live)
            for target in ids:
                if target not in known:
                    raise IndexError(f"No such engine: {target} (engines: {sorted(known) or 'none'})")
        # A copy of a list of targets: one the user changes in place must be checked again.
        self._checked = (list(targets) if isinstance(targets, list) else targets, live, ids)
        return ids

    def _is_single(self, targets=None) -> bool:
        targets = self.targets if targets is None else targets
        return isinstance(targets, int) and not isinstance(targets, bool)

    def _direct(self, op: int, label: str, method: str, decode, *, targets=None, shared=(), per_task=(),
                combine=None, read_later=False, wait=False) -> AsyncResult:
        ids = self._targets(targets)
        init = (label, method, ids, decode, self._is_single(targets), combine, read_later)
        if wait and not per_task:  # the caller waits for it next (block=True)
            return self.client._submit_and_wait(_new_result(AsyncResult), op, ids, shared, init)
        return self.client._submit(_new_result(AsyncResult), op, targets=ids, shared=shared, per_task=per_task,
                                   init=init)

    # --- code and data

    def execute(self, code: str, silent: bool = False, targets=None, block: Optional[bool] = None) -> AsyncResult:
        """Run code on each engine (like %px); its AsyncResult, once done if `block` (as in ipyparallel).

        Its value is an ExecuteReply per engine (one for an int view); a remote error raises.
        """
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        blocking = self.block if block is None else block  # _blocking(), without its call
        result = self._direct(protocol.OP_EXECUTE, "execute", "execute", _execute_reply, targets=targets,
                              shared=[code.encode()], read_later=True, wait=blocking)
        if blocking and (result._state is not _FINISHED or result._exception is not None):
            error = result._outcome()  # as get(), without reading the replies nobody may look at
            if error is not None:
                raise error.with_traceback(None)
        return result

    def push(self, ns: dict, targets=None, block: Optional[bool] = None):
        """Copy the names and values of the dict `ns` into each engine's namespace."""
        if not isinstance(ns, dict):
            raise TypeError(f"push takes a dict of names to values, not {type(ns).__name__}")
        for name in ns:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"invalid variable name {name!r}")
        try:
            blob = serialize.dump(ns)
        except Exception as exc:
            for name, value in ns.items():
                serialize.dump_named(value, repr(name))
            raise serialize.SerializationError(f"cannot serialize {', '.join(map(repr, ns))}: {exc}") from None
        result = self._direct(protocol.OP_IMPORT, "push", "push", _none, targets=targets, shared=blob,
                              read_later=True, wait=self._blocking(block))
        return self._result(result, block)

    def pull(self, names, targets=None, block: Optional[bool] = None):
        """The value of a name (or a list of values for a list of names) on each engine."""
        single_name = isinstance(names, str)
        keys = [names] if single_name else list(names)
        for key in keys:
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(f"invalid variable name {key!r}")
        segments: List[bytes] = []
        for key in keys:
            segments += [key.encode(), b""]

        def decode(reply):
            values = serialize.load(reply, len(keys))[0]
            return values[keys[0]] if single_name else [values[key] for key in keys]
        result = self._direct(protocol.OP_EXPORT, "pull", "pull", decode, targets=targets, shared=segments,
                              wait=self._blocking(block))
        return self._result(result, block)

    def __getitem__(self, name: str):
        """dv['a']: pull('a'), waiting."""
        return self.pull(name, block=True)

    def __setitem__(self, name: str, value) -> None:
        """dv['a'] = v: push({'a': v}), waiting."""
        self.push({name: value}, block=True)

    def update(self, ns: dict) -> None:
        self.push(ns, block=True)

    def get(self, name: str):
        return self.pull(name, block=True)

    def scatter(self, key: str, seq, targets=None, flatten: bool = False, block: Optional[bool] = None):
        """Split seq into contiguous blocks, one per engine, each stored as `key` there."""
        ids = self._targets(targets)
        parts = _split(seq, len(ids))
        per_task = []
        for index, part in enumerate(parts):
            value = part[0] if flatten and len(part) == 1 else part
            per_task.append(serialize.dump_named({key: value}, f"part at index {index} of {key!r}"))
        result = AsyncResult(self.client, label="scatter", method="scatter", engines=ids, decode=_none,
                             single=self._is_single(targets))
        self.client._submit(result, protocol.OP_IMPORT, targets=ids, per_task=per_task)
        return self._result(result, block)

    def gather(self, key: str, targets=None, block: Optional[bool] = None):
        """The blocks of `key` on each engine, joined in engine order (numpy-aware)."""
        def decode(reply):
            return serialize.load(reply, 1)[0][key]
        result = self._direct(protocol.OP_EXPORT, "gather", "gather", decode, targets=targets,
                              shared=[key.encode(), b""], combine=_concat, wait=self._blocking(block))
        return self._result(result, block)

    # --- functions

    def _apply(self, f, args, kwargs) -> AsyncResult:
        return self._direct(protocol.OP_CALL, "apply", "apply", _load_value, shared=_pack_call(f, args, kwargs))

    def map(self, f: Callable, *sequences, block: Optional[bool] = None, **unused):
        """f over the zipped sequences, one contiguous block per engine; results in order."""
        items = _zip_items(sequences)
        ids = self._targets()
        parts = [part for part in _split(items, len(ids))]
        name = _callable_name(f)
        fn_blob = serialize.function_blob(f)
        per_task, first = [], 0
        for part in parts:
            per_task.append(_dump_items(part, first, name))
            first += len(part)
        result = AsyncMapResult(self.client, label="map", engines=ids, sizes=[len(p) for p in parts])
        self.client._submit(result, protocol.OP_STARMAP, targets=ids, shared=fn_blob, per_task=per_task)
        return self._result(result, block)

    @contextlib.contextmanager
    def sync_imports(self, local: bool = True, quiet: bool = False):
        """Imports in the `with` block run here (if `local`) and on the view's engines."""
        original = builtins.__import__
        statements: List[str] = []
        user_frame = sys._getframe(2)  # this generator, contextlib's __enter__, the with statement

        def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0 and sys._getframe(1) is user_frame:
                if fromlist:
                    statements.append(f"from {name} import {', '.join(fromlist)}")
                else:
                    statements.append(f"import {name}")
            if local:
                return original(name, globals, locals, fromlist, level)
            import types
            return types.ModuleType(name)

        builtins.__import__ = recording_import
        try:
            yield
        finally:
            builtins.__import__ = original
        for statement in statements:
            if not quiet:
                print(f"{statement.replace('import', 'importing', 1) if statement.startswith('import') else statement}"
                      " on engine(s)")
            self.execute(statement, block=True)


class LoadBalancedView(View):
    """Each task goes to whichever engine is free (never the home engine); with `targets`, to
    whichever of those engines is free."""

    def __init__(self, client, targets: Optional[List[int]] = None):
        super().__init__(client)
        self.retries = 0
        self.targets = targets

    @property
    def targets(self) -> Optional[List[int]]:
        """The engines that may run its tasks; None for any."""
        return self._allowed

    @targets.setter
    def targets(self, targets: Union[None, int, List[int]]) -> None:
        self._allowed = None if targets is None else _engine_ids(targets)

    def __repr__(self) -> str:
        return f"<LoadBalancedView {self.targets}>"

    def set_flags(self, **kwargs) -> None:
        for key, value in kwargs.items():
            if key not in ("block", "retries"):
                raise KeyError(f"no flag {key!r} (block, retries)")
            setattr(self, key, value)

    def _apply(self, f, args, kwargs) -> AsyncResult:
        return self.client._submit(_new_result(AsyncResult), protocol.OP_CALL, targets=self._allowed or (),
                                   balanced=True, retries=self.retries, per_task=[_pack_call(f, args, kwargs)],
                                   init=_BALANCED_CALL)

    def map(self, f: Callable, *sequences, block: Optional[bool] = None, chunksize: Optional[int] = None,
            ordered: bool = True, retries: Optional[int] = None, **unused):
        """f over the zipped sequences, `chunksize` items per task (default 1)."""
        items = _zip_items(sequences)
        chunksize = 1 if chunksize is None else int(chunksize)
        if chunksize < 1:
            raise ValueError(f"chunksize must be at least 1, got {chunksize}")
        name = _callable_name(f)
        fn_blob = serialize.function_blob(f)
        per_task, sizes = [], []
        for start in range(0, len(items), chunksize):
            chunk = items[start:start + chunksize]
            per_task.append(_dump_items(chunk, start, name))
            sizes.append(len(chunk))
        result = AsyncMapResult(self.client, label="map", engines=[None] * len(per_task), sizes=sizes,
                                ordered=ordered, balanced=True)
        self.client._submit(result, protocol.OP_STARMAP, targets=self.targets or (), balanced=True,
                            retries=self.retries if retries is None else retries,
                            shared=fn_blob, per_task=per_task)
        return self._result(result, block)

    def imap(self, f: Callable, *sequences, ordered: bool = True, max_outstanding: Any = "auto"):
        """Like map, lazily: the sequences are read as results come back; yields results.

        Ctrl-C while it waits stops the calls in flight too (as for %map); leaving the loop early
        cancels those that have not started (as concurrent.futures' map does).
        """
        import collections
        import concurrent.futures
        import itertools
        engines = len(self.targets or self.client.ids)
        window = 4 * max(1, engines) if max_outstanding == "auto" else int(max_outstanding)
        items = zip(*sequences)
        outstanding: "collections.deque[AsyncResult]" = collections.deque()
        try:
            for item in itertools.islice(items, window):
                outstanding.append(self._apply(f, item, {}))
            while outstanding:
                if ordered:
                    result = outstanding[0]
                    # A Ctrl-C here stops it with the others, below: were it interrupted alone first,
                    # the engine it frees could start one of the others before they are aborted.
                    result._wait_done(None, interrupting=False)
                    outstanding.popleft()
                    value = result.get()
                else:
                    done = next(concurrent.futures.as_completed(outstanding))
                    outstanding.remove(done)
                    value = done.get()
                for item in itertools.islice(items, 1):
                    outstanding.append(self._apply(f, item, {}))
                yield value
        except KeyboardInterrupt:
            self.client._interrupt(*outstanding)
            raise
        finally:
            for result in outstanding:
                result.cancel()


class RemoteFunction:
    """A function whose calls run on a view's engines (see View.remote)."""

    def __init__(self, view: View, func: Callable, block: Optional[bool] = None):
        self.view = view
        self.func = func
        self.block = block
        self.__name__ = getattr(func, "__name__", "remote")
        self.__doc__ = getattr(func, "__doc__", None)

    def __call__(self, *args, **kwargs):
        return self.view._result(self.view._apply(self.func, args, kwargs), self.block)


class ParallelFunction(RemoteFunction):
    """Called with sequences, each engine calls the function on its block of them (see View.parallel)."""

    def __call__(self, *sequences, **kwargs):
        view = self.view
        if not isinstance(view, DirectView):
            return self.map(*sequences)
        ids = view._targets()
        blocks = [_split(seq, len(ids)) for seq in sequences]
        if kwargs:
            raise TypeError("a @parallel function takes sequences only, no keyword arguments")
        fn_blob = serialize.function_blob(self.func)
        # Each engine calls func(*its blocks); the blocks' results are joined in engine order.
        result = AsyncMapResult(view.client, label="parallel", engines=ids, sizes=[1] * len(ids))
        result._combine = lambda chunks: _concat(_chain(chunks))
        per_task = [serialize.dump([tuple(block[i] for block in blocks)]) for i in range(len(ids))]
        view.client._submit(result, protocol.OP_STARMAP, targets=ids, shared=fn_blob, per_task=per_task)
        return view._result(result, self.block)

    def map(self, *sequences):
        return self.view.map(self.func, *sequences, block=self.block)
