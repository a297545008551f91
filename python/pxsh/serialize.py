"""Python values as segments: the value blobs of the engine runtime.

A blob is ``[count, pickle, buf_1, ..., buf_k]`` where ``count`` is k + 1
(ASCII decimal), ``pickle`` is pickle protocol 5 and ``buf_i`` its
out-of-band buffers (numpy arrays). A pickle or buffer segment that starts
with the shared-memory marker names a file in the cluster's private
``/dev/shm`` directory instead of holding the bytes (engines do that from
64 KiB); the receiver maps it and removes it.

Functions travel by value with cloudpickle when it is installed; without it,
only what the standard pickler handles travels (functions by reference).
"""

import mmap
import os
import pickle
from typing import Any, List, Optional, Sequence, Tuple

PICKLE_PROTOCOL = 5
SHARED_MEMORY_MAGIC = b"\x00pxsh-shared-memory\x00"

_PLAIN_TYPES = frozenset((int, float, complex, bool, str, bytes, type(None)))
_STR_KEYS = frozenset((str,))
_cloudpickle = None


class SerializationError(Exception):
    """A value could not be pickled; the message names the value."""


def _cloudpickle_module():
    global _cloudpickle
    if _cloudpickle is None:
        try:
            import cloudpickle
            _cloudpickle = cloudpickle
        except Exception:
            _cloudpickle = False
    return _cloudpickle


def _is_plain(obj) -> bool:
    """Whether the plain C pickler does for obj what cloudpickle would (several times faster)."""
    kind = type(obj)
    if kind in _PLAIN_TYPES:
        return True
    if (kind is list or kind is tuple) and len(obj) <= 64:
        for item in obj:
            if type(item) not in _PLAIN_TYPES and not _is_plain_call_part(item):
                return False
        return True
    return False


def _is_plain_call_part(item) -> bool:
    # The (args, kwargs) of a call, and small tuples and dicts of plain values.
    # (issuperset over map(type, ...) runs in C: no Python frame per item)
    kind = type(item)
    if kind is tuple and len(item) <= 64:
        return _PLAIN_TYPES.issuperset(map(type, item))
    if kind is dict and len(item) <= 64:
        return _STR_KEYS.issuperset(map(type, item)) and _PLAIN_TYPES.issuperset(map(type, item.values()))
    return False


def dumps(obj) -> Tuple[bytes, List[Any]]:
    """The pickle of obj and its out-of-band buffers."""
    buffers: List[Any] = []
    if _is_plain(obj):
        return pickle.dumps(obj, PICKLE_PROTOCOL), buffers
    cloudpickle = _cloudpickle_module()
    if cloudpickle:
        return cloudpickle.dumps(obj, PICKLE_PROTOCOL, buffer_callback=buffers.append), buffers
    return pickle.dumps(obj, PICKLE_PROTOCOL, buffer_callback=buffers.append), buffers


def dump(obj) -> List[bytes]:
    """obj as a value blob."""
    data, buffers = dumps(obj)
    if not buffers:
        return [b"1", data]
    return [str(len(buffers) + 1).encode(), data, *[buffer.raw() for buffer in buffers]]


def dump_arguments(args: tuple, kwargs: dict) -> List[bytes]:
    """(args, kwargs) of a call as a value blob: what dump gives, with one check where dump makes a
    call per part when they are plain values (most calls)."""
    if len(args) <= 64 and _PLAIN_TYPES.issuperset(map(type, args)) and (not kwargs or _is_plain_call_part(kwargs)):
        return [b"1", pickle.dumps((args, kwargs), PICKLE_PROTOCOL)]
    return dump((args, kwargs))


def dump_named(obj, what: str) -> List[bytes]:
    """dump(obj), or a SerializationError that names `what` (and cloudpickle, when it is missing)."""
    try:
        return dump(obj)
    except Exception as exc:
        cloudpickle = _cloudpickle_module()
        if not cloudpickle:
            raise SerializationError(f"cannot serialize {what}: {type(exc).__name__}: {exc}"
                                     f"{_WITHOUT_CLOUDPICKLE}") from None
        reason = unpicklable_capture(obj, exc, cloudpickle.Pickler) or f"{type(exc).__name__}: {exc}"
        raise SerializationError(f"cannot serialize {what}: {reason}") from None


