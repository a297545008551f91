"""pxsh engine runtime: the Python half of a pxsh engine.

The Swift engine embeds CPython, executes this source as the module ``_pxsh``
(registered in ``sys.modules``), calls ``init()`` once and then ``handle()`` for
every request. The user's namespace is ``__main__.__dict__``, so that what the
user defines lives in ``__main__`` and cloudpickle ships it by value.

Entry points
------------
``init(engine_id, rank, size, is_home)``
    Once, before any request. Engines (``is_home`` false) get ``rank`` and
    ``size`` in the namespace; the home engine (the local namespace) gets
    neither. Makes ``sys.stdout``/``sys.stderr`` line-buffered so that output
    reaches the Swift pipes line by line.
``handle(op, args) -> list[bytes]``
    Every request. Never raises: any exception, KeyboardInterrupt and
    SystemExit included, becomes an error reply. Flushes stdout and stderr
    before returning.
``freeze()``
    The zygote only, once, before it forks engines: gc.freeze(), so that the
    objects of Python's start stay shared, unvisited by the engines' collector;
    then a new ``__main__``, which is not frozen, for ``init()`` to bind.
``version() -> str``
    The runtime protocol version, ``PROTOCOL_VERSION``.
``install_client(op, [socket_path, name_1, source_1, ...]) -> [ok] | error reply``
    The home engine only, after ``init()``: makes the ``pxsh`` package
    (embedded in the executable: the same code ``pip install ./python``
    installs) importable, and defines ``px``, a ``pxsh.Client`` of this
    cluster that connects on first use.

Wire conventions
----------------
Arguments and replies are lists of ``bytes``. Strings are UTF-8 (replies use
errors="backslashreplace"); integers are ASCII decimal (``b"12"``).

Every reply starts with ``b"ok"`` or ``b"error"``. An error reply is exactly
``[b"error", ename, evalue, traceback]``; ``traceback`` is the formatted text
showing only the user's frames (no frame of this module), without a trailing
newline. For a SyntaxError it holds just the exception lines with the caret.

A *value blob* encodes one Python object as a run of segments
``[count, pickle, buf_1, ..., buf_k]``: ``count`` is k + 1 (the number of
segments after it), ``pickle`` is pickle protocol 5 data, and ``buf_i`` are
its out-of-band buffers (numpy arrays travel that way). ``*blob`` below means
those segments spliced into the list.

Ops (op number, name: args -> ok reply)
---------------------------------------
 1 EXECUTE      [code] -> [ok, count, has_result (b"0"|b"1"), repr]
 2 EXPORT       [name_1, expr_1, ..., name_m, expr_m]  (empty expr: the variable)
                -> [ok, repr_1, ..., repr_m, *blob({name_i: value_i})]
 3 IMPORT       [*blob(dict)] -> [ok]  (namespace.update(dict))
 4 COLLECT      [mode, assign_names, n, *blob_1, ..., *blob_n]
                mode list|concat -> [ok, key_1, repr_1, key_2, repr_2, ...]
                mode chain|value -> [ok, repr]
 5 SCATTER      [name, expr, n] -> [ok, *blob({name: part_1}), ..., *blob({name: part_n})]
 6 APPLY        [*blob((f, args, kwargs))] -> [ok, repr, *blob(result)]
 7 PACK_CALL    [fexpr, argsource] -> [ok, *blob((f, args, kwargs))]
 8 PREPARE_MAP  [fexpr, seqexpr, chunksize|b"auto", n_engines]
                -> [ok, n_items, chunksize, *fn_blob, *chunk_blob_1, ..., *chunk_blob_c]
 9 MAP_CHUNK    [*fn_blob, *items_blob] -> [ok, *blob([f(x) for x in items])]
13 CALL         [*fn_blob, *blob((args, kwargs))] -> [ok, *blob(f(*args, **kwargs))]
14 STARMAP      [*fn_blob, *items_blob] -> [ok, *blob([f(*x) for x in items])]
15 RESULTS      [action, name, argument]: AsyncResults made from Python (px), for magics
                jobs -> [ok, found, row...] (tab-separated: id, kind, targets, state, done, total, elapsed)
                otherwise -> [ok, b"none"] when the variable name holds no AsyncResult, else
                timeline -> [ok, found, title, "engine started completed failed"...]
                wait (argument: timeout or empty) -> [ok, found, ready 0|1, failure text, title]
                show (argument: a variable for the values, or empty) -> [ok, found, text, failed 0|1]
                abort -> [ok, found, text]
                adopt [adopt, "", "", record...] -> [ok]: the prompt hands over its results named
                with -o (%map, %apply, %px) for px.result(NAME); a record is its state (done or
                pending), name, number, label, operation, submitted ns, ended ns (when its last task
                ended, or empty), first task id, the local
                variable holding its values (or empty), notices, task count, then per task its
                engine, started, completed, status, ename, evalue, traceback, the operation its
                error names (`map item 7`), stdout, stderr and the execute reply's segments (count, 1 if it has a value, repr) or three empty ones
10 COMPLETE     [text before the cursor] -> [ok, start, candidate_1, ...]
11 IS_COMPLETE  [code] -> [ok, b"complete"|b"incomplete"|b"invalid", indent]
12 WHO          [] -> [ok, name_1, type_1, summary_1, name_2, ...]
16 EXPORT_VALUES [name_1, expr_1, ..., name_m, expr_m] -> [ok, *blob({name_i: value_i})]
                (EXPORT without the reprs: for push and gather, which show none)

Details the Swift side relies on:

- EXECUTE: the execution count starts at 0 and is incremented before every
  EXECUTE, failing ones included; the cell is compiled as ``<In [count]>``.
  If the last statement is an expression whose value is not None (and the
  cell does not end with ``;``), the value is stored in ``_`` and its repr
  returned. Reprs are cut at REPR_LIMIT characters plus
  ``… [N more characters]``. A repr that takes longer than REPR_SECONDS
  (a __repr__ that never ends, say) is replaced by a note saying so.
- EXPORT: one repr per (name, expr) pair, so the blob starts at index m + 1.
- COLLECT: list and concat take dicts from EXPORT (in target order) and
  assign namespace[key] = the list of values / their concatenation (gather;
  ranges that continue each other join into one range).
  chain concatenates lists; value takes the single blob as is; both assign
  the value to every name in the comma-separated ``assign_names``.
- SCATTER: contiguous blocks, the first len % n one item longer (like
  numpy.array_split). Lists, tuples, ranges, strings, bytes, numpy arrays
  (axis 0) and pandas objects (rows) keep their type; other iterables become
  lists; anything else is a TypeError.
- CALL and STARMAP are the Python client's (the ``pxsh`` package, ``px``):
  like MAP_CHUNK, the function is loaded once per distinct blob, and a
  function defined in a client's ``__main__`` is rebound to this engine's
  namespace (it sees ``rank``). Neither stores ``_`` nor makes a repr.
- PREPARE_MAP: chunksize ``auto`` is max(1, ceil(n_items / (4 * n_engines))).
- COMPLETE: ``start`` counts characters (code points), not bytes.
- WHO: the user's variables (no ``_`` prefix), sorted; summary is the repr on
  one line, cut to 60 characters.
- Tracebacks: a frame of code that came from another process (a function
  defined at home and run by APPLY or MAP_CHUNK) shows no source line: each
  process numbers its own cells, so its ``<In [n]>`` is another cell here.
- Loading a blob copies each out-of-band buffer into a bytearray, so that
  arrays arrive writable, unless Swift passes it as a bytearray or a writable
  memoryview already.
- Shared memory: with PXSH_SHARED_MEMORY_DIR set (local engines), a pickle or
  an out-of-band buffer of SHARED_MEMORY_THRESHOLD bytes or more is written to
  a file there, and its segment is _SHARED_MEMORY_MAGIC + the file's path;
  loading maps the file. The client removes the files of a transfer once it is
  done; a failed request removes those it made itself.
"""

import ast
import builtins
import linecache
import marshal
import os
import pickle
import sys
import types

PROTOCOL_VERSION = "1"

# Tests switch this off to exercise the built-in fallback serializer.
USE_CLOUDPICKLE = True

REPR_LIMIT = 4096
REPR_SECONDS = 2.0
WHO_SUMMARY_LIMIT = 60
PICKLE_PROTOCOL = 5

# The filename the Swift side compiles this module under. Frames from this
# module (under that name or its file path) never show in user tracebacks.
RUNTIME_FILENAME = "<pxsh-runtime>"

# The same function comes with every chunk of a map: keep the last few.
_FN_CACHE_SIZE = 8

# Names that IPython-ish sessions define and %who should not list.
_WHO_HIDDEN = frozenset(("In", "Out", "exit", "quit"))

# Values of these exact types need nothing that cloudpickle adds, and the
# plain C pickler is several times cheaper per call (MAP_CHUNK's hot path).
_PLAIN_TYPES = frozenset((int, float, complex, bool, str, bytes, type(None)))
_PLAIN_CONTAINER_LIMIT = 64

_MISSING = object()

# The user namespace; init() binds it to __main__.__dict__.
_ns = vars(sys.modules["__main__"]) if "__main__" in sys.modules else {}
_exec_count = 0
_cloudpickle = None  # the module once imported, False if unavailable
_fn_cache = {}  # function blob -> (function, captured globals): _cached_function
_captured = {}  # name -> the value a function's captured global put in _ns, while _ns holds it
_cell_code = {}  # cell filename -> the code compiled from it (_is_foreign)
_replaced = []  # values that names held before the current request bound them (release_replaced)


class SerializationError(Exception):
    """A value could not be pickled; the message names the value."""


# Shown as "SerializationError: ..." in tracebacks, like a builtin, rather
# than "_pxsh.SerializationError: ...". Nothing ever pickles it.
SerializationError.__module__ = "builtins"


# --------------------------------------------------------------------------
# Entry points