_WITHOUT_CLOUDPICKLE = (" (cloudpickle is not installed here, so a function, lambda or class defined in a"
                        " script or a notebook cannot travel by value: pip install cloudpickle)")


# --------------------------------------------------------------------------
# Why a function does not pickle (the error path only: each captured value is pickled on its own)

def unpicklable_capture(func, failure: Exception, pickler) -> Optional[str]:
    """Which value that the function `func` carries by value (a global, a closure variable, a default
    argument; through the functions it uses, a few deep) fails to pickle with the same error as
    `failure`, the error of the whole: "its global 'lock' (a _thread.lock) cannot be pickled: TypeError:
    ...". None when `func` is no function, or no one value fails that way. `pickler`: the Pickler class
    that failed (cloudpickle's, or one that pickles functions by value as it does)."""
    import types
    if not isinstance(func, (types.FunctionType, types.MethodType)):
        return None
    try:
        found = _failing_capture(func, failure, pickler, depth=0, seen={id(func)})
        if found is None:
            return None
        chain, value = found
        where = "its " + ", a function whose ".join(chain)
        return f"{where} ({_a_kind_of(value)}) cannot be pickled: {type(failure).__name__}: {failure}"
    except Exception:  # a value whose pickling or str() fails oddly: the plain message will do
        return None


def _failing_capture(func, failure: Exception, pickler, depth: int, seen: set):
    """The path to the first captured value that fails to pickle as `failure` did, and that value."""
    import types
    for what, value in _captured_values(func):
        try:
            pickler(_Discarded(), PICKLE_PROTOCOL, buffer_callback=_out_of_band).dump(value)
            continue
        except Exception as exc:
            if type(exc) is not type(failure) or str(exc) != str(failure):
                continue
        if isinstance(value, types.FunctionType) and depth < 3 and id(value) not in seen:
            seen.add(id(value))
            inner = _failing_capture(value, failure, pickler, depth + 1, seen)
            if inner is not None:
                return [what, *inner[0]], inner[1]
        return [what], value
    return None


def _captured_values(func):
    """(what, value) for each value a function's pickle holds beside its code."""
    import types
    if isinstance(func, types.MethodType):
        yield "bound instance", func.__self__
        func = func.__func__
        if not isinstance(func, types.FunctionType):
            return
    code, namespace = func.__code__, func.__globals__
    for name in _global_names(code):
        if name in namespace:
            yield f"global {name!r}", namespace[name]
    for name, cell in zip(code.co_freevars, func.__closure__ or ()):
        try:
            yield f"closure variable {name!r}", cell.cell_contents
        except ValueError:  # not bound yet
            pass
    defaults = func.__defaults__ or ()
    positional = code.co_varnames[:code.co_argcount]
    for name, value in zip(positional[len(positional) - len(defaults):], defaults):
        yield f"default for {name!r}", value
    for name, value in (func.__kwdefaults__ or {}).items():
        yield f"default for {name!r}", value


def _a_kind_of(value) -> str:
    kind = type(value)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


class _Discarded:
    """A file that keeps nothing: only whether a value pickles matters."""

    def write(self, data) -> int:
        return len(data)


def _out_of_band(buffer) -> None:
    return None  # out of band, and dropped: large arrays are not copied


def load(segments: Sequence[bytes], position: int = 0) -> Tuple[Any, int]:
    """The value whose blob starts at segments[position], and the position after it."""
    count = int(segments[position])
    end = position + 1 + count
    if count < 1 or end > len(segments):
        raise ValueError(f"malformed value blob at segment {position}")
    buffers = [_import_buffer(segment) for segment in segments[position + 2:end]] if count > 1 else None
    data = segments[position + 1]
    if data[:len(SHARED_MEMORY_MAGIC)] != SHARED_MEMORY_MAGIC:
        return pickle.loads(data, buffers=buffers), end
    # A large pickle: the engine wrote it to a shared-memory file.
    with _map_shared(data, access=mmap.ACCESS_READ) as mapped:
        return pickle.loads(mapped, buffers=buffers), end


def shared_memory_files(segments: Sequence[bytes]) -> List[str]:
    """The shared-memory files that segments name."""
    return [bytes(s[len(SHARED_MEMORY_MAGIC):]).decode() for s in segments
            if s[:len(SHARED_MEMORY_MAGIC)] == SHARED_MEMORY_MAGIC]