def version():
    return PROTOCOL_VERSION


def init(engine_id, rank, size, is_home):
    """Bind the user namespace and set up the process; called once by Swift.

    engine_id is the controller's id for this engine; the runtime itself
    does not need it (rank is what user code sees).
    """
    global _ns, _exec_count
    main = sys.modules.get("__main__")
    if main is None:
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
    _ns = main.__dict__
    _ns.setdefault("__builtins__", builtins)
    _exec_count = 0
    _fn_cache.clear()
    _captured.clear()
    if not is_home:
        _ns["rank"] = rank
        _ns["size"] = size
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(line_buffering=True, errors="backslashreplace")
            except Exception:
                pass
    # A segfault in an extension module prints the Python stack on the captured stderr.
    import faulthandler
    faulthandler.enable()
    # Like the python and IPython prompts: modules in the working directory
    # are importable. An embedded interpreter has no script dir in sys.path.
    if "" not in sys.path:
        sys.path.insert(0, "")


def freeze():
    """The zygote, once started and before it forks engines: move every object so far to the
    collector's permanent generation (gc.freeze), so that collections in engines, and their
    Python's finalization, do not visit the objects they share with the zygote (and copy
    their pages). Called by Swift.

    The user's namespace, a new __main__, is made after the freeze: frozen objects are never
    collected, and a frozen __main__.__dict__ would outlive the end of Python, so that a file
    left open in it would not be flushed."""
    import gc
    gc.freeze()
    sys.modules["__main__"] = types.ModuleType("__main__")


def release_replaced():
    """Free the values that the last request's names replaced; Swift calls it once the reply has
    gone, so that freeing a large old value (10**6 ints take about 8 ms) does not delay it."""
    _replaced.clear()


def install_client(_op, args):
    """Serve the embedded pxsh package to imports and define px (the home engine)."""
    try:
        global _session_socket
        socket_path = _session_socket = args[0].decode()
        sources = {args[i].decode(): args[i + 1] for i in range(1, len(args) - 1, 2)}
        sys.meta_path.insert(0, _EmbeddedFinder(sources))
        _ns["px"] = _SessionClient(socket_path)
        return [b"ok"]
    except BaseException as exc:
        return _error_reply(exc)


_EMBEDDED_PREFIX = "<pxsh-embedded>/"
_session_socket = None  # the home engine's cluster (install_client)


class _SessionClient:
    """px until first used: then pxsh is imported (about 50 ms, kept off engine start) and
    px becomes the pxsh.Client of this session's cluster. After px.close(), px is this again:
    it connects on its next use, as at the start of the session."""

    def __init__(self, socket_path):
        self._socket_path = socket_path
        self._client = None

    def _real(self):
        if self._client is None:
            import pxsh.client
            client = self._client = pxsh.client.Client(_socket_path=self._socket_path)
            close = client.close

            def close_and_connect_on_next_use():
                close()
                if _ns.get("px") is client:
                    _ns["px"] = _SessionClient(self._socket_path)

            close_and_connect_on_next_use.__doc__ = close.__doc__
            client.close = close_and_connect_on_next_use
            if _ns.get("px") is self:
                _ns["px"] = client
        return self._client

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._real(), name)

    def __getitem__(self, key):
        return self._real()[key]

    def __len__(self):
        return len(self._real())

    def __dir__(self):
        return dir(self._real())

    def __repr__(self):
        return repr(self._real())


class _EmbeddedFinder:
    """Imports the modules of a package from sources held in memory."""

    def __init__(self, sources):
        self.sources = sources

    def find_spec(self, name, path=None, target=None):
        source = self.sources.get(name)
        if source is None:
            return None
        import importlib.util
        is_package = "." not in name
        filename = f"{_EMBEDDED_PREFIX}{name.replace('.', '/')}{'/__init__' if is_package else ''}.py"
        spec = importlib.util.spec_from_loader(name, _EmbeddedLoader(source, filename), origin=filename,
                                               is_package=is_package)
        spec.has_location = False
        return spec


class _EmbeddedLoader:
    def __init__(self, source, filename):
        self.source = source
        self.filename = filename

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        text = self.source.decode()
        # Tracebacks through the package show its lines.
        linecache.cache[self.filename] = (len(text), None, text.splitlines(keepends=True), self.filename)
        module.__file__ = self.filename
        exec(compile(text, self.filename, "exec", dont_inherit=True), module.__dict__)
        if module.__name__ == "pxsh.client":
            # Set at import, not when px is first used: pxsh.Client() made at the prompt before that must
            # also mean this session's cluster, not the only named one running.
            module.SESSION_SOCKET = _session_socket
            module.MAGIC_RESULTS = _magic_results


def handle(op, args):
    """Run one request; always return a reply, never raise."""
    try:
        try:
            handler = _OPS.get(op)
            if handler is None:
                raise ValueError(f"unknown pxsh runtime op {op!r}")
            _request_files.clear()
            _replaced.clear()
            reply = handler(args)
        except BaseException as exc:
            _remove_request_files()
            reply = _error_reply(exc)
        _flush_std()
        return reply
    except BaseException as exc:  # e.g. a second Ctrl-C while formatting
        return _last_resort_reply(exc)


# --------------------------------------------------------------------------
# Ops

def _bind(name, value):
    """_ns[name] = value, the user's; a value it replaces is freed after the reply (release_replaced)."""
    old = _ns.get(name)
    _ns[name] = value
    _captured.pop(name, None)
    if old is not None:
        _replaced.append(old)


def _op_execute(args):
    global _exec_count
    _exec_count += 1
    count = str(_exec_count).encode()
    # The client may name the cell after its prompt number, so tracebacks match the
    # screen and identical errors from engines with different counts still merge.
    cell = args[1].decode() if len(args) > 1 and args[1] else str(_exec_count)
    terminal = _terminal_input(args[2].decode()) if len(args) > 2 else None
    stdin = sys.stdin
    if terminal is not None:
        sys.stdin = terminal
    try:
        value = _run_cell(args[0].decode(), f"<In [{cell}]>")
    finally:
        sys.stdin = stdin
        _forget_replaced_captures()
    if value is None:
        return [b"ok", count, b"0", b""]
    _ns["_"] = value
    return [b"ok", count, b"1", _utf8(_repr_cut(value))]


_terminals = {}


def _terminal_input(path):
    """sys.stdin for a local cell typed at a terminal: that terminal, so input() reads it.

    The home engine has a session of its own, so the terminal is not its controlling
    terminal and reading it is not a background read. The prompt itself goes out on
    stdout, in order with the cell's other output. None if it cannot be opened.
    """
    stream = _terminals.get(path)
    if stream is None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            return None
        stream = _terminals[path] = open(fd, encoding=sys.stdout.encoding, errors="replace")
    return stream


def _op_export(args):
    if len(args) % 2:
        raise ValueError("EXPORT takes name/expression pairs")
    values = {}
    reprs = []
    for i in range(0, len(args), 2):
        name = _identifier(args[i])
        expr = args[i + 1].decode()
        value = _evaluate(expr) if expr else _lookup(name)
        values[name] = value
        reprs.append(_utf8(_repr_cut(value)))
    return [b"ok", *reprs, *_dump_dict(values)]


def _op_export_values(args):
    if len(args) % 2:
        raise ValueError("EXPORT_VALUES takes name/expression pairs")
    values = {}
    for i in range(0, len(args), 2):
        name = _identifier(args[i])
        expr = args[i + 1].decode()
        values[name] = _evaluate(expr) if expr else _lookup(name)
    return [b"ok", *_dump_dict(values)]


def _op_import(args):
    values, _ = _load(args, 0)
    if type(values) is not dict:
        raise TypeError(f"IMPORT expects a dict, got {type(values).__name__}")
    for name, value in values.items():
        _bind(name, _bind_interactive(value))
    return [b"ok"]


def _op_collect(args):
    mode = args[0].decode()
    names = _assign_names(args[1])
    n = int(args[2])
    try:
        parts = _load_many(args, 3, n)
    except (ImportError, AttributeError) as exc:  # a module, or a class in one, that only the engines have
        raise SerializationError(
            f"cannot load the values in the local namespace: {type(exc).__name__}: {_safe_str(exc)} (a class "
            "or function they need is defined in a module that the engines import and this Python cannot)"
        ) from None
    if mode in ("list", "concat"):
        return _collect_by_key(parts, (lambda values, _: values) if mode == "list" else _concat)
    if mode == "chain":
        value = _chain(parts, fresh=True)
    elif mode == "value":
        if n != 1:
            raise ValueError(f"COLLECT value takes one blob, got {n}")
        value = parts[0]
    else:
        raise ValueError(f"unknown COLLECT mode {mode!r}")
    for name in names:
        _bind(name, value)
    return [b"ok", _utf8(_repr_cut(value))]


def _op_scatter(args):
    name = _identifier(args[0])
    expr = args[1].decode()
    n = _positive_int(args[2], "the number of parts")
    value = _evaluate(expr) if expr else _lookup(name)
    reply = [b"ok"]
    for i, part in enumerate(_split(value, n)):
        reply += _dump_named({name: part}, f"part at index {i} of {name!r}")
    return reply


def _op_apply(args):
    call, _ = _load(args, 0)
    func, fargs, fkwargs = call
    result = _bind_interactive(func)(*fargs, **fkwargs)
    _ns["_"] = result
    blob = _dump_named(result, f"the result of {_callable_name(func)!r}")
    return [b"ok", _utf8(_repr_cut(result)), *blob]


def _op_pack_call(args):
    fexpr, packer = _call_texts(args[0].decode(), args[1].decode())
    func = _evaluate(fexpr)
    _require_callable(func, fexpr)
    fargs, fkwargs = _evaluate(packer)
    return [b"ok", *_dump_call(func, fargs, fkwargs, fexpr)]


_calls = {}  # (function text, argument text) -> (function expression, packer expression)


def _call_texts(fexpr, argsource):
    """The function's expression and an expression that packs the arguments, for `%apply`.

    The argument text is evaluated in the user's namespace exactly as the argument list of a
    call, so *xs, **kw and keywords all work; plain space-separated arguments (`divmod 17 5`)
    are accepted too. Finding where F ends parses several candidate splits: a session repeats
    the same calls, so each text is split once."""
    key = (fexpr, argsource)
    found = _calls.get(key)
    if found is not None:
        return found
    if not argsource.strip() and " " in fexpr.strip():
        # `%apply F ARGS` arrived as one text: F is the shortest prefix that parses.
        fexpr, argsource = _split_expressions(fexpr, _parses_as_spaced_arguments, allow_empty=True)
    if not _parses_as_arguments(argsource) and _parses_as_spaced_arguments(argsource):
        argsource = ", ".join(_top_level_words(argsource))
    found = (fexpr, "(lambda *a, **k: (a, k))(\n" + argsource + "\n)")
    if len(_calls) >= _EXPRESSIONS_LIMIT:
        del _calls[next(iter(_calls))]
    _calls[key] = found
    return found


def _op_prepare_map(args):
    fexpr = args[0].decode()
    seqexpr = args[1].decode()
    if not seqexpr.strip():
        # `%map F SEQ [SEQ...]` arrived as one text: F is the shortest prefix that parses.
        fexpr, seqexpr = _split_expressions(fexpr, _parses_as_sequences, rest_is_new=True)
    n_engines = max(1, int(args[3]))
    func = _evaluate(fexpr)
    _require_callable(func, fexpr)
    seqexprs = _several_sequences(seqexpr) or [seqexpr]
    if len(seqexprs) > 1:
        # Several sequences, as map(f, xs, ys): f gets one item of each, up to the shortest.
        func = _Starred(func)
    seqs = []
    for expr in seqexprs:
        seq = _evaluate(expr)
        try:
            iter(seq)
        except TypeError:
            which = f" ({expr})" if len(seqexprs) > 1 else ""
            raise TypeError(
                f"cannot map over {type(seq).__name__}{which}: not iterable") from None
        seqs.append(seq)
    # A range is cut into ranges: a chunk then pickles in a few bytes, whatever its length.
    if len(seqs) > 1:
        items = list(zip(*seqs))
    else:
        items = seqs[0] if type(seqs[0]) is range else list(seqs[0])
    n_items = len(items)
    if args[2] == b"auto":
        chunksize = max(1, -(-n_items // (4 * n_engines)))
    else:
        chunksize = _positive_int(args[2], "chunksize")
    if type(items) is range and chunksize < 64:
        items = list(items)  # small chunks pickle smaller and faster as lists
    reply = [b"ok", str(n_items).encode(), str(chunksize).encode()]
    reply += _dump_named(func, repr(fexpr))
    for start in range(0, n_items, chunksize):
        reply += _dump_items(items[start:start + chunksize], start, seqexpr)
    return reply


def _op_map_chunk(args):
    # The hot path of load-balanced map: no imports, nothing O(namespace).
    func, pos = _cached_function(args)
    first, items = _load(args, pos)[0]
    iterator = iter(items)
    try:
        results = list(map(func, iterator))
    except BaseException as exc:
        # Name the item that failed ([1:map item 7]): the iterator has moved past it.
        reply = _error_reply(exc)
        reply.append(b"%d" % (first + len(items) - 1 - iterator.__length_hint__()))
        return reply
    try:
        blob = _dump(results)
    except Exception as exc:
        raise _serialization_error(
            f"a result of {_callable_name(func)!r}", exc) from None
    blob.insert(0, b"ok")
    return blob


def _cached_function(args):
    """The function whose blob starts args (cached by its bytes), bound to the namespace."""
    count = int(args[0])
    key = args[1] if count == 1 else tuple(args[1:count + 1])
    cached = _fn_cache.get(key)
    if cached is None:
        cached = _rebound(_load(args, 0)[0])
        if len(_fn_cache) >= _FN_CACHE_SIZE:
            del _fn_cache[next(iter(_fn_cache))]
        _fn_cache[key] = cached
    func, captured = cached
    # Again at each call: another function may have put its own value of a name since.
    _take_captured(captured)
    return func, count + 1


def _op_call(args):
    func, pos = _cached_function(args)
    (fargs, fkwargs), _ = _load(args, pos)
    result = func(*fargs, **fkwargs)
    try:
        blob = _dump(result)
    except Exception as exc:
        raise _serialization_error(f"the result of {_callable_name(func)!r}", exc) from None
    blob.insert(0, b"ok")
    return blob


def _op_starmap(args):
    func, pos = _cached_function(args)
    items = _load(args, pos)[0]
    results = [func(*item) for item in items]
    try:
        blob = _dump(results)
    except Exception as exc:
        raise _serialization_error(f"a result of {_callable_name(func)!r}", exc) from None
    blob.insert(0, b"ok")
    return blob


def _op_results(args):
    """%jobs, %timeline, %wait, %pxresult and %abort on AsyncResults made from Python (px)."""
    action = args[0].decode()
    name = args[1].decode() if len(args) > 1 else ""
    argument = args[2].decode() if len(args) > 2 else ""
    if action == "jobs":
        return [b"ok", b"found", *(_utf8("\t".join(row)) for row in _python_job_rows())]
    if action == "adopt":
        _adopt_magic_results(args[3:])
        return [b"ok"]
    result = _ns.get(name, _MISSING)
    asyncresult = sys.modules.get("pxsh.asyncresult")
    if asyncresult is None or not isinstance(result, asyncresult.AsyncResult):
        return [b"ok", b"none"]
    result.name = result.name or name  # as %jobs calls it
    if action == "timeline":
        rows = [f"{-2 if e is None else e} {s} {c} {int(f)}" for (e, s, c), f in
                zip(result.timings, (t.error is not None for t in result._tasks)) if s]
        return [b"ok", b"found", _utf8(repr(result)), *map(_utf8, rows)]
    if action == "wait":
        ready = result.wait(None if not argument else float(argument))
        failed = ready and _has_failed(result)
        return [b"ok", b"found", b"1" if ready else b"0", _utf8(_describe_failure(result, name) if failed else ""),
                _utf8(repr(result))]
    if action == "show":  # argument: the variable that gets the values (%result NAME -o VAR), or empty
        result.wait()
        failed = _has_failed(result)
        if argument and not failed:
            _ns[argument] = result.get()
        return [b"ok", b"found", _utf8(_describe_result(result, name, argument or name)), b"1" if failed else b"0"]
    if action == "abort":
        if result.done():
            return [b"ok", b"found", _utf8(f"{name} is ready: nothing to abort")]
        running = result._client._abort(result)
        return [b"ok", b"found", _utf8(f"aborted the tasks of {name} that had not started"
                                       + (f"; {running} already running" if running else ""))]
    raise ValueError(f"unknown RESULTS action {action!r}")


_magic_results = {}  # the prompt's results named with -o, by name (pxsh.client.MAGIC_RESULTS)
_MAGIC_TASK_FIELDS = 13


def _adopt_magic_results(segments):
    """Keep the records of the prompt's named results for px.result(NAME) (see RESULTS adopt)."""
    texts = [segment.decode("utf-8", "backslashreplace") for segment in segments]
    at = 0
    while at + 11 <= len(texts):
        (state, name, number, label, operation, submitted, ended, first_id, values_name, notices,
         count) = texts[at:at + 11]
        at += 11
        tasks = []
        for _ in range(int(count)):
            fields = texts[at:at + _MAGIC_TASK_FIELDS]
            execute = segments[at + 10:at + 13]
            at += _MAGIC_TASK_FIELDS
            tasks.append({
                "engine": int(fields[0]) if fields[0] else None, "started": int(fields[1] or 0),
                "completed": int(fields[2] or 0), "status": fields[3], "ename": fields[4], "evalue": fields[5],
                "traceback": fields[6], "operation": fields[7] or operation, "stdout": fields[8],
                "stderr": fields[9], "execute": list(execute) if execute[0] else None})
        record = {"state": state, "number": int(number), "label": label, "method": operation,
                  "submitted": int(submitted or 0), "ended": int(ended or 0), "first_id": int(first_id) if first_id else None,
                  "notices": notices.split("\n") if notices else [], "tasks": tasks}
        if values_name:
            record["values"] = _ns.get(values_name)
        _magic_results[name] = record


def _python_job_rows():
    client_module = sys.modules.get("pxsh.client")
    if client_module is None:
        return []
    names = {}
    for key, value in list(_ns.items()):
        if isinstance(key, str) and not key.startswith("_") and hasattr(value, "_client"):
            names.setdefault(id(value), key)
    rows = []
    for client in list(client_module.CLIENTS):
        # Another cluster's engines are not this session's: their ids say whose they are.
        cluster = "" if client._is_session_cluster() else f"{client.cluster}:"
        for result in client.history[-1000:]:
            if getattr(result, "_balanced", False) or any(t.engine is None for t in result._tasks):
                targets = cluster + "balanced"
            else:
                targets = cluster + ",".join(map(str, sorted({t.engine for t in result._tasks})))
            state = ("cancelled" if result.cancelled() else "failed" if result.done() and _has_failed(result)
                     else "done" if result.done() else "running" if result.progress else "pending")
            rows.append((names.get(id(result), f"px#{result.number}"), f"px {result.label}", targets, state,
                         str(result._replied_tasks), str(len(result._tasks)), f"{result.elapsed:.6f}"))
    return rows


def _has_failed(result):
    """Whether a finished result failed or was cancelled (exception() raises CancelledError then)."""
    return result.cancelled() or result.exception() is not None


def _describe_failure(result, name):
    if result.cancelled():
        return f"{name} was cancelled"
    error = result.exception()
    if not hasattr(error, "engine_info"):
        # The client's own failure (px.close(), a lost cluster): no engine, no remote traceback.
        return f"{type(error).__name__}: {_safe_str(error)}"
    lines = []
    for ename, evalue, tb, info in getattr(error, "elist", None) or [
            (error.ename, error.evalue, error.traceback, error.engine_info)]:
        engine = info.get("engine_id")
        lines.append(f"[{'-' if engine is None else engine}:{info.get('method', 'apply')}] "
                     + (tb or f"{ename}: {evalue}"))
    return "\n".join(lines)


def _describe_result(result, name, value_name):
    lines = []
    for task in result._tasks:
        engine = "-" if task.engine is None else task.engine
        for stream in ("stdout", "stderr"):
            text = getattr(task, stream)
            if text:
                lines.append(f"[{stream}:{engine}] " + text.rstrip("\n"))
    if _has_failed(result):
        lines.append(_describe_failure(result, name))
    else:
        lines.append(f"{value_name} = {_repr_cut(result.get())}")
    return "\n".join(lines)


def _op_complete(args):
    text = args[0].decode()
    start = len(text)
    while start and (text[start - 1].isalnum() or text[start - 1] in "_."):
        start -= 1
    candidates = _complete_token(text[start:])
    return [b"ok", str(start).encode(), *map(_utf8, candidates)]


def _op_is_complete(args):
    status, indent = _check_complete(args[0].decode())
    return [b"ok", status.encode(), indent.encode()]


_setup_names = set()  # modules, functions and classes bound by setup statements so far


def _op_setup_part(args):
    """The setup statements of a %px cell, for %restart --replay: imports, def and class, and
    assignments of functions and modules (lambdas, partials, aliases of names bound by setup).

    Everything else (data, calls, loops, prints) is left out: replaying it would redo the work
    or its side effects. Names bound by setup are remembered across cells (`np = numpy` after
    an earlier `import numpy`)."""
    source = args[0].decode()
    try:
        tree = compile(source, "<setup>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError:
        return [b"ok", b""]
    lines = source.splitlines()
    parts = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _setup_names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            parts.append(ast.get_source_segment(source, node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            _setup_names.add(node.name)
            # A compound statement starts its line; its decorators come first.
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            parts.append("\n".join(lines[first - 1:node.end_lineno]))
        elif isinstance(node, ast.Assign) and _binds_code(node.value):
            _setup_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            parts.append(ast.get_source_segment(source, node))
    return [b"ok", _utf8("\n".join(part for part in parts if part))]


def _binds_code(value):
    """Whether an assigned value is a function or module: a lambda, a partial, or a name (or
    attribute) reached from a module, function or class bound by setup."""
    if isinstance(value, ast.Lambda):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name == "partial"
    root = value
    while isinstance(root, ast.Attribute):
        root = root.value
    return isinstance(root, ast.Name) and root.id in _setup_names


def _op_who(args):
    reply = [b"ok"]
    names = sorted(name for name in _ns if isinstance(name, str)
                   and not name.startswith("_") and name not in _WHO_HIDDEN)
    for name in names:
        value = _ns[name]
        reply += [_utf8(name), _utf8(type(value).__name__),
                  _utf8(_summary(value, WHO_SUMMARY_LIMIT))]
    return reply


# --------------------------------------------------------------------------
# A map's values, collected at home while the map runs

_MAP_VALUES_LIMIT = 16  # maps collecting at once; past it the oldest one's values are dropped
_map_values = {}  # token -> _MapValues


class _MapValues:
    """The values of a map's chunks that have come home, by chunk index.

    In item order, each chunk that continues the ones before is joined to them as it comes,
    so that when the map ends only the chunks that came late are left to join."""

    __slots__ = ("in_item_order", "joined", "joined_count", "parts", "error")

    def __init__(self, in_item_order):
        self.in_item_order = in_item_order
        self.joined = None  # chunks 0 to joined_count - 1, one list
        self.joined_count = 0
        self.parts = {}
        self.error = None  # the first chunk that did not load, raised when the map is collected

    def add(self, index, values):
        if not self.in_item_order or index != self.joined_count:
            self.parts[index] = values
            return
        while True:
            # A freshly loaded list that nothing else holds: the first one is extended in place.
            if self.joined is None:
                self.joined = values
            else:
                self.joined.extend(values)
            self.joined_count += 1
            values = self.parts.pop(self.joined_count, None)
            if values is None:
                return

    def covers(self, order):
        """Whether every chunk of order is here (not so for a restarted home engine: the first
        chunks went to the one that died)."""
        done = self.joined_count
        return order[:done] == list(range(done)) and all(index in self.parts for index in order[done:])

    def value(self, order):
        """One list of the chunks in order (the joined ones must lead it, as they came)."""
        if self.error is not None:
            raise self.error
        done = self.joined_count
        if order[:done] != list(range(done)):
            raise ValueError("MAP_VALUES: the order does not start with the chunks joined so far")
        parts = [self.joined] if done else []
        parts += [self.parts.pop(index) for index in order[done:]]
        return _chain(parts, fresh=True)


def _op_map_values(args):
    """A map's chunk values sent home as its tasks end:
    [token, action, order, names, n, (chunk index, blob) * n].

    add: load the chunks and keep them (order: "items" joins them in item order as they come,
    "completion" keeps them apart); finish: load the chunks given, join all in order (chunk
    indices, comma-separated) and bind names; -> [ok, "1", repr], or [ok, "0"] when the map's
    values are not all here (dropped past _MAP_VALUES_LIMIT, or sent to a home engine that has
    since restarted): the client then sends them all again.
    drop: forget them."""
    token = args[0].decode()
    action = args[1]
    if action == b"drop":
        _map_values.pop(token, None)
        return [b"ok"]
    if action not in (b"add", b"finish"):
        raise ValueError(f"unknown MAP_VALUES action {action!r}")
    values = _map_values.get(token)
    if values is None:
        if action == b"finish":
            return [b"ok", b"0"]
        if len(_map_values) >= _MAP_VALUES_LIMIT:
            del _map_values[next(iter(_map_values))]
        values = _map_values[token] = _MapValues(args[2] == b"items")
    pos = 5
    for _ in range(int(args[4])):
        index = int(args[pos])
        try:
            chunk, pos = _load(args, pos + 1)
        except Exception as exc:
            # Raised when the map is collected, as loading all chunks at once would have.
            values.error = values.error or exc
            pos += 2 + int(args[pos + 1])
            continue
        if values.error is None:
            values.add(index, chunk)
    if action == b"add":
        return [b"ok"]
    del _map_values[token]
    order = [int(index) for index in args[2].split(b",")] if args[2] else []
    if values.error is None and not values.covers(order):
        return [b"ok", b"0"]
    value = values.value(order)
    for name in _assign_names(args[3]):
        _bind(name, value)
    return [b"ok", b"1", _utf8(_repr_cut(value))]


_OPS = {
    1: _op_execute,
    2: _op_export,
    3: _op_import,
    4: _op_collect,
    5: _op_scatter,
    6: _op_apply,
    7: _op_pack_call,
    8: _op_prepare_map,
    9: _op_map_chunk,
    10: _op_complete,
    11: _op_is_complete,
    12: _op_who,
    13: _op_call,
    14: _op_starmap,
    15: _op_results,
    16: _op_export_values,
    20: _op_setup_part,
    21: _op_map_values,
}


# --------------------------------------------------------------------------
# Running user code

def _parses_as_expression(text):
    return _expression_code(text) is not None and bool(text.strip())


_expressions = {}  # expression source -> its code, or None where it does not parse
_EXPRESSIONS_LIMIT = 256


def _expression_code(text):
    """compile(text, "<pxsh>", "eval"), or None on a SyntaxError; each text compiles once.

    A magic's words are parsed several ways to find where the function ends (`%apply f 1`
    compiled five small expressions, most of the call's time in the home engine), and a session
    repeats the same magics: the parser's work is done once per text."""
    if text in _expressions:
        return _expressions[text]
    try:
        code = compile(text, "<pxsh>", "eval", dont_inherit=True)
    except SyntaxError:
        code = None
    if len(_expressions) >= _EXPRESSIONS_LIMIT:
        del _expressions[next(iter(_expressions))]
    _expressions[text] = code
    return code


def _parses_as_sequences(text):
    """One expression, or several separated by spaces (`%map f xs ys`)."""
    return _parses_as_expression(text) or _several_sequences(text) is not None


def _several_sequences(text):
    """The expressions of `xs ys`: two or more top-level words that each parse, else None.

    `[1, 2] [3, 4]` is two lists here, not a subscript."""
    words = _top_level_words(text)
    if len(words) > 1 and all(_parses_as_expression(word) for word in words):
        return words
    return None


class _Starred:
    """f over several sequences: called with a tuple of one item of each, as map(f, xs, ys) calls f."""

    __slots__ = ("func",)

    def __init__(self, func):
        self.func = func

    def __call__(self, items):
        return self.func(*items)

    def __reduce__(self):
        return _Starred, (self.func,)


def _parses_as_arguments(text):
    return _parses_as_expression("f(\n" + text + "\n)")


def _parses_as_spaced_arguments(text):
    return _parses_as_arguments(text) or _parses_as_arguments(", ".join(_top_level_words(text)))


def _top_level_words(text):
    """Split at spaces outside brackets and strings (`lambda x: x range(3)` -> 4 words)."""
    words, current, depth, quote = [], "", 0, None
    for char in text:
        if quote:
            current += char
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        if char.isspace() and depth == 0:
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    if current:
        words.append(current)
    return words


_CONTINUATION_WORDS = {"if", "else", "for", "async", "and", "or", "in", "is", "not"}


def _continues_expression(rest):
    """Whether text starts like the rest of an expression (an operator), not a new one."""
    if not rest:
        return False
    return rest[0] in "+-*/%@&|^<>=!.," or rest.split(None, 1)[0] in _CONTINUATION_WORDS


def _split_expressions(text, rest_parses, allow_empty=False, rest_is_new=False):
    """Split `F REST` where F is the shortest run of words that is an expression and REST parses."""
    words = _top_level_words(text)
    for cut in range(1, len(words) + (1 if allow_empty else 0)):
        head, rest = " ".join(words[:cut]), " ".join(words[cut:])
        if rest_is_new and _continues_expression(rest):
            continue  # `lambda x: x + 1 [1, 2]`: `+ 1 [1, 2]` parses, but it is the lambda's
        if _parses_as_expression(head) and rest_parses(rest):
            return head, rest
    raise SyntaxError(f"cannot tell the function from the rest in {text!r}; "
                      "parenthesize them, e.g. (lambda x: x + 1) (range(10))")


def _bind_interactive(value):
    """value, or for a function defined at the prompt, that function in the engine's namespace
    with the globals it captured taken in (_take_captured)."""
    func, captured = _rebound(value)
    _take_captured(captured)
    return func


def _rebound(value):
    """(function, captured globals): a function defined at the prompt, rebound to the engine's
    namespace so that it sees `rank` and the engine's imports, as in ipyparallel, and the
    (name, value) pairs of the globals it arrived with; other values as they are, with ()."""
    if type(value) is not types.FunctionType or value.__module__ != "__main__" or value.__globals__ is _ns:
        return value, ()
    captured = tuple((name, held) for name, held in value.__globals__.items() if not name.startswith("__"))
    bound = types.FunctionType(value.__code__, _ns, value.__name__, value.__defaults__, value.__closure__)
    bound.__kwdefaults__ = value.__kwdefaults__
    bound.__dict__.update(value.__dict__)
    bound.__qualname__ = value.__qualname__
    return bound, captured


def _take_captured(captured):
    """Put a function's captured globals in the namespace, for each call: where the engine lacks
    the name, or still holds the value an earlier function's capture put there (so a function
    sees the caller's value at the call, not the first call's); a value the user set on the
    engine (%px, push, execute) is kept."""
    for name, value in captured:
        held = _ns.get(name, _MISSING)
        if held is value:
            continue
        if held is _MISSING or held is _captured.get(name, _MISSING):
            _ns[name] = value
            _captured[name] = value
            if held is not _MISSING:
                _replaced.append(held)  # freed after the reply, as _bind does
        else:
            _captured.pop(name, None)


def _forget_replaced_captures():
    """Drop the records, and the cached functions, that hold a captured value the namespace no
    longer holds, so that a value the user replaced is not kept alive: after each cell, where
    users assign. (One a function replaced lives on until the next cell.)"""
    for name, value in list(_captured.items()):
        if _ns.get(name, _MISSING) is not value:
            del _captured[name]
    for key, (_, captured) in list(_fn_cache.items()):
        if captured and any(_ns.get(name, _MISSING) is not value for name, value in captured):
            del _fn_cache[key]  # loaded again from its blob if called again


_compiled = {}  # cell source -> (body, result): the same source compiles to the same code
_COMPILED_LIMIT = 256


def _run_cell(source, filename):
    """Execute a cell IPython-style; return the value of a trailing expression."""
    _remember_source(filename, source)
    cached = _compiled.get(source)
    if cached is None:
        tree = compile(_with_shell_and_help(source), filename, "exec", ast.PyCF_ONLY_AST,
                       dont_inherit=True)
        last = None
        if (tree.body and isinstance(tree.body[-1], ast.Expr)
                and not _ends_with_semicolon(source, tree.body[-1])):
            last = tree.body.pop()
        body = compile(tree, filename, "exec", dont_inherit=True) if tree.body else None
        result = None
        if last is not None:
            expression = ast.Expression(last.value)
            result = compile(expression, filename, "eval", dont_inherit=True)
        if len(_compiled) >= _COMPILED_LIMIT:
            del _compiled[next(iter(_compiled))]
        _compiled[source] = (body, result)
    else:
        body, result = cached
        body = body and _renamed(body, filename)
        result = result and _renamed(result, filename)
    _remember_code(filename, body, result)
    if body is not None:
        exec(body, _ns)
    return None if result is None else eval(result, _ns)


# --------------------------------------------------------------------------
# IPython's shell and help lines: `!cmd`, `files = !ls`, `obj?` and `obj??`

def _with_shell_and_help(source):
    """source with each shell or help line made a call, one line for one, so that line
    numbers still match what the user typed. Only lines where a statement starts count:
    a `!` line inside a string or brackets stays as it is."""
    if "!" not in source and "?" not in source:
        return source
    shell_line, help_line = _line_patterns()
    lines = source.split("\n")
    calls = {}
    for number, line in enumerate(lines, 1):
        if match := shell_line.fullmatch(line):
            indent, targets, command = match.groups()
            call = f"__pxsh_shell__({command!r}, {bool(targets)})"
            calls[number] = f"{indent}{targets} = {call}" if targets else indent + call
        elif (match := help_line.fullmatch(line)) and bool(match[2]) != bool(match[4]):
            indent, before, name, after = match.groups()
            calls[number] = f"{indent}__pxsh_help__({name!r}, {len(before or after)})"
    starts = _statement_starts(lines, calls)
    for number in starts:
        lines[number - 1] = calls[number]
    return "\n".join(lines) if starts else source


_patterns = None


def _line_patterns():
    """(shell line, help line), compiled on first use: most cells have neither. As in IPython,
    a shell line's targets are plain names: `!cmd`, `files = !ls`, `a, b = !cmd`."""
    global _patterns
    if _patterns is None:
        import re
        name = r"[A-Za-z_][\w.]*"
        _patterns = (re.compile(rf"([ \t]*)(?:({name}(?:[ \t]*,[ \t]*{name})*)[ \t]*=[ \t]*)?!(.*)"),
                     re.compile(rf"([ \t]*)(\?\??)?({name})(\?\??)?[ \t]*"))
    return _patterns


def _statement_starts(lines, candidates):
    """The numbers of the candidate lines at which a statement starts: with each candidate
    written as `pass`, a `pass` token that opens a logical line outside brackets."""
    import io
    import tokenize
    probe = "\n".join(_indent_of(line) + "pass" if number in candidates else line
                      for number, line in enumerate(lines, 1))
    starts = []
    depth = 0
    opens_line = True
    try:
        for token in tokenize.generate_tokens(io.StringIO(probe + "\n").readline):
            if token.type == tokenize.NAME and token.start[0] in candidates and opens_line and depth == 0:
                starts.append(token.start[0])
            elif token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth = max(depth - 1, 0)
            if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
                opens_line = token.type == tokenize.NEWLINE
    except (tokenize.TokenError, SyntaxError):
        pass  # an unfinished cell: the lines read so far are known
    return starts


def _indent_of(line):
    return line[:len(line) - len(line.lstrip(" \t"))]


def _shell(command, capture=False):
    """Run a shell command with the caller's `{expr}` and `$name` filled in, as in IPython
    (`$$` is a `$`). Its output streams; captured, it is a list of lines."""
    import subprocess
    frame = sys._getframe(1)
    command = _expand(command, frame.f_globals, frame.f_locals)
    sys.stdout.flush()
    sys.stderr.flush()
    stdin = sys.stdin.fileno() if sys.stdin is not sys.__stdin__ and hasattr(sys.stdin, "fileno") else None
    # A group of its own, so that Ctrl-C reaches every process of a pipeline or `a; b`.
    with subprocess.Popen(command, shell=True, stdin=stdin, stdout=subprocess.PIPE if capture else None,
                          text=True, errors="replace", process_group=0) as process:
        try:
            output, _ = process.communicate()
        except KeyboardInterrupt:
            _stop_group(process)
            raise KeyboardInterrupt from None  # subprocess's frames would say nothing
    frame.f_globals["_exit_code"] = process.returncode
    return output.splitlines() if capture else None


def _stop_group(process):
    """SIGINT to the command's group, as a shell's Ctrl-C; SIGKILL to what is left after 1 s."""
    import signal
    import subprocess
    for sig, wait in ((signal.SIGINT, 1), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            pass


def _expand(command, globals_, locals_):
    """Each field that evaluates is filled in; one that does not (`$HOME`, awk's `{print $1}`)
    stays as typed, for the shell."""
    if "{" not in command and "$" not in command:
        return command
    import re

    def field(match):
        if match[0] in ("$$", "{{", "}}"):
            return match[0][0]
        try:
            return str(eval(match[1] or match[2], globals_, locals_))
        except Exception:
            return match[0]
    return re.sub(r"\$\$|\{\{|\}\}|\$([A-Za-z_]\w*)|\{([^{}]+)\}", field, command)


def _help(name, detail):
    """What IPython's `obj?` shows (signature, type, file, docstring); `obj??` shows the source."""
    import inspect
    frame = sys._getframe(1)
    try:
        obj = eval(name, frame.f_globals, frame.f_locals)
    except Exception:
        print(f"Object `{name}` not found.")
        return
    rows = []
    try:
        rows.append(("Signature", f"{name}{inspect.signature(obj)}"))
    except (TypeError, ValueError):
        pass
    rows.append(("Type", type(obj).__name__))
    if not (inspect.isroutine(obj) or inspect.isclass(obj) or inspect.ismodule(obj)):
        rows.append(("String form", _repr_cut(obj)))
    try:
        rows.append(("File", inspect.getsourcefile(obj) or inspect.getfile(obj)))
    except TypeError:
        pass
    source = None
    if detail > 1:
        try:
            source = inspect.getsource(obj).rstrip("\n")
        except (OSError, TypeError):
            pass
    if source is not None:
        rows.append(("Source", source))
    else:
        doc = inspect.getdoc(obj)
        rows.append(("Docstring", doc if doc else "<no docstring>"))
    width = max(len(label) for label, _ in rows) + 2
    print("\n".join(f"{label}:\n{text}" if "\n" in text else f"{label + ':':<{width}}{text}"
                    for label, text in rows))


builtins.__pxsh_shell__ = _shell
builtins.__pxsh_help__ = _help


def _renamed(code, filename):
    """code, and the code nested in it, as if compiled under filename (a cache hit's cell)."""
    consts = code.co_consts
    if any(type(const) is types.CodeType for const in consts):
        consts = tuple(_renamed(const, filename) if type(const) is types.CodeType else const
                       for const in consts)
        return code.replace(co_filename=filename, co_consts=consts)
    return code.replace(co_filename=filename)


def _ends_with_semicolon(source, node):
    """IPython's convention: a trailing ';' suppresses the cell's result."""
    if ";" not in source:
        return False
    # ast counts lines on \n, \r\n and \r only (str.splitlines knows more),
    # and its column offsets are UTF-8 byte offsets.
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    rest = lines[node.end_lineno - 1].encode()[node.end_col_offset:]
    return rest.lstrip().startswith(b";")


def _evaluate(expr):
    """Evaluate an expression typed at a magic (push x=..., %map F SEQ, ...)."""
    _remember_source("<pxsh>", expr)
    # A text that does not parse compiles again here, to raise its own SyntaxError.
    code = _expression_code(expr) or compile(expr, "<pxsh>", "eval", dont_inherit=True)
    _remember_code("<pxsh>", code)
    return eval(code, _ns)


def _remember_source(filename, source):
    """Register source in linecache so tracebacks can show its lines."""
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    # mtime None: linecache.checkcache() never evicts the entry.
    linecache.cache[filename] = (len(source), None, lines, filename)
    _cell_code[filename] = ()  # until it compiles: nothing comes from it


def _remember_code(filename, *codes):
    """Record the code compiled under filename (see _is_foreign)."""
    # Only the top-level code objects: the nested ones are collected when a
    # traceback needs them, which keeps this off the EXECUTE path.
    _cell_code[filename] = tuple(code for code in codes if code is not None)


def _is_foreign(code):
    """True for code that names one of our cells but was not compiled here.

    Every process numbers its own cells, so a function defined in the home
    engine's <In [3]> and run on an engine would otherwise be shown with
    the engine's own line from its <In [3]>. Equal code objects come from
    the same source at the same place, so their lines are right.
    """
    local = _cell_code.get(code.co_filename)
    if local is None:
        return False
    if type(local) is tuple:
        local = _cell_code[code.co_filename] = _nested_code(local)
    return code not in local


def _nested_code(codes):
    found = set()
    pending = list(codes)
    while pending:
        code = pending.pop()
        found.add(code)
        pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


def _lookup(name):
    value = _ns.get(name, _MISSING)
    if value is _MISSING:
        raise NameError(f"name {name!r} is not defined")
    return value


def _identifier(raw):
    import keyword
    name = raw.decode()
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"invalid variable name {name!r}")
    return name


def _assign_names(raw):
    return [_identifier(part.strip()) for part in raw.split(b",") if part.strip()]


def _positive_int(raw, what):
    value = int(raw)
    if value < 1:
        raise ValueError(f"{what} must be at least 1, got {value}")
    return value


def _require_callable(value, expr):
    if not callable(value):
        raise TypeError(f"{expr!r} is not callable ({type(value).__name__})")


def _callable_name(func):
    if type(func) is _Starred:
        func = func.func
    name = getattr(func, "__qualname__", None)
    return name if isinstance(name, str) else type(func).__name__


# --------------------------------------------------------------------------
# Gather and scatter

def _collect_by_key(dicts, combine):
    for part in dicts:
        if type(part) is not dict:
            raise TypeError(f"COLLECT expects dicts, got {type(part).__name__}")
    reply = [b"ok"]
    keys = dicts[0] if dicts else ()
    for key in keys:
        # With one key, each block is held by its dict alone: concat may extend the first.
        value = combine([part[key] for part in dicts], len(keys) == 1)
        _bind(key, value)
        reply += [_utf8(key), _utf8(_repr_cut(value))]
    return reply


def _concat(parts, fresh=False):
    """Join gathered blocks back into one value of the blocks' kind (fresh: see _chain)."""
    if not parts:
        return []
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)
    if all(isinstance(p, bytes) for p in parts):
        return b"".join(parts)
    # numpy or pandas is already imported if a part is one of theirs.
    np = sys.modules.get("numpy")
    if np is not None and all(isinstance(p, np.ndarray) and p.ndim for p in parts):
        return np.concatenate(parts)
    if all(_is_pandas(p) for p in parts):
        return sys.modules["pandas"].concat(parts)
    if all(isinstance(p, tuple) for p in parts):
        return tuple(x for p in parts for x in p)
    if all(type(p) is range for p in parts):
        joined = _join_ranges(parts)
        if joined is not None:
            return joined
    if all(isinstance(p, (list, tuple, range)) for p in parts):
        return _chain(parts, fresh)
    return list(parts)


def _chain(parts, fresh):
    """One list of the items of parts, in order. When the first part is a list that nothing else
    holds (fresh: just loaded), it is extended in place, which copies half the references of a
    gather from two engines."""
    if fresh and parts and type(parts[0]) is list:
        joined, rest = parts[0], parts[1:]
    else:
        joined, rest = [], parts
    for part in rest:
        joined.extend(part)
    return joined


def _join_ranges(parts):
    """The one range that the ranges in parts make end to end (a scattered range gathered back), in
    O(1) per part; None when they do not continue each other."""
    filled = [p for p in parts if len(p)]
    if not filled:
        return parts[0]
    step = next((p.step for p in filled if len(p) > 1), None)
    if step is None:  # every part holds one item
        step = filled[1][0] - filled[0][0] if len(filled) > 1 else 1
        if step == 0:
            return None
    if any(len(p) > 1 and p.step != step for p in filled):
        return None
    if any(part[0] != previous[-1] + step for previous, part in zip(filled, filled[1:])):
        return None
    return range(filled[0][0], filled[-1][-1] + (1 if step > 0 else -1), step)


def _split(value, n):
    """Split value into n contiguous blocks (numpy.array_split sizes)."""
    import collections.abc
    if (isinstance(value, (list, tuple, range, str, bytes, bytearray))
            or (_is_ndarray(value) and value.ndim)):
        blocks, length = value, len(value)
    elif _is_pandas(value):
        blocks, length = value.iloc, len(value)  # rows, not column labels
    elif isinstance(value, (set, frozenset, collections.abc.Mapping)):
        # A dict would scatter its keys alone, a set in an arbitrary order.
        raise TypeError(f"cannot scatter a {type(value).__name__}: it is not a sequence "
                        "(scatter a list, tuple, range or array: list(d.items()), sorted(s))")
    else:
        try:
            iterator = iter(value)
        except TypeError:
            raise TypeError(
                f"cannot scatter {type(value).__name__}: not a sequence") from None
        blocks = list(iterator)
        length = len(blocks)
    base, extra = divmod(length, n)
    parts = []
    start = 0
    for i in range(n):
        stop = start + base + (i < extra)
        parts.append(blocks[start:stop])
        start = stop
    return parts


def _is_ndarray(value):
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.ndarray)


def _is_pandas(value):
    module = getattr(type(value), "__module__", None)
    return (isinstance(module, str) and module.startswith("pandas.")
            and "pandas" in sys.modules and hasattr(value, "iloc"))


# --------------------------------------------------------------------------
# Serialization

def _dump(obj, is_plain=False):
    """Encode obj as a value blob: [count, pickle, *out-of-band buffers]; is_plain: the plain
    pickler suffices for obj, whatever its type (see _is_plain)."""
    buffers = []
    data = _dumps(obj, buffers.append, is_plain)
    if not buffers:
        return [b"1", data]
    return [str(len(buffers) + 1).encode(), data,
            *[_export_buffer(buffer) for buffer in buffers]]


# Large pickles and large out-of-band buffers (numpy arrays) travel as files in the
# cluster's private shared-memory directory: the segment names the file, so the sockets
# (engine, controller, client, controller, engine) carry a few bytes instead of the data,
# and receivers map the file instead of copying it. The client removes the files once
# the transfer is done; the controller removes the directory when the cluster stops.
SHARED_MEMORY_THRESHOLD = 1 << 16
_SHARED_MEMORY_MAGIC = b"\x00pxsh-shared-memory\x00"
_shared_memory_dir = os.environ.get("PXSH_SHARED_MEMORY_DIR") or None
_shared_memory_count = 0


_request_files = []  # the files made for the current request's reply


def _create_shared():
    """A new file in the shared-memory directory: (path, fd open for writing)."""
    global _shared_memory_count
    _shared_memory_count += 1
    path = os.path.join(_shared_memory_dir, "%d-%d" % (os.getpid(), _shared_memory_count))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    _request_files.append(path)
    return path, fd


def _remove_request_files():
    """A request failed: no one will read or remove the files made for its reply (the blocks
    of a scatter that were written before one failed to pickle, say)."""
    for path in _request_files:
        try:
            os.unlink(path)
        except OSError:
            pass
    _request_files.clear()


def _write_all(fd, data):
    # write(2) fills tmpfs pages inside the kernel: 2-3x faster than mmap + copy,
    # which takes a page fault for every 4 KiB of the file.
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def _shared_segment(path):
    return _SHARED_MEMORY_MAGIC + path.encode()


def _shared_path(segment):
    """The file a segment names, or None for a segment that holds its bytes."""
    if segment[:len(_SHARED_MEMORY_MAGIC)] != _SHARED_MEMORY_MAGIC:
        return None
    return bytes(segment[len(_SHARED_MEMORY_MAGIC):]).decode()


def _export_buffer(buffer):
    raw = buffer.raw()
    if _shared_memory_dir is None or raw.nbytes < SHARED_MEMORY_THRESHOLD:
        return bytes(raw)
    path, fd = _create_shared()
    try:
        _write_all(fd, raw)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)
    return _shared_segment(path)


def _import_buffer(segment):
    path = _shared_path(segment)
    if path is None:
        return _writable(segment)
    import mmap
    # Copy-on-write: the array is writable, and pages are copied only if written.
    return memoryview(_map_shared_file(path, mmap.ACCESS_COPY))


def _map_shared_file(path, access):
    """The whole shared-memory file at path, mapped with mmap's access mode (the mapping outlives
    its descriptor, and the file's name)."""
    import mmap
    fd = os.open(path, os.O_RDONLY)
    try:
        return mmap.mmap(fd, 0, access=access)
    finally:
        os.close(fd)


class _PickleOutput:
    """Where a pickler writes (frames of about 64 KiB): memory while the pickle is small, a
    shared-memory file once it reaches SHARED_MEMORY_THRESHOLD. A large pickle is then written
    once, into the file, and never held whole in this process's memory."""

    __slots__ = ("_chunks", "_size", "_path", "_fd")

    def __init__(self):
        self._chunks = []
        self._size = 0
        self._path = None
        self._fd = -1

    def write(self, data):
        if self._fd >= 0:
            _write_all(self._fd, data)
            return len(data)
        self._chunks.append(bytes(data))
        self._size += len(self._chunks[-1])
        if self._size >= SHARED_MEMORY_THRESHOLD and _shared_memory_dir is not None:
            self._path, self._fd = _create_shared()
            chunks, self._chunks = self._chunks, []
            for chunk in chunks:
                _write_all(self._fd, chunk)
        return len(data)

    def segment(self):
        """The pickle, or the segment that names its file."""
        if self._fd < 0:
            return b"".join(self._chunks)
        os.close(self._fd)
        self._fd = -1
        return _shared_segment(self._path)

    def discard(self):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            os.unlink(self._path)


def _dumps(obj, buffer_callback, is_plain=False):
    """The pickle of obj: its bytes, or a segment naming the shared-memory file that holds it."""
    if is_plain or _is_plain(obj):
        data = pickle.dumps(obj, PICKLE_PROTOCOL, buffer_callback=buffer_callback)
        if len(data) < SHARED_MEMORY_THRESHOLD or _shared_memory_dir is None:
            return data
        write = lambda out: out.write(data)  # a large str or bytes
    else:
        cloudpickle = _cloudpickle_module() if USE_CLOUDPICKLE else None
        pickler = cloudpickle.Pickler if cloudpickle else _FallbackPickler
        write = lambda out: pickler(out, PICKLE_PROTOCOL, buffer_callback=buffer_callback).dump(obj)
    out = _PickleOutput()
    try:
        write(out)
    except BaseException:
        out.discard()
        raise
    return out.segment()


def _is_plain(obj):
    kind = type(obj)
    if kind in _PLAIN_TYPES:
        return True
    if (kind is list or kind is tuple) and len(obj) <= _PLAIN_CONTAINER_LIMIT:
        for item in obj:
            if type(item) not in _PLAIN_TYPES:
                return False
        return True
    return False


def _cloudpickle_module():
    # Imported on first use: it costs more than the rest of engine start.
    global _cloudpickle
    if _cloudpickle is None:
        try:
            import cloudpickle
            _cloudpickle = cloudpickle
        except Exception:
            _cloudpickle = False
    return _cloudpickle


def _load(args, pos):
    """Decode the value blob that starts at args[pos]; return (obj, next_pos)."""
    count = int(args[pos])
    end = pos + 1 + count
    if count < 1 or end > len(args):
        raise ValueError(f"malformed value blob at segment {pos}")
    buffers = [_import_buffer(buffer) for buffer in args[pos + 2:end]] if count > 1 else None
    path = _shared_path(args[pos + 1])
    if path is None:
        return _loads(args[pos + 1], buffers), end
    import mmap
    with _map_shared_file(path, mmap.ACCESS_READ) as data:
        return _loads(data, buffers), end


def _loads(data, buffers):
    try:
        return pickle.loads(data, buffers=buffers)
    except Exception as exc:
        if "cloudpickle" not in _safe_str(exc):
            raise
        # Pickles of one cloudpickle version name functions another lacks (3.x's
        # _function_setstate on 2.x): say which versions, not just "Can't get attribute".
        raise _cloudpickle_mismatch(exc) from None


def _cloudpickle_mismatch(exc):
    cloudpickle = _cloudpickle_module()
    if cloudpickle:
        version = getattr(cloudpickle, "__version__", "?")
        fix = (f"has cloudpickle {version}: the client must pickle with the same version "
               f"(pip install 'cloudpickle=={version}' where the client runs)")
    else:
        fix = f"has no cloudpickle: install it there ({sys.executable} -m pip install cloudpickle)"
    return SerializationError(
        f"cannot load what the client pickled with cloudpickle: {type(exc).__name__}: {_safe_str(exc)}; "
        f"this engine ({sys.executable}) {fix}")


def _load_many(args, pos, n):
    values = []
    for _ in range(n):
        value, pos = _load(args, pos)
        values.append(value)
    return values


def _writable(buffer):
    # Arrays built on a bytes object would be read-only (ipyparallel #742);
    # the pickle still marks buffers that were read-only at the source.
    if isinstance(buffer, bytearray):
        return buffer
    if isinstance(buffer, memoryview) and not buffer.readonly:
        return buffer
    return bytearray(buffer)


def _serialization_error(what, exc):
    return SerializationError(
        f"cannot serialize {what}: {type(exc).__name__}: {_safe_str(exc)}")


_PICKLER_MODULES = frozenset(("pickle", "copyreg", "cloudpickle"))


def _interrupted_serializing(what, interrupt):
    """Ctrl-C during a long pickle (`%push big`): says what was being serialized, with the user's
    frames (a __reduce__ that was running) and none of the pickler's."""
    kept = []
    tb = interrupt.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__")).partition(".")[0] not in _PICKLER_MODULES:
            kept.append(tb)
        tb = tb.tb_next
    tb = None
    for entry in reversed(kept):
        tb = types.TracebackType(tb, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return KeyboardInterrupt(f"interrupted while serializing {what}").with_traceback(tb)


def _dump_named(obj, what):
    try:
        return _dump(obj)
    except KeyboardInterrupt as interrupt:
        raise _interrupted_serializing(what, interrupt) from None
    except Exception as exc:
        failure = exc
    reason = _unpicklable_capture(obj, failure)
    if reason is None:
        raise _serialization_error(what, failure) from None
    raise SerializationError(f"cannot serialize {what}: {reason}") from None


def _unpicklable_capture(func, failure):
    """Which value a function carries (a global, a closure variable, a default) fails to pickle, as the
    pxsh package says it (see pxsh.serialize.unpicklable_capture); None where the package is not
    embedded (only the home engine has it, where %apply, %map and %push pickle functions)."""
    if not isinstance(func, (types.FunctionType, types.MethodType)):
        return None
    if not any(isinstance(finder, _EmbeddedFinder) for finder in sys.meta_path):
        return None
    from pxsh import serialize
    cloudpickle = _cloudpickle_module() if USE_CLOUDPICKLE else None
    return serialize.unpicklable_capture(func, failure, cloudpickle.Pickler if cloudpickle else _FallbackPickler)


def _dump_dict(values):
    """Dump a {name: value} dict; on failure, name the value that fails."""
    try:
        return _dump(values)
    except KeyboardInterrupt as interrupt:
        raise _interrupted_serializing(", ".join(map(repr, values)), interrupt) from None
    except Exception as exc:
        failure = exc
    for name, value in values.items():
        _dump_named(value, repr(name))
    raise _serialization_error(", ".join(map(repr, values)), failure) from None


def _dump_call(func, fargs, fkwargs, fexpr):
    # A built-in function with plain arguments (`%apply abs 1`) pickles by reference: the
    # plain pickler does it in a fraction of cloudpickle's time.
    is_plain = type(func) is types.BuiltinFunctionType and not fkwargs and _is_plain(fargs)
    try:
        return _dump((func, fargs, fkwargs), is_plain)
    except Exception as exc:
        failure = exc
    _dump_named(func, repr(fexpr))
    for i, arg in enumerate(fargs):
        _dump_named(arg, f"argument at index {i} of {fexpr!r}")
    for key, arg in fkwargs.items():
        _dump_named(arg, f"argument {key!r} of {fexpr!r}")
    raise _serialization_error(f"the call of {fexpr!r}", failure) from None


def _dump_items(items, first_index, seqexpr):
    """A map chunk: its first item's index in the whole sequence, and its items."""
    try:
        return _dump((first_index, items))
    except Exception as exc:
        failure = exc
    for i, item in enumerate(items, first_index):
        _dump_named(item, f"item at index {i} of {seqexpr!r}")
    raise _serialization_error(f"items of {seqexpr!r}", failure) from None


class _FallbackPickler(pickle.Pickler):
    """The standard pickler plus what cloudpickle would add for a session.

    Functions (and lambdas) defined in ``__main__`` go by value, and modules
    by import name, so that %push f and %map f work without cloudpickle.
    """

    def reducer_override(self, obj):
        kind = type(obj)
        if kind is types.FunctionType and obj.__module__ == "__main__":
            return _reduce_function(obj)
        if isinstance(obj, types.ModuleType):
            return _import_module, (obj.__name__,)
        return NotImplemented


def _reduce_function(func):
    # The skeleton is rebuilt and memoized first, and the state (globals,
    # closure contents) applied afterwards, so that recursive and mutually
    # recursive functions pickle without infinite recursion.
    code = func.__code__
    namespace = func.__globals__
    captured = {name: namespace[name] for name in _global_names(code)
                if name in namespace}
    closure = func.__closure__ or ()
    cells = {}
    for i, cell in enumerate(closure):
        try:
            cells[i] = cell.cell_contents
        except ValueError:  # an empty cell: its variable is not bound yet
            pass
    state = {
        "globals": captured,
        "cells": cells,
        "defaults": func.__defaults__,
        "kwdefaults": func.__kwdefaults__,
        "qualname": func.__qualname__,
        "doc": func.__doc__,
        "dict": dict(func.__dict__),
    }
    skeleton = (marshal.dumps(code), func.__name__, len(closure))
    return _make_function, skeleton, state, None, None, _set_function_state


def _global_names(code):
    """Names the code (and code nested in it) may look up as globals."""
    names = dict.fromkeys(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(_global_names(const))
    return names


def _make_function(code_bytes, name, n_cells):
    # A fresh globals dict, as cloudpickle does: the function sees the values
    # it captured, not the receiving namespace. __name__ keeps functions it
    # defines in "__main__", so they too travel by value.
    namespace = {"__builtins__": builtins, "__name__": "__main__"}
    closure = tuple(types.CellType() for _ in range(n_cells)) or None
    return types.FunctionType(marshal.loads(code_bytes), namespace, name, None, closure)


def _set_function_state(func, state):
    func.__globals__.update(state["globals"])
    for i, value in state["cells"].items():
        func.__closure__[i].cell_contents = value
    func.__defaults__ = state["defaults"]
    func.__kwdefaults__ = state["kwdefaults"]
    func.__qualname__ = state["qualname"]
    func.__doc__ = state["doc"]
    func.__dict__.update(state["dict"])


def _import_module(name):
    __import__(name)
    return sys.modules[name]


# --------------------------------------------------------------------------
# Completion

def _complete_token(token):
    """Full replacements for token: a name, or a dotted path and a prefix."""
    if "." not in token:
        import keyword
        names = set(_ns)
        names.update(vars(builtins))
        names.update(keyword.kwlist)
        return sorted(name for name in names if isinstance(name, str)
                      and name.startswith(token) and _shown(name, token))
    *path, prefix = token.split(".")
    if not all(part.isidentifier() for part in path):
        return []
    # Only name and attribute lookups: nothing is called or evaluated.
    obj = _ns.get(path[0], _MISSING)
    if obj is _MISSING:
        obj = vars(builtins).get(path[0], _MISSING)
    if obj is _MISSING:
        return []
    try:
        for attr in path[1:]:
            obj = getattr(obj, attr)
        attrs = dir(obj)
    except Exception:
        return []
    base = ".".join(path) + "."
    return sorted({base + attr for attr in attrs if isinstance(attr, str)
                   and attr.startswith(prefix) and _shown(attr, prefix)})


def _shown(name, prefix):
    return prefix.startswith("_") or not name.startswith("_")


# --------------------------------------------------------------------------
# Input completeness (Jupyter's is_complete)

def _check_complete(source):
    import codeop
    import warnings
    if not source.strip():
        return "complete", ""
    lines = source.split("\n")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nothing may print on its own
            source = _with_shell_and_help(source)
            code = codeop.compile_command(source, "<input>", "exec")
    except (SyntaxError, OverflowError, ValueError, TypeError, MemoryError):
        return "invalid", ""
    if code is None:
        return "incomplete", _next_indent(lines)
    # Valid code that ends inside a block may still grow; like the Python
    # and IPython prompts, a blank line ends it.
    if lines[-1].strip() and _ends_inside_block(source):
        return "incomplete", _next_indent(lines)
    return "complete", ""


def _ends_inside_block(source):
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    if not tree.body or not isinstance(getattr(tree.body[-1], "body", None), list):
        return False
    last = tree.body[-1]
    last_line = max(node.lineno for node in ast.walk(last) if isinstance(node, ast.stmt))
    return last_line > last.lineno


def _next_indent(lines):
    last = next((line for line in reversed(lines) if line.strip()), "")
    indent = last[:len(last) - len(last.lstrip())]
    code = last.rstrip()
    if not code.endswith(":") and "#" in code:
        code = code.split("#", 1)[0].rstrip()
    if code.endswith(":"):
        indent += "    "
    return indent


# --------------------------------------------------------------------------
# Reprs and replies

_HUGE_CONTAINER = 2000


_HUGE_TEXT = 1 << 20


def _repr_cut(value, limit=REPR_LIMIT):
    kind = type(value)
    if kind in (str, bytes, bytearray) and len(value) > _HUGE_TEXT:
        # The repr of 200 MB of bytes took 0.5 s and as much memory again, to show 4 KiB of it.
        text = _safe_repr(value[:limit])[:limit]
        unit = "characters" if kind is str else "bytes"
        return f"{text}… [{kind.__name__} of {len(value)} {unit}]"
    if kind in (list, tuple) and len(value) > _HUGE_CONTAINER:
        # Only the start is shown: do not build megabytes of text to cut it.
        text = _safe_repr(value[:_HUGE_CONTAINER])
        if len(text) > limit:
            return f"{text[:limit]}… [{kind.__name__} of {len(value)} items]"
    text = _safe_repr(value)
    if len(text) > limit:
        text = f"{text[:limit]}… [{len(text) - limit} more characters]"
    return text


def _summary(value, limit):
    """The repr on one line, cut to limit characters."""
    text = " ".join(line.strip() for line in _head_repr(value).splitlines())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text


def _head_repr(value):
    # The start of a huge container's repr is the repr of its first items:
    # no need to build megabytes of text to show 60 characters of it.
    kind = type(value)
    if kind in (list, tuple, str, bytes, bytearray) and len(value) > 100:
        value = value[:100]
    elif kind is dict and len(value) > 100:
        value = {key: value[key] for key, _ in zip(value, range(100))}
    return _safe_repr(value)


class _ReprTimeout(BaseException):
    """A repr ran out of time (BaseException: a __repr__ catching Exception cannot keep it)."""


def _raise_repr_timeout(signum, frame):
    raise _ReprTimeout()


def _timed_repr(value):
    """repr(value), or _ReprTimeout after REPR_SECONDS (on the main thread; elsewhere no limit)."""
    if type(value) in _PLAIN_TYPES:
        return repr(value)
    import signal
    import threading
    import time
    if threading.current_thread() is not threading.main_thread():
        return repr(value)
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _raise_repr_timeout)
    outer = signal.setitimer(signal.ITIMER_REAL, REPR_SECONDS)
    try:
        return repr(value)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer[0]:  # the user's own timer goes on
            left = outer[0] - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(0.001, left), outer[1])


def _safe_repr(value):
    try:
        text = _timed_repr(value)
        if isinstance(text, str):
            return text
        raise TypeError(f"__repr__ returned {type(text).__name__}")
    except _ReprTimeout:
        return f"<repr of {type(value).__name__} object took more than {REPR_SECONDS:g} s>"
    except Exception as exc:
        return (f"<repr of {type(value).__name__} object failed: "
                f"{type(exc).__name__}: {_safe_str(exc)}>")


def _safe_str(exc):
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__} object>"


def _utf8(text):
    return text.encode("utf-8", "backslashreplace")


def _error_reply(exc):
    return [b"error", _utf8(type(exc).__name__), _utf8(_safe_str(exc)),
            _utf8(_format_traceback(exc))]


def _last_resort_reply(exc):
    try:
        return [b"error", _utf8(type(exc).__name__), b"",
                b"(pxsh runtime: the error reply itself failed)"]
    except BaseException:
        return [b"error", b"BaseException", b"", b""]


def _format_traceback(exc):
    """The traceback text, with only the user's frames and their own lines."""
    try:
        import traceback
        _fill_syntax_error_text(exc)
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        _clean_frames(te, exc, traceback, set())
        return "".join(te.format()).rstrip("\n")
    except Exception:
        return f"{type(exc).__name__}: {_safe_str(exc)}"


def _fill_syntax_error_text(exc):
    # Errors from compiling an AST ('return' outside function, ...) carry no
    # source text; the cell is in linecache, so show its line anyway.
    if isinstance(exc, SyntaxError) and exc.text is None and exc.filename and exc.lineno:
        line = linecache.getline(exc.filename, exc.lineno)
        if line:
            exc.text = line


def _clean_frames(te, exc, traceback, seen):
    """Drop this module's frames from te, and foreign cells' source lines.

    te is the TracebackException of exc; its chained and grouped exceptions
    are cleaned too.
    """
    if id(exc) in seen:
        return
    seen.add(id(exc))
    codes = []
    tb = exc.__traceback__
    while tb is not None:
        codes.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    if len(codes) != len(te.stack):  # no one-to-one match: keep the lines
        codes = [None] * len(te.stack)
    kept = []
    for frame, code in zip(te.stack, codes):
        if frame.filename in _RUNTIME_FILES or frame.filename.startswith(_EMBEDDED_PREFIX):
            continue
        if code is not None and _is_foreign(code):
            frame = traceback.FrameSummary(
                frame.filename, frame.lineno, frame.name, lookup_line=False, line="")
        kept.append(frame)
    te.stack = traceback.StackSummary.from_list(kept)
    related = [(te.__cause__, exc.__cause__), (te.__context__, exc.__context__)]
    related += zip(getattr(te, "exceptions", None) or (),
                   getattr(exc, "exceptions", None) or ())
    for other_te, other_exc in related:
        if other_te is not None and other_exc is not None:
            _clean_frames(other_te, other_exc, traceback, seen)


def _flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # a closed or replaced stream, or a late Ctrl-C:
            pass               # the reply matters more than the flush



def mpi_is_active(_op, _args):
    """Whether mpi4py initialized MPI and has not finalized it: the engine is then a rank of an
    MPI job, whose ranks end together (MPI_Finalize waits for all of them)."""
    mpi = sys.modules.get("mpi4py.MPI")
    try:
        active = mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized()
    except BaseException:
        active = False
    return [b"1" if active else b"0"]

_RUNTIME_FILES = frozenset((RUNTIME_FILENAME, handle.__code__.co_filename))