def _import_buffer(segment):
    if segment[:len(SHARED_MEMORY_MAGIC)] != SHARED_MEMORY_MAGIC:
        return bytearray(segment)  # arrays arrive writable
    # Copy-on-write: the array is writable, and pages are copied only if written.
    return memoryview(_map_shared(segment, access=mmap.ACCESS_COPY))


def _map_shared(segment, access):
    """Maps the shared-memory file a segment names, and removes the file: the mapping keeps the
    data, and this client was its only reader."""
    path = bytes(segment[len(SHARED_MEMORY_MAGIC):]).decode()
    fd = os.open(path, os.O_RDONLY)
    try:
        mapped = mmap.mmap(fd, 0, access=access)
    finally:
        os.close(fd)
    try:
        os.unlink(path)
    except OSError:
        pass
    return mapped


# --------------------------------------------------------------------------
# Functions: cloudpickle takes 100-300 µs per function, so a function's blob is
# reused while nothing it would capture has changed.

_IMMUTABLE = frozenset((int, float, complex, bool, str, bytes, type(None), range, frozenset))
_function_blobs = None  # WeakKeyDictionary: function -> (fingerprint, blob)
_builtin_blobs: dict = {}
_BUILTIN = type(len)


def callable_name(func) -> str:
    name = getattr(func, "__name__", None)
    return name if isinstance(name, str) else type(func).__name__


def function_blob(func) -> List[bytes]:
    """The blob of a function, from a cache when what it captures is unchanged."""
    global _function_blobs
    if type(func) is _BUILTIN:  # builtins pickle by name: nothing they capture can change
        blob = _builtin_blobs.get(func)
        if blob is None:
            blob = _builtin_blobs[func] = dump_named(func, repr(callable_name(func)))
        return blob
    if _function_blobs is None:
        import weakref
        _function_blobs = weakref.WeakKeyDictionary()
    try:
        fingerprint = _fingerprint(func, 0, set())
    except Exception:
        fingerprint = None
    if fingerprint is not None:
        try:
            cached = _function_blobs.get(func)
        except TypeError:  # not weak-referenceable
            cached = None
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
    blob = dump_named(func, repr(callable_name(func)))
    if fingerprint is not None:
        try:
            _function_blobs[func] = (fingerprint, blob)
        except TypeError:
            pass
    return blob


def _fingerprint(func, depth: int, seen: set):
    """What func's pickle depends on, for comparison; None when it cannot be told cheaply."""
    import types
    if type(func) is not types.FunctionType or depth > 3:
        return None
    if id(func) in seen:
        return ("seen", id(func))
    seen.add(id(func))
    code = func.__code__
    parts = [id(code)]
    for value in (func.__defaults__ or ()):
        parts.append(_value_print(value, depth, seen))
    for value in (func.__kwdefaults__ or {}).values():
        parts.append(_value_print(value, depth, seen))
    for cell in (func.__closure__ or ()):
        try:
            parts.append(_value_print(cell.cell_contents, depth, seen))
        except ValueError:
            parts.append("empty")
    namespace = func.__globals__
    for name in _global_names(code):
        parts.append(_value_print(namespace.get(name, _absent), depth, seen))
    if func.__dict__:
        return None
    return tuple(parts)


_absent = object()
_names_of_code = {}


def _global_names(code) -> tuple:
    names = _names_of_code.get(code)
    if names is None:
        import types
        found = dict.fromkeys(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.update(dict.fromkeys(_global_names(const)))
        names = _names_of_code[code] = tuple(found)
    return names


def _value_print(value, depth: int, seen: set):
    import types
    kind = type(value)
    if kind in _IMMUTABLE or value is _absent:
        return (kind, value)
    if kind is tuple:
        return tuple(_value_print(item, depth, seen) for item in value)
    if kind is types.ModuleType or kind is types.BuiltinFunctionType or isinstance(value, type):
        return ("id", id(value))
    if kind is types.FunctionType:
        inner = _fingerprint(value, depth + 1, seen)
        if inner is None:
            raise ValueError("uncacheable")
        return ("function", id(value), inner)
    raise ValueError("a mutable value is captured")
