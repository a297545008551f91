"""Tests of the engine runtime (Sources/PxEngine/Runtime/pxsh_runtime.py).

Run from the repository root:

    python3 -m unittest discover -s Tests/RuntimeTests -v

Everything goes through ``handle()`` exactly as the Swift engine calls it.
Each FakeEngine loads its own copy of the runtime and has its own
``__main__`` module and linecache; while it handles a request, its copy is
``sys.modules["_pxsh"]``, its module ``sys.modules["__main__"]`` and its
cache ``linecache.cache``, as in a real engine process. That lets tests
move values between a home engine and engines within one process.
"""

import contextlib
import importlib.util
import io
import linecache
import os
import pickle
import shutil
import sys
import tempfile
import types
import unittest

RUNTIME_PATH = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..", "..", "Sources", "PxEngine", "Runtime", "pxsh_runtime.py"))

try:
    import numpy
except ImportError:
    numpy = None

try:
    import cloudpickle
except ImportError:
    cloudpickle = None

needs_numpy = unittest.skipIf(numpy is None, "numpy is not installed")
needs_cloudpickle = unittest.skipIf(cloudpickle is None, "cloudpickle is not installed")

EXECUTE, EXPORT, IMPORT, COLLECT, SCATTER, APPLY = 1, 2, 3, 4, 5, 6
PACK_CALL, PREPARE_MAP, MAP_CHUNK, COMPLETE, IS_COMPLETE, WHO = 7, 8, 9, 10, 11, 12
CALL = 13
EXPORT_VALUES = 16
SETUP_PART = 20
MAP_VALUES = 21


def load_runtime(embedded=False):
    """A fresh copy of the runtime module, named _pxsh as in the engine.

    embedded=True loads it as the Swift engine does: the source compiled
    under the name <pxsh-runtime> and executed in a bare module.
    """
    if embedded:
        module = types.ModuleType("_pxsh")
        with open(RUNTIME_PATH, encoding="utf-8") as f:
            code = compile(f.read(), "<pxsh-runtime>", "exec")
        with swapped_modules(_pxsh=module):
            exec(code, module.__dict__)
        return module
    spec = importlib.util.spec_from_file_location("_pxsh", RUNTIME_PATH)
    module = importlib.util.module_from_spec(spec)
    with swapped_modules(_pxsh=module):
        spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def swapped_modules(**modules):
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def encode_blob(obj):
    """A value blob, made the way the spec describes (plain pickle)."""
    buffers = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    return [str(len(buffers) + 1).encode(), data, *[bytes(b.raw()) for b in buffers]]


def decode_blob(segments, pos=0):
    """Decode the blob at segments[pos]; return (obj, position after it)."""
    count = int(segments[pos])
    end = pos + 1 + count
    buffers = [bytearray(b) for b in segments[pos + 2:end]]
    return pickle.loads(segments[pos + 1], buffers=buffers), end


def split_blobs(segments, pos=0):
    blobs = []
    while pos < len(segments):
        end = pos + 1 + int(segments[pos])
        blobs.append(segments[pos:end])
        pos = end
    return blobs


class FakeEngine:
    """One engine process: its own runtime copy and its own __main__."""

    def __init__(self, engine_id=0, rank=0, size=1, is_home=False, cloudpickle=True,
                 embedded=False):
        self.runtime = load_runtime(embedded)
        self.runtime.USE_CLOUDPICKLE = cloudpickle
        self.main = types.ModuleType("__main__")
        self.linecache = dict(linecache.cache)
        with self.active():
            self.runtime.init(engine_id, rank, size, is_home)

    @property
    def ns(self):
        return self.main.__dict__

    @contextlib.contextmanager
    def active(self):
        saved_linecache = linecache.cache
        linecache.cache = self.linecache  # each process has its own
        try:
            with swapped_modules(__main__=self.main, _pxsh=self.runtime):
                yield
        finally:
            linecache.cache = saved_linecache

    def handle(self, op, *args):
        encoded = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        with self.active():
            reply = self.runtime.handle(op, encoded)
        assert isinstance(reply, list), reply
        for segment in reply:
            assert type(segment) is bytes, (op, reply)
        return reply


class RuntimeTestCase(unittest.TestCase):
    """Helpers: one home engine and two engines per test."""

    def setUp(self):
        self.home = FakeEngine(engine_id=100, is_home=True)
        self.engines = [FakeEngine(engine_id=i, rank=i, size=2) for i in range(2)]
        self.engine = self.engines[0]

    def ok(self, engine, op, *args):
        reply = engine.handle(op, *args)
        if reply[0] != b"ok":
            self.fail("error reply: " + b" | ".join(reply[1:]).decode(errors="replace"))
        return reply[1:]

    def error(self, engine, op, *args):
        reply = engine.handle(op, *args)
        self.assertEqual(reply[0], b"error", reply)
        # A map task's error also names the failing item.
        self.assertIn(len(reply), (4, 5) if op == MAP_CHUNK else (4,), reply)
        return tuple(part.decode() for part in reply[1:4])

    def run_cell(self, engine, code):
        """EXECUTE; return (count, has_result, repr) as str."""
        count, has_result, text = self.ok(engine, EXECUTE, code)
        return count.decode(), has_result.decode(), text.decode()

    def assert_user_frames_only(self, traceback_text):
        self.assertNotIn(RUNTIME_PATH, traceback_text)
        self.assertNotIn("pxsh_runtime", traceback_text)
        self.assertNotIn("<pxsh-runtime>", traceback_text)

    # Moving data the way the Swift side does it.

    def push(self, *pairs, targets=None):
        """EXPORT on home, IMPORT on each target."""
        args = [part for pair in pairs for part in pair]
        reply = self.ok(self.home, EXPORT, *args)
        blob = reply[len(pairs):]
        for engine in targets or self.engines:
            self.ok(engine, IMPORT, *blob)
        return reply[:len(pairs)]

    def scatter(self, name, expr=""):
        reply = self.ok(self.home, SCATTER, name, expr, len(self.engines))
        blobs = split_blobs(reply)
        self.assertEqual(len(blobs), len(self.engines))
        for engine, blob in zip(self.engines, blobs):
            self.ok(engine, IMPORT, *blob)

    def gather(self, *names, mode="concat"):
        args = [a for name in names for a in (name, "")]
        blobs = [self.ok(engine, EXPORT, *args)[len(names):] for engine in self.engines]
        segments = [segment for blob in blobs for segment in blob]
        return self.ok(self.home, COLLECT, mode, "", len(blobs), *segments)


class InitTests(RuntimeTestCase):

    def test_engines_get_rank_and_size(self):
        self.assertEqual(self.engines[1].ns["rank"], 1)
        self.assertEqual(self.engines[1].ns["size"], 2)
        self.assertEqual(self.run_cell(self.engines[1], "rank, size")[2], "(1, 2)")

    def test_home_engine_gets_neither(self):
        self.assertNotIn("rank", self.home.ns)
        self.assertNotIn("size", self.home.ns)

    def test_working_directory_is_importable(self):
        self.assertIn("", sys.path)

    def test_stdout_is_line_buffered(self):
        if hasattr(sys.stdout, "line_buffering"):
            self.assertTrue(sys.stdout.line_buffering)

    def test_version(self):
        self.assertEqual(self.engine.runtime.version(), "1")

    def test_mpi_is_active_between_mpi4py_init_and_finalize(self):
        for initialized, finalized, expected in [(True, False, b"1"), (True, True, b"0"), (False, False, b"0")]:
            fake = types.SimpleNamespace(Is_initialized=lambda: initialized, Is_finalized=lambda: finalized)
            with swapped_modules(**{"mpi4py.MPI": fake}):
                self.assertEqual(self.engine.runtime.mpi_is_active(0, []), [expected])
        with swapped_modules(**{"mpi4py.MPI": None}):
            self.assertEqual(self.engine.runtime.mpi_is_active(0, []), [b"0"])

    def test_user_definitions_live_in_main(self):
        self.run_cell(self.engine, "def f():\n    pass\nclass C:\n    pass\n")
        self.assertEqual(self.engine.ns["f"].__module__, "__main__")
        self.assertEqual(self.engine.ns["C"].__module__, "__main__")


class EmbeddedLoadTests(RuntimeTestCase):
    """The module as Swift loads it: compiled from source as <pxsh-runtime>."""

    def setUp(self):
        self.home = FakeEngine(engine_id=100, is_home=True, cloudpickle=False, embedded=True)
        self.engines = [FakeEngine(engine_id=i, rank=i, size=2, cloudpickle=False, embedded=True)
                        for i in range(2)]
        self.engine = self.engines[0]

    def test_runtime_frames_are_dropped(self):
        ename, _, tb = self.error(self.engine, EXECUTE, "def f():\n    raise KeyError('k')\nf()")
        self.assertEqual(ename, "KeyError")
        self.assert_user_frames_only(tb)
        self.assertIn("raise KeyError('k')", tb)

    def test_fallback_functions_travel(self):
        self.run_cell(self.home, "k = 2\nf = lambda x: x * k")
        self.push(("f", ""))
        self.assertEqual(self.run_cell(self.engines[1], "f(21)")[2], "42")


class HandleTests(RuntimeTestCase):

    def test_unknown_op_is_an_error_reply(self):
        ename, evalue, _ = self.error(self.engine, 99)
        self.assertEqual(ename, "ValueError")
        self.assertIn("99", evalue)

    def test_malformed_arguments_are_an_error_reply(self):
        self.error(self.engine, IMPORT, "3", b"not a pickle")
        self.error(self.engine, IMPORT)
        self.error(self.engine, EXPORT, "a")

    def test_module_prints_nothing_on_its_own(self):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            self.run_cell(self.engine, "x = 1")
            self.error(self.engine, EXECUTE, "1/0")
            self.ok(self.engine, IS_COMPLETE, "x is 1")  # a SyntaxWarning
            self.ok(self.engine, WHO)
        self.assertEqual(out.getvalue(), "")
        self.assertEqual(err.getvalue(), "")

    def test_user_output_is_flushed_before_the_reply(self):
        out = io.StringIO()
        flushed = []
        out.flush = lambda: flushed.append(out.getvalue())
        with contextlib.redirect_stdout(out):
            self.run_cell(self.engine, "print('hello', end='')")
        self.assertEqual(flushed[-1], "hello")


class ExecuteTests(RuntimeTestCase):

    def test_count_starts_at_one_and_counts_failures(self):
        self.assertEqual(self.run_cell(self.engine, "x = 1")[0], "1")
        self.error(self.engine, EXECUTE, "1/0")
        self.error(self.engine, EXECUTE, "1+")
        self.assertEqual(self.run_cell(self.engine, "x")[0], "4")

    def test_last_expression_is_the_result(self):
        self.assertEqual(self.run_cell(self.engine, "x = 20\nx * 2 + 2"), ("1", "1", "42"))
        self.assertEqual(self.engine.ns["_"], 42)

    def test_none_and_statements_have_no_result(self):
        self.assertEqual(self.run_cell(self.engine, "x = 1"), ("1", "0", ""))
        self.assertEqual(self.run_cell(self.engine, "None"), ("2", "0", ""))
        self.assertEqual(self.run_cell(self.engine, "print"), ("3", "1", "<built-in function print>"))
        self.assertEqual(self.run_cell(self.engine, "l = []\nl.append(1)"), ("4", "0", ""))
        self.assertEqual(self.run_cell(self.engine, ""), ("5", "0", ""))
        self.assertEqual(self.run_cell(self.engine, "# only a comment\n"), ("6", "0", ""))

    def test_underscore_keeps_the_last_result(self):
        self.run_cell(self.engine, "7")
        self.run_cell(self.engine, "y = 1")
        self.assertEqual(self.run_cell(self.engine, "_ + 1")[2], "8")

    def test_trailing_semicolon_suppresses_the_result(self):
        self.assertEqual(self.run_cell(self.engine, "x = 3\nx;"), ("1", "0", ""))
        self.assertEqual(self.run_cell(self.engine, "x ;  # quiet"), ("2", "0", ""))
        self.assertEqual(self.run_cell(self.engine, "s = 'a;b'\ns"), ("3", "1", "'a;b'"))
        self.assertEqual(self.run_cell(self.engine, "'é' + 'x';"), ("4", "0", ""))

    def test_expression_result_keeps_multiline_statements(self):
        code = "def f(n):\n    return n * 2\n\nf(\n  21\n)"
        self.assertEqual(self.run_cell(self.engine, code)[2], "42")

    def test_long_repr_is_cut(self):
        _, _, text = self.run_cell(self.engine, "'a' * 5000")
        self.assertTrue(text.startswith("'aaaa"))
        self.assertEqual(len(text.split("…")[0]), 4096)
        self.assertTrue(text.endswith("… [906 more characters]"), text[-40:])

    def test_failing_repr_is_still_a_result(self):
        code = "class Bad:\n    def __repr__(self):\n        raise ValueError('no')\nBad()"
        count, has_result, text = self.run_cell(self.engine, code)
        self.assertEqual(has_result, "1")
        self.assertIn("ValueError: no", text)

    def test_traceback_shows_user_frames_only(self):
        self.run_cell(self.engine, "def f(x):\n    return 1/x\n")
        ename, evalue, tb = self.error(self.engine, EXECUTE, "y = 0\nf(y)")
        self.assertEqual((ename, evalue), ("ZeroDivisionError", "division by zero"))
        self.assert_user_frames_only(tb)
        lines = tb.splitlines()
        self.assertEqual(lines[0], "Traceback (most recent call last):")
        self.assertEqual(lines[1], '  File "<In [2]>", line 2, in <module>')
        self.assertEqual(lines[2].strip(), "f(y)")
        self.assertIn('  File "<In [1]>", line 2, in f', lines)
        self.assertIn("    return 1/x", lines)
        self.assertEqual(lines[-1], "ZeroDivisionError: division by zero")
        self.assertFalse(tb.endswith("\n"))

    def test_chained_exceptions_show_user_frames_only(self):
        code = "try:\n    1/0\nexcept ZeroDivisionError as e:\n    raise ValueError('bad') from e"
        ename, _, tb = self.error(self.engine, EXECUTE, code)
        self.assertEqual(ename, "ValueError")
        self.assert_user_frames_only(tb)
        self.assertIn("ZeroDivisionError", tb)
        self.assertIn("direct cause", tb)

    def test_syntax_error_has_no_frames(self):
        ename, evalue, tb = self.error(self.engine, EXECUTE, "x = 1\n1 +")
        self.assertEqual(ename, "SyntaxError")
        self.assertNotIn("Traceback", tb)
        self.assertIn('File "<In [1]>", line 2', tb)
        self.assertIn("1 +", tb)
        self.assertIn("^", tb)
        self.assertTrue(tb.splitlines()[-1].startswith("SyntaxError:"))

    def test_compile_stage_syntax_error_shows_its_line(self):
        ename, evalue, tb = self.error(self.engine, EXECUTE, "x = 1\nreturn x")
        self.assertEqual(ename, "SyntaxError")
        self.assertIn("'return' outside function", evalue)
        self.assertIn("return x", tb)
        self.assertNotIn("Traceback", tb)

    def test_keyboard_interrupt_is_an_error_reply(self):
        ename, _, tb = self.error(self.engine, EXECUTE, "raise KeyboardInterrupt")
        self.assertEqual(ename, "KeyboardInterrupt")
        self.assert_user_frames_only(tb)
        # Like Swift's interrupt: a real SIGINT-style interrupt in a loop.
        code = "import _thread\n_thread.interrupt_main()\nfor i in range(10**8):\n    pass"
        self.assertEqual(self.error(self.engine, EXECUTE, code)[0], "KeyboardInterrupt")
        self.assertEqual(self.run_cell(self.engine, "'still alive'")[2], "'still alive'")

    def test_system_exit_does_not_stop_the_engine(self):
        ename, evalue, _ = self.error(self.engine, EXECUTE, "import sys\nsys.exit(3)")
        self.assertEqual((ename, evalue), ("SystemExit", "3"))
        self.assertEqual(self.error(self.engine, EXECUTE, "raise SystemExit")[0], "SystemExit")
        saved_stdin = sys.stdin
        sys.stdin = io.StringIO()  # site's exit() closes sys.stdin
        try:
            self.assertEqual(self.error(self.engine, EXECUTE, "exit()")[0], "SystemExit")
            self.assertEqual(self.error(self.engine, EXECUTE, "quit(1)")[0], "SystemExit")
        finally:
            sys.stdin = saved_stdin
        self.assertEqual(self.run_cell(self.engine, "1 + 1")[2], "2")

    def test_exception_with_failing_str(self):
        code = "class E(Exception):\n    def __str__(self):\n        raise RuntimeError\nraise E()"
        ename, evalue, _ = self.error(self.engine, EXECUTE, code)
        self.assertEqual(ename, "E")
        self.assertIn("unprintable", evalue)

    def test_future_import_is_accepted(self):
        code = "from __future__ import annotations\ndef g(x: Undefined) -> int:\n    return 1\ng(0)"
        self.assertEqual(self.run_cell(self.engine, code)[2], "1")

    def test_source_is_in_linecache(self):
        import inspect
        self.run_cell(self.engine, "def f(x):\n    return x\n")
        with self.engine.active():
            source = inspect.getsource(self.engine.ns["f"])
        self.assertEqual(source, "def f(x):\n    return x\n")

    def test_non_ascii_source_and_output(self):
        self.assertEqual(self.run_cell(self.engine, "'héllo ✓'")[2], "'héllo ✓'")
        _, evalue, _ = self.error(self.engine, EXECUTE, "raise ValueError('\\udcff')")
        self.assertEqual(evalue, "\\udcff")


class ExportImportTests(RuntimeTestCase):

    def test_push_variables_and_expressions(self):
        self.run_cell(self.home, "a = [1, 2]\nb = 'text'")
        reprs = self.push(("a", ""), ("b", ""), ("x", "len(a) * 2"))
        self.assertEqual(reprs, [b"[1, 2]", b"'text'", b"4"])
        for engine in self.engines:
            self.assertEqual(engine.ns["a"], [1, 2])
            self.assertEqual(engine.ns["b"], "text")
            self.assertEqual(engine.ns["x"], 4)

    def test_export_blob_is_a_dict(self):
        self.run_cell(self.engine, "a = 1")
        reply = self.ok(self.engine, EXPORT, "a", "", "b", "a + 1")
        value, end = decode_blob(reply, 2)
        self.assertEqual(value, {"a": 1, "b": 2})
        self.assertEqual(end, len(reply))

    def test_export_values_makes_no_repr(self):
        # A push shows nothing, so a repr that never ends must not stop it (issue 13).
        self.run_cell(self.home, "class H:\n    def __repr__(self):\n        while True: pass\nh = H()")
        reply = self.ok(self.home, EXPORT_VALUES, "hh", "h", "n", "2")
        value, end = decode_blob(reply, 0)
        self.assertEqual(sorted(value), ["hh", "n"])
        self.assertEqual(value["n"], 2)
        self.assertEqual(end, len(reply))

    def test_a_repr_that_takes_too_long_is_replaced_by_a_note(self):
        self.run_cell(self.engine, "class H:\n    def __repr__(self):\n        while True: pass\nh = H()")
        self.engine.runtime.REPR_SECONDS = 0.2
        reply = self.ok(self.engine, EXPORT, "h", "")
        self.assertEqual(reply[0], b"<repr of H object took more than 0.2 s>")
        # Python's own SIGALRM handling is back as it was.
        import signal
        self.assertEqual(signal.getsignal(signal.SIGALRM), signal.SIG_DFL)

    def test_pull_stores_one_value_per_engine(self):
        for engine in self.engines:
            self.run_cell(engine, "v = rank * 10")
        reply = self.gather("v", mode="list")
        self.assertEqual(reply, [b"v", b"[0, 10]"])
        self.assertEqual(self.home.ns["v"], [0, 10])

    def test_missing_name_is_a_name_error(self):
        ename, evalue, _ = self.error(self.home, EXPORT, "nope", "")
        self.assertEqual(ename, "NameError")
        self.assertIn("'nope'", evalue)

    def test_error_in_expression_shows_it(self):
        ename, _, tb = self.error(self.home, EXPORT, "x", "1/0")
        self.assertEqual(ename, "ZeroDivisionError")
        self.assertIn('File "<pxsh>"', tb)
        self.assertIn("1/0", tb)
        self.assert_user_frames_only(tb)

    def test_invalid_name(self):
        self.assertEqual(self.error(self.home, EXPORT, "1x", "2")[0], "ValueError")
        self.assertEqual(self.error(self.home, EXPORT, "for", "2")[0], "ValueError")

    def test_unpicklable_value_names_the_variable(self):
        self.run_cell(self.home, "import threading\nlock = threading.Lock()\nok = 1")
        ename, evalue, tb = self.error(self.home, EXPORT, "ok", "", "lock", "")
        self.assertEqual(ename, "SerializationError")
        self.assertEqual(evalue, "cannot serialize 'lock': TypeError: cannot pickle '_thread.lock' object")
        self.assertEqual(tb, "SerializationError: " + evalue)

    def test_import_requires_a_dict(self):
        ename, _, _ = self.error(self.engine, IMPORT, *encode_blob([1, 2]))
        self.assertEqual(ename, "TypeError")

    def test_import_updates_the_namespace(self):
        self.ok(self.engine, IMPORT, *encode_blob({"p": 1, "q": (2, 3)}))
        self.assertEqual(self.run_cell(self.engine, "p, q")[2], "(1, (2, 3))")

    @needs_numpy
    def test_numpy_push_pull_out_of_band_and_writable(self):
        self.run_cell(self.home, "import numpy as np\na = np.arange(12.0).reshape(3, 4)")
        reply = self.ok(self.home, EXPORT, "a", "")
        blob = reply[1:]
        self.assertEqual(blob[0], b"2")  # the array's data went out of band
        self.assertEqual(len(blob[2]), 12 * 8)
        self.ok(self.engine, IMPORT, *blob)
        self.run_cell(self.engine, "a[0, 0] = 100.0")  # not read-only
        self.assertEqual(self.engine.ns["a"][0, 0], 100.0)
        numpy.testing.assert_array_equal(self.engine.ns["a"][1:], self.home.ns["a"][1:])

    @needs_numpy
    def test_read_only_arrays_stay_read_only(self):
        self.run_cell(self.home, "import numpy as np\na = np.arange(4)\na.flags.writeable = False")
        self.push(("a", ""))
        self.assertFalse(self.engine.ns["a"].flags.writeable)


class CallTextSplittingTests(RuntimeTestCase):
    """`%map F SEQ` and `%apply F ARGS` arrive as one text when the parser cannot split them."""

    def test_map_splits_at_the_first_parsing_prefix(self):
        self.run_cell(self.home, "def nap(x):\n    return x")
        reply = self.ok(self.home, PREPARE_MAP, "nap [0.25] * 3", "", "auto", 2)
        self.assertEqual(reply[0], b"3")
        reply = self.ok(self.home, PREPARE_MAP, "lambda x: x * 2 range(4)", "", "auto", 2)
        self.assertEqual(reply[0], b"4")

    def test_apply_takes_space_separated_arguments(self):
        func, args, kwargs = decode_blob(self.ok(self.home, PACK_CALL, "divmod 17 5", ""))[0]
        self.assertEqual(func(*args, **kwargs), (3, 2))
        func, args, kwargs = decode_blob(self.ok(self.home, PACK_CALL, "lambda: 3", ""))[0]
        self.assertEqual(func(*args, **kwargs), 3)


class MagicFunctionsSeeTheEngineTests(RuntimeTestCase):
    """`%apply F` and `%map F SEQ` run F in the engine's namespace, as pushed functions and px's do."""

    def test_apply_and_map_functions_see_rank_and_the_engine_s_imports(self):
        engine = self.engines[1]
        self.run_cell(engine, "import math")
        call = self.ok(self.home, PACK_CALL, "lambda: (rank, math.floor(2.5))", "")
        self.assertEqual(self.ok(engine, APPLY, *call)[0], b"(1, 2)")
        prepared = self.ok(self.home, PREPARE_MAP, "lambda x: math.floor(x) + 10 * rank range(3)", "", "auto", 1)
        function, *chunks = split_blobs(prepared[2:])
        values = [value for chunk in chunks for value in decode_blob(self.ok(engine, MAP_CHUNK, *function, *chunk))[0]]
        self.assertEqual(values, [10, 11, 12])


class FunctionTransportTests(RuntimeTestCase):
    """Functions defined at the prompt travel by value."""

    CODE = (
        "import math\n"
        "scale = 10\n"
        "def helper(x):\n"
        "    return x + 1\n"
        "def make(offset):\n"
        "    return lambda x: helper(x) * scale + offset + math.floor(0.5)\n"
        "f = make(3)\n"
        "def fact(n):\n"
        "    return 1 if n <= 1 else n * fact(n - 1)\n"
        "def even(n):\n"
        "    return n == 0 or odd(n - 1)\n"
        "def odd(n):\n"
        "    return n != 0 and even(n - 1)\n"
        "def kw(a, b=2, *, c=3):\n"
        "    '''doc'''\n"
        "    return a + b + c\n"
    )

    def check_functions_travel(self):
        self.run_cell(self.home, self.CODE)
        self.push(("f", ""), ("fact", ""), ("even", ""), ("kw", ""), targets=[self.engine])
        # Pushed functions run in the engine's namespace (as in ipyparallel); what they
        # captured at home comes along where the engine lacks it.
        self.assertIn("helper", self.engine.ns)
        self.run_cell(self.home, "def whoami():\n    return rank")
        self.push(("whoami", ""), targets=[self.engine])
        self.assertEqual(self.run_cell(self.engine, "whoami()")[2], "0")
        self.assertEqual(self.run_cell(self.engine, "f(1)")[2], "23")
        self.assertEqual(self.run_cell(self.engine, "fact(5)")[2], "120")
        self.assertEqual(self.run_cell(self.engine, "even(10)")[2], "True")
        self.assertEqual(self.run_cell(self.engine, "kw(1), kw(1, 1, c=1)")[2], "(6, 3)")
        self.assertEqual(self.run_cell(self.engine, "kw.__doc__")[2], "'doc'")
        # Travelled functions travel again (engine -> home).
        blob = self.ok(self.engine, EXPORT, "g", "f")[1:]
        self.ok(self.home, COLLECT, "list", "", 1, *blob)
        self.assertEqual(self.home.ns["g"][0](2), 33)

    def test_functions_travel_with_cloudpickle(self):
        if cloudpickle is None:
            self.skipTest("cloudpickle is not installed")
        self.check_functions_travel()

    def test_functions_travel_with_the_fallback(self):
        self.home.runtime.USE_CLOUDPICKLE = False
        self.engine.runtime.USE_CLOUDPICKLE = False
        self.check_functions_travel()

    def test_fallback_pickles_a_lambda_with_global_and_cell(self):
        self.home.runtime.USE_CLOUDPICKLE = False
        self.run_cell(self.home, "k = 5\ndef adder(n):\n    return lambda x: x + n + k\nadd = adder(100)")
        reply = self.ok(self.home, EXPORT, "add", "")
        self.assertNotIn(b"cloudpickle", reply[2])
        self.assertIn(b"_make_function", reply[2])
        self.ok(self.engine, IMPORT, *reply[1:])
        self.assertEqual(self.run_cell(self.engine, "add(1)")[2], "106")
        self.assertEqual(self.run_cell(self.engine, "add.__qualname__")[2],
                         "'adder.<locals>.<lambda>'")

    def test_fallback_names_an_unpicklable_global(self):
        self.home.runtime.USE_CLOUDPICKLE = False
        self.run_cell(self.home, "import threading\nlock = threading.Lock()\ndef f():\n    return lock")
        ename, evalue, _ = self.error(self.home, EXPORT, "f", "")
        self.assertEqual(ename, "SerializationError")
        self.assertTrue(evalue.startswith("cannot serialize 'f': TypeError"), evalue)
        self.assertIn("_thread.lock", evalue)

    @needs_cloudpickle
    def test_classes_travel_with_cloudpickle(self):
        self.run_cell(self.home, "class P:\n    def __init__(self, v):\n        self.v = v\np = P(4)")
        self.push(("p", ""), ("P", ""))
        self.assertEqual(self.run_cell(self.engine, "p.v, P(5).v")[2], "(4, 5)")


class CapturedGlobalsTests(RuntimeTestCase):
    """A function runs in the engine's namespace with the globals it captured at its call: a name
    the engine lacks, or that still holds what an earlier function brought, takes the new value;
    a value the user set on the engine is kept."""

    def map_on(self, engine, fexpr, seqexpr):
        """%map's path: PREPARE_MAP at home, every chunk on `engine`."""
        return self.run_chunks(engine, *self.prepare_map(fexpr, seqexpr))

    def run_chunks(self, engine, fn_blob, chunks):
        return [v for chunk in chunks for v in decode_blob(self.ok(engine, MAP_CHUNK, *fn_blob, *chunk))[0]]

    def prepare_map(self, fexpr, seqexpr):
        blobs = split_blobs(self.ok(self.home, PREPARE_MAP, fexpr, seqexpr, "auto", 1), 2)
        return blobs[0], blobs[1:]

    def apply_on(self, engine, fexpr, argsource):
        """%apply's path: PACK_CALL at home, APPLY on `engine`."""
        call = self.ok(self.home, PACK_CALL, fexpr, argsource)
        return decode_blob(self.ok(engine, APPLY, *call)[1:])[0]

    def check_a_sweep_sees_each_value(self):
        sweep = []
        for scale in (1, 10, 100):
            self.run_cell(self.home, f"scale = {scale}")
            sweep.append(self.map_on(self.engine, "lambda x: x * scale", "range(3)"))
        self.assertEqual(sweep, [[0, 1, 2], [0, 10, 20], [0, 100, 200]])
        self.run_cell(self.home, "kq = 7\ndef g(x):\n    return x * kq")
        self.assertEqual(self.apply_on(self.engine, "g", "2"), 14)
        self.run_cell(self.home, "kq = 3")
        self.assertEqual(self.apply_on(self.engine, "g", "2"), 6)
        self.assertEqual(self.run_cell(self.engine, "kq")[2], "3")

    @needs_cloudpickle
    def test_a_sweep_sees_each_value_with_cloudpickle(self):
        self.check_a_sweep_sees_each_value()

    def test_a_sweep_sees_each_value_with_the_fallback(self):
        for engine in (self.home, *self.engines):
            engine.runtime.USE_CLOUDPICKLE = False
        self.check_a_sweep_sees_each_value()

    def test_a_cached_function_takes_its_values_again(self):
        # The engine keeps a map's function by its blob; another function may have put its own
        # value of the name in between.
        self.run_cell(self.home, "k = 7")
        seven = self.prepare_map("lambda x: x * k", "range(3)")
        self.run_cell(self.home, "k = 3")
        three = self.prepare_map("lambda x: x * k", "range(3)")
        values = [self.run_chunks(self.engine, *prepared) for prepared in (seven, three, seven)]
        self.assertEqual(values, [[0, 7, 14], [0, 3, 6], [0, 7, 14]])
        call = seven[0] + encode_blob(((5,), {}))  # px's CALL
        self.assertEqual(decode_blob(self.ok(self.engine, CALL, *call))[0], 35)

    def test_a_value_set_on_the_engine_is_kept(self):
        engine = self.engines[1]
        self.run_cell(self.home, "k = 7")
        self.assertEqual(self.map_on(engine, "lambda x: x * k", "range(2)"), [0, 7])
        self.run_cell(engine, "k = 100 + rank")  # %px, execute
        self.run_cell(self.home, "k = 3")
        self.assertEqual(self.map_on(engine, "lambda x: x * k", "range(2)"), [0, 101])
        # pushed: the very object the function brought (a small int) is the user's now too
        self.run_cell(engine, "del k")
        self.assertEqual(self.map_on(engine, "lambda x: x * k", "range(2)"), [0, 3])
        self.ok(engine, IMPORT, *encode_blob({"k": 3}))
        self.run_cell(self.home, "k = 4")
        self.assertEqual(self.map_on(engine, "lambda x: x * k", "range(2)"), [0, 3])
        self.assertEqual(self.run_cell(engine, "k")[2], "3")

    def test_a_function_sees_rank_and_what_it_defines_stays(self):
        self.run_cell(self.home, "k = 2\ndef setup():\n    global model\n    model = k * 10 + rank")
        self.apply_on(self.engines[1], "setup", "")
        self.assertEqual(self.run_cell(self.engines[1], "model, k")[2], "(21, 2)")

    def test_closures_comprehensions_and_function_arguments_see_the_new_value(self):
        self.run_cell(self.home, "def apply_twice(f, x):\n    return f(f(x))\n"
                                 "def mk(n):\n    return lambda x: [x * n * k for _ in range(2)]")
        for k in (2, 5):
            self.run_cell(self.home, f"k = {k}\nadd = lambda x: x + k")
            self.assertEqual(self.apply_on(self.engine, "mk(10)", "1"), [10 * k] * 2)
            self.assertEqual(self.apply_on(self.engine, "apply_twice", "add, 1"), 1 + 2 * k)

    def test_a_replaced_capture_is_not_kept_alive(self):
        import weakref
        self.run_cell(self.home, "class Big(list):\n    pass\nbig = Big([1, 2])")
        for call in (lambda: self.apply_on(self.engine, "lambda: len(big)", ""),
                     lambda: self.map_on(self.engine, "lambda x: len(big)", "[0]")[0]):  # cached by its blob
            self.assertEqual(call(), 2)
            brought = weakref.ref(self.engine.ns["big"])
            self.run_cell(self.engine, "big = None")
            with self.engine.active():
                self.engine.runtime.release_replaced()
            self.assertIsNone(brought())
            self.run_cell(self.engine, "del big")
        self.run_cell(self.engine, "big = None")
        self.run_cell(self.home, "big = Big([1, 2, 3])")
        self.assertEqual(self.error(self.engine, APPLY, *self.ok(self.home, PACK_CALL, "lambda: len(big)", ""))[0],
                         "TypeError")  # the engine's big (None) is the user's


class CollectTests(RuntimeTestCase):

    def collect(self, mode, names, values):
        segments = [s for value in values for s in encode_blob(value)]
        return self.ok(self.home, COLLECT, mode, names, len(values), *segments)

    def test_list_mode(self):
        reply = self.collect("list", "", [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
        self.assertEqual(reply, [b"a", b"[1, 2]", b"b", b"['x', 'y']"])
        self.assertEqual(self.home.ns["b"], ["x", "y"])

    def test_concat_mode(self):
        parts = [{"l": [1, 2], "t": (1,), "s": "ab", "r": range(0, 2), "o": 1, "m": [0]},
                 {"l": [3], "t": (2, 3), "s": "c", "r": range(2, 3), "o": 2, "m": (1,)}]
        reply = self.collect("concat", "", parts)
        ns = self.home.ns
        self.assertEqual(ns["l"], [1, 2, 3])
        self.assertEqual(ns["t"], (1, 2, 3))
        self.assertEqual(ns["s"], "abc")
        self.assertIs(type(ns["r"]), range)
        self.assertEqual(ns["r"], range(0, 3))
        self.assertEqual(ns["o"], [1, 2])
        self.assertEqual(ns["m"], [0, 1])
        self.assertEqual(reply[:2], [b"l", b"[1, 2, 3]"])

    def test_concat_of_blocks_that_one_engine_holds_under_two_names(self):
        shared = [1, 2]
        self.collect("concat", "", [{"a": shared, "b": shared}, {"a": [3], "b": [4]}])
        self.assertEqual((self.home.ns["a"], self.home.ns["b"]), ([1, 2, 3], [1, 2, 4]))

    def test_chain_mode(self):
        reply = self.collect("chain", "r, s", [[1, 2], [], [3]])
        self.assertEqual(reply, [b"[1, 2, 3]"])
        self.assertEqual(self.home.ns["r"], [1, 2, 3])
        self.assertIs(self.home.ns["s"], self.home.ns["r"])

    def test_chain_without_names(self):
        self.assertEqual(self.collect("chain", "", [[1], [2]]), [b"[1, 2]"])

    def test_value_mode(self):
        reply = self.collect("value", "v", [{"k": 1}])
        self.assertEqual(reply, [b"{'k': 1}"])
        self.assertEqual(self.home.ns["v"], {"k": 1})

    def test_value_mode_takes_one_blob(self):
        segments = encode_blob(1) + encode_blob(2)
        self.assertEqual(self.error(self.home, COLLECT, "value", "v", 2, *segments)[0], "ValueError")

    def test_unknown_mode(self):
        self.assertEqual(self.error(self.home, COLLECT, "zip", "", 1, *encode_blob([]))[0], "ValueError")

    def test_a_value_whose_module_only_the_engines_have_says_why_it_does_not_load_here(self):
        # %pull o, whose class lives in a module the engines import and this Python cannot.
        module = types.ModuleType("engmod_only_on_engines")
        exec("class Thing:\n    pass", module.__dict__)
        sys.modules[module.__name__] = module
        try:
            blob = encode_blob({"o": module.Thing()})
        finally:
            del sys.modules[module.__name__]
        ename, evalue, _ = self.error(self.home, COLLECT, "list", "", 1, *blob)
        self.assertEqual(ename, "SerializationError")
        self.assertIn("cannot load the values in the local namespace", evalue)
        self.assertIn("No module named 'engmod_only_on_engines'", evalue)

    def test_repr_is_cut(self):
        reply = self.collect("chain", "", [list(range(5000))])
        self.assertIn("[list of 5000 items]".encode(), reply[0])
        self.assertLessEqual(len(reply[0]), 4200)
        reply = self.collect("value", "", ["x" * 10000])
        self.assertIn("more characters]".encode(), reply[0])


class MapValuesTests(RuntimeTestCase):
    """MAP_VALUES: a map's chunk values come home as its tasks end, and are joined when it is
    collected."""

    def chunk(self, engine, func, first, items):
        """The reply blob of one MAP_CHUNK, as the client forwards it."""
        return self.ok(engine, MAP_CHUNK, *encode_blob(func), *encode_blob((first, items)))

    def send(self, action, token, order, names, chunks):
        segments = [segment for index, blob in chunks for segment in (str(index).encode(), *blob)]
        return self.ok(self.home, MAP_VALUES, token, action, order, names, len(chunks), *segments)

    def test_chunks_in_any_arrival_order_join_in_item_order(self):
        items = [list(range(i * 10, i * 10 + 10)) for i in range(5)]
        blobs = [self.chunk(self.engines[i % 2], abs, i * 10, items[i]) for i in range(5)]
        self.send("add", "m1", "items", "", [(1, blobs[1])])
        self.send("add", "m1", "items", "", [(0, blobs[0]), (3, blobs[3])])
        state = self.home.runtime._map_values["m1"]
        self.assertEqual((state.joined_count, sorted(state.parts)), (2, [3]))
        reply = self.send("finish", "m1", "0,1,2,3,4", "r, s", [(4, blobs[4]), (2, blobs[2])])
        self.assertEqual(reply, [b"1", repr(list(range(50))).encode()])
        self.assertEqual(self.home.ns["r"], list(range(50)))
        self.assertIs(self.home.ns["s"], self.home.ns["r"])
        self.assertEqual(self.home.runtime._map_values, {})

    def test_completion_order_and_only_some_chunks(self):
        blobs = [self.chunk(self.engine, str, i, [i]) for i in range(4)]
        self.send("add", "m2", "completion", "", [(2, blobs[2]), (0, blobs[0])])
        self.send("finish", "m2", "2,0,3", "u", [(3, blobs[3])])
        self.assertEqual(self.home.ns["u"], ["2", "0", "3"])

    def test_interrupted_map_keeps_the_finished_chunks_in_item_order(self):
        blobs = [self.chunk(self.engine, abs, i, [-i]) for i in range(4)]
        self.send("add", "m3", "items", "", [(0, blobs[0]), (2, blobs[2])])
        self.send("finish", "m3", "0,2,3", "v", [(3, blobs[3])])
        self.assertEqual(self.home.ns["v"], [0, 2, 3])

    def test_a_restarted_home_engine_that_missed_chunks_asks_for_them_all(self):
        # Chunks 0 and 1 went to the home engine before it died; its successor sees only the rest.
        blobs = [self.chunk(self.engine, abs, i, [-i]) for i in range(4)]
        for order in ("items", "completion"):
            self.send("add", "m6", order, "", [(2, blobs[2])])
            self.assertEqual(self.send("finish", "m6", "0,1,2,3", "w", [(3, blobs[3])]), [b"0"])
            self.assertNotIn("w", self.home.ns)
            self.assertEqual(self.home.runtime._map_values, {})

    def test_empty_map_and_empty_chunks(self):
        blobs = [self.chunk(self.engine, abs, 0, []), self.chunk(self.engine, abs, 0, [5])]
        self.send("add", "m5", "items", "", [(0, blobs[0])])
        self.send("finish", "m5", "0,1", "f", [(1, blobs[1])])
        self.assertEqual(self.home.ns["f"], [5])

    def test_values_that_do_not_load_at_home_fail_the_collect_and_are_forgotten(self):
        class LoadsAsAnError:
            def __reduce__(self):
                return int, ("not a number",)

        bad = encode_blob([LoadsAsAnError()])
        good = self.chunk(self.engine, abs, 0, [1])
        self.send("add", "m6", "items", "", [(1, bad), (0, good)])
        ename, evalue, _ = self.error(self.home, MAP_VALUES, "m6", "finish", "0,1", "w", 0)
        self.assertEqual((ename, evalue), ("ValueError", "invalid literal for int() with base 10: 'not a number'"))
        self.assertNotIn("w", self.home.ns)
        self.assertEqual(self.home.runtime._map_values, {})

    @needs_numpy
    def test_arrays_and_mixed_objects_with_out_of_band_buffers(self):
        chunks = [encode_blob(value) for value in (
            [numpy.arange(3), "a", (1, None)], [{"k": numpy.ones(2)}, 2.5])]
        self.assertGreater(int(chunks[0][0]), 1)  # the array travels out of band
        self.send("add", "m9", "items", "", [(1, chunks[1])])
        self.send("finish", "m9", "0,1", "mixed", [(0, chunks[0])])
        got = self.home.ns["mixed"]
        self.assertEqual(got[0].tolist(), [0, 1, 2])
        self.assertEqual(got[1:3], ["a", (1, None)])
        self.assertEqual(got[3]["k"].tolist(), [1.0, 1.0])
        self.assertEqual(got[4], 2.5)

    def test_unknown_token_asks_for_all_chunks_and_drop_forgets(self):
        self.assertEqual(self.send("finish", "gone", "0", "x", []), [b"0"])
        self.send("add", "m7", "items", "", [(0, self.chunk(self.engine, abs, 0, [1]))])
        self.assertEqual(self.ok(self.home, MAP_VALUES, "m7", "drop", "", "", 0), [])
        self.assertEqual(self.home.runtime._map_values, {})
        self.assertEqual(self.error(self.home, MAP_VALUES, "m8", "zip", "", "", 0)[0], "ValueError")

    def test_at_most_a_bounded_number_of_maps_are_kept(self):
        limit = self.home.runtime._MAP_VALUES_LIMIT
        blob = self.chunk(self.engine, abs, 0, [1])
        for i in range(limit + 1):
            self.send("add", f"k{i}", "items", "", [(0, blob)])
        self.assertEqual(len(self.home.runtime._map_values), limit)
        self.assertEqual(self.send("finish", "k0", "0", "x", []), [b"0"])
        self.assertEqual(self.send("finish", f"k{limit}", "0", "x", []), [b"1", b"[1]"])


class ReleaseAfterReplyTests(RuntimeTestCase):
    """A value that IMPORT or COLLECT replaces is freed once the reply has gone (release_replaced),
    not before it."""

    def test_replaced_values_live_until_released(self):
        import weakref
        self.run_cell(self.engine, "class Big(list):\n    pass\nx = Big([1])")
        old = weakref.ref(self.engine.ns["x"])
        self.ok(self.engine, IMPORT, *encode_blob({"x": [2]}))
        self.assertEqual(self.engine.ns["x"], [2])
        self.assertIsNotNone(old())
        with self.engine.active():
            self.engine.runtime.release_replaced()
        self.assertIsNone(old())

    def test_the_next_request_frees_them_if_no_release_came(self):
        import weakref
        self.run_cell(self.home, "class Big(list):\n    pass\nv = Big([1])")
        old = weakref.ref(self.home.ns["v"])
        CollectTests.collect(self, "chain", "v", [[1], [2]])
        self.assertIsNotNone(old())
        self.run_cell(self.home, "pass")
        self.assertIsNone(old())


class ScatterGatherTests(RuntimeTestCase):

    def parts(self, expr, n):
        reply = self.ok(self.home, SCATTER, "x", expr, n)
        blobs = split_blobs(reply)
        self.assertEqual(len(blobs), n)
        return [decode_blob(blob)[0]["x"] for blob in blobs]

    def test_block_sizes_follow_array_split(self):
        self.assertEqual(self.parts("list(range(10))", 3), [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]])
        self.assertEqual(self.parts("[1, 2]", 4), [[1], [2], [], []])
        self.assertEqual(self.parts("[]", 2), [[], []])

    def test_types_are_kept(self):
        self.assertEqual(self.parts("(1, 2, 3)", 2), [(1, 2), (3,)])
        self.assertEqual(self.parts("'abcde'", 2), ["abc", "de"])
        self.assertEqual(self.parts("b'abc'", 2), [b"ab", b"c"])
        self.assertEqual(self.parts("range(10**6)", 2), [range(0, 500000), range(500000, 1000000)])
        self.assertEqual(self.parts("(i * i for i in range(5))", 2), [[0, 1, 4], [9, 16]])
        self.assertEqual(self.parts("{'a': 1, 'b': 2}.items()", 2), [[("a", 1)], [("b", 2)]])

    def test_a_dict_or_a_set_is_refused(self):
        # A dict would scatter its keys alone, a set in an arbitrary order: neither is a sequence.
        for expr, kind in (("{'a': 1, 'b': 2}", "dict"), ("{1, 2}", "set"), ("frozenset({1})", "frozenset")):
            ename, evalue, _ = self.error(self.home, SCATTER, "x", expr, 2)
            self.assertEqual(ename, "TypeError", expr)
            self.assertIn(f"cannot scatter a {kind}", evalue)

    def test_range_blocks_are_tiny(self):
        reply = self.ok(self.home, SCATTER, "x", "range(10**6)", 4)
        self.assertLess(sum(len(s) for s in reply), 400)

    def test_variable_is_scattered_when_expr_is_empty(self):
        self.run_cell(self.home, "data = [1, 2, 3]")
        reply = self.ok(self.home, SCATTER, "data", "", 2)
        self.assertEqual(decode_blob(reply)[0], {"data": [1, 2]})

    def test_non_sequence_is_a_type_error(self):
        ename, evalue, _ = self.error(self.home, SCATTER, "x", "42", 2)
        self.assertEqual((ename, evalue), ("TypeError", "cannot scatter int: not a sequence"))
        self.assertEqual(self.error(self.home, SCATTER, "missing", "", 2)[0], "NameError")
        self.assertEqual(self.error(self.home, SCATTER, "x", "[1]", 0)[0], "ValueError")

    def round_trip(self, expr):
        self.run_cell(self.home, f"x = {expr}")
        self.scatter("x")
        reply = self.gather("x")
        self.assertEqual(reply[0], b"x")
        return self.home.ns["x"]

    def test_round_trip_range(self):
        # Contiguous ranges gather back into a range, in O(1).
        gathered = self.round_trip("range(100)")
        self.assertIs(type(gathered), range)
        self.assertEqual(gathered, range(100))
        self.assertEqual(self.engines[1].ns["x"], range(50, 100))
        for expr in ("range(10**12)", "range(5, 100, 7)", "range(10, -10, -3)", "range(1)", "range(0)",
                     "range(3, 5)"):
            gathered = self.round_trip(expr)
            self.assertIs(type(gathered), range, expr)
            self.assertEqual(gathered, eval(expr), expr)

    def test_ranges_that_do_not_continue_each_other_gather_as_a_list(self):
        for parts, expected in (([range(0, 2), range(5, 7)], [0, 1, 5, 6]),
                                ([range(0, 4, 2), range(5, 7)], [0, 2, 5, 6]),
                                ([range(3), range(0)], range(3)),
                                ([range(0), range(0)], range(0)),
                                ([range(1, 2), range(3, 4), range(5, 6)], range(1, 7, 2)),
                                ([range(1, 2), range(1, 2)], [1, 1])):
            CollectTests.collect(self, "concat", "", [{"r": part} for part in parts])
            self.assertEqual(self.home.ns["r"], expected, parts)
            self.assertIs(type(self.home.ns["r"]), type(expected), parts)

    def test_round_trip_list(self):
        self.assertEqual(self.round_trip("[str(i) for i in range(7)]"), [str(i) for i in range(7)])
        self.assertEqual(self.engines[0].ns["x"], ["0", "1", "2", "3"])

    def test_round_trip_tuple(self):
        self.assertEqual(self.round_trip("tuple(range(5))"), (0, 1, 2, 3, 4))

    def test_round_trip_string(self):
        self.assertEqual(self.round_trip("'hello'"), "hello")

    @needs_numpy
    def test_round_trip_numpy(self):
        self.run_cell(self.home, "import numpy as np")
        result = self.round_trip("np.arange(30.0).reshape(15, 2)")
        self.assertIsInstance(result, numpy.ndarray)
        numpy.testing.assert_array_equal(result, numpy.arange(30.0).reshape(15, 2))
        self.assertEqual(self.engines[0].ns["x"].shape, (8, 2))
        self.assertEqual(self.engines[1].ns["x"].shape, (7, 2))

    @needs_numpy
    def test_numpy_blocks_go_out_of_band(self):
        self.run_cell(self.home, "import numpy as np")
        reply = self.ok(self.home, SCATTER, "x", "np.zeros(1000)", 2)
        first = split_blobs(reply)[0]
        self.assertEqual(first[0], b"2")
        self.assertEqual(len(first[2]), 500 * 8)

    @needs_numpy
    def test_scalar_array_is_not_a_sequence(self):
        self.run_cell(self.home, "import numpy as np")
        ename, evalue, _ = self.error(self.home, SCATTER, "x", "np.float64(1.0).reshape(())", 2)
        self.assertEqual(ename, "TypeError")

    @needs_numpy
    def test_gathered_scalars_become_a_list(self):
        for engine in self.engines:
            self.run_cell(engine, "import numpy as np\ns = np.float64(rank)")
        self.gather("s")
        self.assertEqual(self.home.ns["s"], [0.0, 1.0])


class SharedMemoryTests(RuntimeTestCase):
    """Pickles of SHARED_MEMORY_THRESHOLD bytes and more travel as files in the shared-memory
    directory, as large out-of-band buffers do; the client removes them after the transfer."""

    MAGIC = b"\x00pxsh-shared-memory\x00"

    def setUp(self):
        super().setUp()
        self.directory = tempfile.mkdtemp(prefix="pxsh-shm-test-")
        self.addCleanup(shutil.rmtree, self.directory)
        for i, engine in enumerate([self.home, *self.engines]):
            engine.runtime._shared_memory_dir = self.directory
            # Files are named pid-count: these engines share a pid.
            engine.runtime._shared_memory_count = 1000 * i

    def files(self):
        return sorted(os.listdir(self.directory))

    def release(self, segments):
        """What the Swift client does once a transfer is done."""
        for segment in segments:
            if segment.startswith(self.MAGIC):
                os.unlink(segment[len(self.MAGIC):].decode())

    def test_a_large_scatter_and_gather_move_file_names(self):
        self.run_cell(self.home, "x = list(range(100_000))")
        reply = self.ok(self.home, SCATTER, "x", "", 2)
        blobs = split_blobs(reply)
        self.assertEqual([blob[0] for blob in blobs], [b"1", b"1"])
        self.assertTrue(all(blob[1].startswith(self.MAGIC) for blob in blobs))
        self.assertLess(sum(len(segment) for segment in reply), 400)
        self.assertEqual(len(self.files()), 2)
        for engine, blob in zip(self.engines, blobs):
            self.ok(engine, IMPORT, *blob)
        self.release(reply)
        self.assertEqual(self.engines[1].ns["x"], list(range(50_000, 100_000)))

        self.run_cell(self.home, "x = None")
        blobs = [self.ok(engine, EXPORT_VALUES, "x", "") for engine in self.engines]
        self.assertTrue(all(blob[1].startswith(self.MAGIC) for blob in blobs))
        segments = [segment for blob in blobs for segment in blob]
        self.ok(self.home, COLLECT, "concat", "", 2, *segments)
        self.release(segments)
        self.assertEqual(self.home.ns["x"], list(range(100_000)))
        self.assertEqual(self.files(), [])

    def test_mixed_objects_uneven_and_empty_parts(self):
        self.run_cell(self.home, "x = [(i, str(i), None, i / 2, [i]) for i in range(20_001)]")
        reply = self.ok(self.home, SCATTER, "x", "", 3)
        parts = [decode_shared(blob) for blob in split_blobs(reply)]
        self.release(reply)
        expected = [(i, str(i), None, i / 2, [i]) for i in range(20_001)]
        self.assertEqual([len(part["x"]) for part in parts], [6667, 6667, 6667])
        self.assertEqual(sum((part["x"] for part in parts), []), expected)
        self.run_cell(self.home, "x = []")
        reply = self.ok(self.home, SCATTER, "x", "", 2)
        self.assertFalse(any(segment.startswith(self.MAGIC) for segment in reply))
        self.assertEqual(self.files(), [])

    def test_small_values_stay_inline(self):
        reply = self.ok(self.home, EXPORT_VALUES, "v", "list(range(100))")
        self.assertEqual(reply[0], b"1")
        self.assertFalse(reply[1].startswith(self.MAGIC))
        self.assertEqual(self.files(), [])

    def test_large_str_and_bytes_travel_as_files(self):
        for expr in ("'é' * 100_000", "b'x' * 100_000"):
            reply = self.ok(self.home, EXPORT_VALUES, "v", expr)
            self.assertTrue(reply[1].startswith(self.MAGIC), expr)
            self.ok(self.engine, IMPORT, *reply)
            self.release(reply)
            self.assertEqual(self.engine.ns["v"], eval(expr))
        self.assertEqual(self.files(), [])

    def test_without_cloudpickle_too(self):
        home = FakeEngine(is_home=True, cloudpickle=False)
        home.runtime._shared_memory_dir = self.directory
        home.runtime._shared_memory_count = 5000
        reply = self.ok(home, EXPORT_VALUES, "v", "list(range(50_000))")
        self.assertTrue(reply[1].startswith(self.MAGIC))
        self.ok(self.engine, IMPORT, *reply)
        self.release(reply)
        self.assertEqual(self.engine.ns["v"], list(range(50_000)))

    def test_ctrl_c_while_pickling_is_one_short_line_and_leaves_no_file(self):
        # Ctrl-C during `%push big` or `%scatter big` lands in the pickler: the reply names what was
        # being serialized, with the user's frames (here a __reduce__) and none of the pickler's.
        self.run_cell(self.home, "class Stop:\n    def __reduce__(self):\n        raise KeyboardInterrupt\n"
                                 "big = [str(i) for i in range(100_000)] + [Stop()]")
        for op, args, what in ((EXPORT_VALUES, ("big", ""), "'big'"), (SCATTER, ("big", "", 2), "part at index 1 of 'big'")):
            ename, evalue, tb = self.error(self.home, op, *args)
            self.assertEqual((ename, evalue), ("KeyboardInterrupt", f"interrupted while serializing {what}"))
            self.assertTrue(tb.endswith(f"KeyboardInterrupt: {evalue}"), tb)
            self.assertIn("in __reduce__", tb)
            self.assertNotIn("pickle", tb)
            self.assertEqual(self.files(), [])
        self.assertEqual(len(self.home.ns["big"]), 100_001)

    def test_an_unpicklable_item_is_named_and_leaves_no_file(self):
        self.run_cell(self.home, "import threading\nx = list(range(100_000)) + [threading.Lock()]")
        ename, evalue, _ = self.error(self.home, SCATTER, "x", "", 2)
        self.assertEqual(ename, "SerializationError")
        self.assertIn("part at index 1 of 'x'", evalue)
        self.assertIn("lock", evalue)
        self.assertEqual(self.files(), [])

    @needs_numpy
    def test_a_large_pickle_with_large_arrays(self):
        self.run_cell(self.home, "import numpy as np\nv = {'a': np.arange(20_000.0), 'l': list(range(40_000))}")
        reply = self.ok(self.home, EXPORT_VALUES, "v", "")
        self.assertEqual(reply[0], b"2")
        self.assertTrue(reply[1].startswith(self.MAGIC) and reply[2].startswith(self.MAGIC))
        self.assertEqual(len(self.files()), 2)
        self.ok(self.engine, IMPORT, *reply)
        self.release(reply)
        value = self.engine.ns["v"]
        numpy.testing.assert_array_equal(value["a"], numpy.arange(20_000.0))
        self.assertEqual(value["l"], list(range(40_000)))
        value["a"][0] = 7.0  # writable: mapped copy-on-write


def decode_shared(blob):
    """decode_blob for a blob whose pickle may be a shared-memory file."""
    magic = SharedMemoryTests.MAGIC
    if blob[1].startswith(magic):
        with open(blob[1][len(magic):].decode(), "rb") as f:
            blob = [blob[0], f.read(), *blob[2:]]
    return decode_blob(blob)[0]


class ApplyTests(RuntimeTestCase):

    def pack(self, fexpr, argsource):
        return self.ok(self.home, PACK_CALL, fexpr, argsource)

    def test_pack_call_arguments(self):
        self.run_cell(self.home, "def f(*a, **k):\n    return a, k\nxs = [1, 2]")
        blob = self.pack("f", "3, *xs, y=4")
        with self.home.active():  # the fallback rebuilds functions with _pxsh
            func, args, kwargs = decode_blob(blob)[0]
            self.assertEqual((args, kwargs), ((3, 1, 2), {"y": 4}))
            self.assertEqual(func(1), ((1,), {}))
            self.assertEqual(decode_blob(self.pack("f", ""))[0][1:], ((), {}))
            self.assertEqual(decode_blob(self.pack("f", "1,  # trailing comment"))[0][1], (1,))

    def test_a_repeated_call_text_evaluates_its_values_anew(self):
        # The split of `F ARGS` is kept per text; the values are not.
        self.run_cell(self.home, "x = -1")
        first = self.pack("abs x", "")
        self.run_cell(self.home, "x = -7\nabs = lambda v: ('mine', v)")
        second = self.pack("abs x", "")
        self.assertEqual(decode_blob(first)[0], (abs, (-1,), {}))
        self.assertEqual(self.ok(self.engine, APPLY, *second)[0], b"('mine', -7)")

    def test_a_builtin_with_plain_arguments_packs_and_runs(self):
        # Such a call is pickled by the plain pickler (a fast path), keyword arguments by cloudpickle.
        blob = self.pack("divmod", "17, 5")
        self.assertEqual(self.ok(self.engine, APPLY, *self.pack("max", "3, 1, key=abs"))[0], b"3")
        self.assertEqual(self.ok(self.engine, APPLY, *blob)[0], b"(3, 2)")

    def test_apply_runs_on_an_engine(self):
        self.run_cell(self.home, "def power(b, e=2):\n    return b ** e")
        blob = self.pack("power", "3, e=3")
        repr_text, *result = self.ok(self.engine, APPLY, *blob)
        self.assertEqual(repr_text, b"27")
        self.assertEqual(decode_blob(result)[0], 27)
        self.assertEqual(self.engine.ns["_"], 27)

    def test_apply_with_the_fallback_serializer(self):
        self.home.runtime.USE_CLOUDPICKLE = False
        self.run_cell(self.home, "base = 100\ng = lambda x: x + base")
        blob = self.pack("g", "1")
        self.assertEqual(self.ok(self.engine, APPLY, *blob)[0], b"101")

    def test_apply_error_shows_user_frames(self):
        self.run_cell(self.home, "def boom(x):\n    return x[5]")
        ename, evalue, tb = self.error(self.engine, APPLY, *self.pack("boom", "[]"))
        self.assertEqual(ename, "IndexError")
        self.assert_user_frames_only(tb)
        # The engine has not got home's cell source: the frame, no line.
        self.assertEqual(tb.splitlines()[1:], [
            '  File "<In [1]>", line 2, in boom',
            "IndexError: list index out of range"])

    def test_shipped_function_does_not_show_the_engines_own_cell(self):
        # Home's <In [1]> and the engine's <In [1]> are different cells.
        self.run_cell(self.home, "def f(x):\n    return 1/x")
        self.run_cell(self.engine, "a = 1\nb = 'UNRELATED'")
        _, _, tb = self.error(self.engine, APPLY, *self.pack("f", "0"))
        self.assertIn('File "<In [1]>", line 2, in f', tb)
        self.assertNotIn("UNRELATED", tb)
        _, _, tb = self.error(self.home, EXECUTE, "f(0)")
        self.assertIn("return 1/x", tb)
        # Nor the source of a cell that did not even compile.
        self.run_cell(self.home, "def g(x):\n    return 1/x")
        self.run_cell(self.engine, "c = 2")
        self.error(self.engine, EXECUTE, "1 +\nUNCOMPILED")  # the engine's <In [3]>
        _, _, tb = self.error(self.engine, APPLY, *self.pack("g", "0"))
        self.assertIn('File "<In [3]>", line 2, in g', tb)
        self.assertNotIn("UNCOMPILED", tb)

    def test_unserializable_result(self):
        self.run_cell(self.home, "def lock():\n    import threading\n    return threading.Lock()")
        ename, evalue, _ = self.error(self.engine, APPLY, *self.pack("lock", ""))
        self.assertEqual(ename, "SerializationError")
        self.assertTrue(evalue.startswith("cannot serialize the result of 'lock': TypeError"), evalue)

    def test_not_callable(self):
        self.run_cell(self.home, "n = 3")
        ename, evalue, _ = self.error(self.home, PACK_CALL, "n", "")
        self.assertEqual(ename, "TypeError")
        self.assertIn("'n'", evalue)
        self.assertIn("not callable", evalue)

    def test_unserializable_argument_is_named(self):
        self.run_cell(self.home, "import threading\ndef f(*a, **k):\n    pass")
        ename, evalue, _ = self.error(self.home, PACK_CALL, "f", "1, threading.Lock()")
        self.assertEqual(ename, "SerializationError")
        self.assertTrue(evalue.startswith("cannot serialize argument at index 1 of 'f'"), evalue)
        _, evalue, _ = self.error(self.home, PACK_CALL, "f", "k=threading.Lock()")
        self.assertTrue(evalue.startswith("cannot serialize argument 'k' of 'f'"), evalue)

    def test_bad_argument_source(self):
        self.run_cell(self.home, "def f(x):\n    pass")
        self.assertEqual(self.error(self.home, PACK_CALL, "f", "1,,")[0], "SyntaxError")
        self.assertEqual(self.error(self.home, PACK_CALL, "f", "undefined")[0], "NameError")
        # A text that failed to parse once fails again, with its own error each time.
        for _ in range(2):
            ename, _, tb = self.error(self.home, PACK_CALL, "f", "1,,")
            self.assertEqual(ename, "SyntaxError")
            self.assertEqual(tb.count("SyntaxError"), 1, tb)

    def test_the_same_call_text_sees_the_namespace_of_its_time(self):
        # Each text is parsed once, but evaluated at every call.
        self.run_cell(self.home, "def f(x):\n    return x + 1\ny = 1")
        self.assertEqual(self.ok(self.engine, APPLY, *self.pack("f y", ""))[0], b"2")
        self.run_cell(self.home, "def f(x):\n    return x + 10\ny = 5")
        self.assertEqual(self.ok(self.engine, APPLY, *self.pack("f y", ""))[0], b"15")
        self.run_cell(self.home, "del y")
        self.assertEqual(self.error(self.home, PACK_CALL, "f y", "")[0], "NameError")


class MapTests(RuntimeTestCase):

    def prepare(self, fexpr, seqexpr, chunksize="auto", n_engines=2):
        reply = self.ok(self.home, PREPARE_MAP, fexpr, seqexpr, chunksize, n_engines)
        n_items = int(reply[0])
        blobs = split_blobs(reply, 2)
        return n_items, blobs[0], blobs[1:]

    def run_map(self, fexpr, seqexpr, chunksize="auto"):
        """Deal the chunks to the engines in turn; results in order."""
        n_items, fn_blob, chunks = self.prepare(fexpr, seqexpr, chunksize)
        results = []
        for i, chunk in enumerate(chunks):
            engine = self.engines[i % len(self.engines)]
            results.extend(decode_blob(self.ok(engine, MAP_CHUNK, *fn_blob, *chunk))[0])
        self.assertEqual(len(results), n_items)
        return results

    def test_auto_chunksize(self):
        self.run_cell(self.home, "def f(x):\n    return x")
        n_items, _, chunks = self.prepare("f", "range(100)")
        self.assertEqual(n_items, 100)
        # A chunk is its first item's index and its items.
        firsts, chunk_lists = zip(*(decode_blob(chunk)[0] for chunk in chunks))
        chunk_lists = [list(c) for c in chunk_lists]
        self.assertEqual(list(firsts), list(range(0, 100, 13)))
        self.assertEqual([len(c) for c in chunk_lists], [13] * 7 + [9])  # ceil(100 / 8)
        # The chunk size comes back too: the client names a chunk's items from it (its engine died, say).
        self.assertEqual(self.ok(self.home, PREPARE_MAP, "f", "range(100)", "auto", 2)[1], b"13")
        self.assertEqual(sum(chunk_lists, []), list(range(100)))
        self.assertEqual(len(self.prepare("f", "range(3)", n_engines=4)[2]), 3)

    def test_explicit_chunksize(self):
        self.run_cell(self.home, "def f(x):\n    return x")
        _, _, chunks = self.prepare("f", "'abcde'", chunksize="2")
        self.assertEqual([decode_blob(c)[0] for c in chunks], [(0, ["a", "b"]), (2, ["c", "d"]), (4, ["e"])])
        self.assertEqual(self.error(self.home, PREPARE_MAP, "f", "[1]", "0", "2")[0], "ValueError")

    def test_empty_sequence_gives_no_chunks(self):
        self.run_cell(self.home, "def f(x):\n    return x")
        n_items, fn_blob, chunks = self.prepare("f", "[]")
        self.assertEqual((n_items, chunks), (0, []))
        with self.home.active():
            self.assertTrue(callable(decode_blob(fn_blob)[0]))

    def test_map_results(self):
        self.run_cell(self.home, "offset = 1000\ndef f(x):\n    return x * x + offset")
        self.assertEqual(self.run_map("f", "range(50)"), [x * x + 1000 for x in range(50)])
        self.assertEqual(self.run_map("lambda s: s.upper()", "['a', 'b', 'c']", "1"), ["A", "B", "C"])

    def test_map_with_the_fallback_serializer(self):
        self.home.runtime.USE_CLOUDPICKLE = False
        self.run_cell(self.home, "k = 3\ndef outer(m):\n    return lambda x: x * m + k\nf = outer(2)")
        self.assertEqual(self.run_map("f", "range(10)", "3"), [x * 2 + 3 for x in range(10)])

    def test_function_is_cached(self):
        self.run_cell(self.home, "calls = []\ndef f(x):\n    return x + 1")
        _, fn_blob, chunks = self.prepare("f", "range(10)", "1")
        runtime = self.engine.runtime
        for chunk in chunks:
            self.ok(self.engine, MAP_CHUNK, *fn_blob, *chunk)
        self.assertEqual(len(runtime._fn_cache), 1)
        cached = next(iter(runtime._fn_cache.values()))
        self.ok(self.engine, MAP_CHUNK, *fn_blob, *chunks[0])
        self.assertIs(next(iter(runtime._fn_cache.values())), cached)

    def test_cache_is_bounded(self):
        runtime = self.engine.runtime
        for i in range(runtime._FN_CACHE_SIZE + 5):
            self.run_cell(self.home, f"def f(x):\n    return x + {i}")
            _, fn_blob, chunks = self.prepare("f", "[1]")
            result = self.ok(self.engine, MAP_CHUNK, *fn_blob, *chunks[0])
            self.assertEqual(decode_blob(result)[0], [1 + i])
        self.assertEqual(len(runtime._fn_cache), runtime._FN_CACHE_SIZE)

    def test_error_in_a_task(self):
        self.run_cell(self.home, "def f(x):\n    return 10 // x")
        _, fn_blob, chunks = self.prepare("f", "[1, 0]", "2")
        ename, _, tb = self.error(self.engine, MAP_CHUNK, *fn_blob, *chunks[0])
        self.assertEqual(ename, "ZeroDivisionError")
        self.assert_user_frames_only(tb)
        self.assertIn('File "<In [1]>", line 2, in f', tb)

    def test_error_names_the_item_in_the_whole_sequence(self):
        self.run_cell(self.home, "def f(x):\n    return 10 // (x - 7)")
        _, fn_blob, chunks = self.prepare("f", "range(10)", "3")
        # Items 6, 7, 8: the second item of the third chunk raises.
        reply = self.engine.handle(MAP_CHUNK, *fn_blob, *chunks[2])
        self.assertEqual((reply[0], reply[1], reply[4]), (b"error", b"ZeroDivisionError", b"7"))

    def test_several_sequences_map_as_map_does(self):
        self.run_cell(self.home, "xs = [1, 2, 3]\nys = [10, 20, 30, 40]")
        self.assertEqual(self.run_map("lambda a, b: a + b", "xs ys", "2"), [11, 22, 33])
        self.assertEqual(self.run_map("pow", "[2, 3] [5, 2]"), [32, 9])
        n_items, _, _ = self.prepare("lambda a, b: a + b xs ys", "")
        self.assertEqual(n_items, 3)
        # One sequence after an operator stays one sequence: the `+ 1` belongs to the lambda.
        self.assertEqual(self.prepare("lambda x: x + 1 [1, 2]", "")[0], 2)

    def test_unserializable_result(self):
        self.run_cell(self.home, "import threading\ndef f(x):\n    return threading.Lock()")
        _, fn_blob, chunks = self.prepare("f", "[1]")
        ename, evalue, _ = self.error(self.engine, MAP_CHUNK, *fn_blob, *chunks[0])
        self.assertEqual(ename, "SerializationError")
        self.assertIn("'f'", evalue)

    def test_prepare_errors(self):
        self.run_cell(self.home, "import threading\nn = 1\ndef f(x):\n    return x")
        ename, evalue, _ = self.error(self.home, PREPARE_MAP, "n", "[1]", "auto", "2")
        self.assertEqual(ename, "TypeError")
        self.assertIn("not callable", evalue)
        ename, evalue, _ = self.error(self.home, PREPARE_MAP, "f", "5", "auto", "2")
        self.assertEqual((ename, evalue), ("TypeError", "cannot map over int: not iterable"))
        ename, evalue, _ = self.error(self.home, PREPARE_MAP, "f", "[1, 2, threading.Lock()]", "2", "2")
        self.assertEqual(ename, "SerializationError")
        self.assertTrue(evalue.startswith("cannot serialize item at index 2 of "), evalue)
        self.run_cell(self.home, "lock = threading.Lock()\ndef g(x):\n    return lock")
        ename, evalue, _ = self.error(self.home, PREPARE_MAP, "g", "[1]", "1", "2")
        self.assertEqual(ename, "SerializationError")
        self.assertTrue(evalue.startswith("cannot serialize 'g': "), evalue)


class SetupPartTests(RuntimeTestCase):

    def setup_part(self, code):
        return self.ok(self.home, SETUP_PART, code)[0].decode()

    def test_keeps_imports_definitions_and_code_bindings_only(self):
        code = (
            "import time; time.sleep(2)\n"
            "from os import path as p\n"
            "@staticmethod\n"
            "def f(x):\n"
            "    return x\n"
            "class C:\n"
            "    pass\n"
            "g = lambda x: x\n"
            "h = functools.partial(f, 1)\n"
            "j = p.join\n"
            "data = [1, 2]\n"
            "with open('log', 'a') as fh: fh.write('x')\n"
            "for i in range(3): print(i)\n"
        )
        self.assertEqual(
            self.setup_part(code),
            "import time\nfrom os import path as p\n@staticmethod\ndef f(x):\n    return x\n"
            "class C:\n    pass\ng = lambda x: x\nh = functools.partial(f, 1)\nj = p.join",
        )

    def test_names_bound_by_earlier_setup_count(self):
        self.assertEqual(self.setup_part("import numpy"), "import numpy")
        self.assertEqual(self.setup_part("np = numpy\nx = np.zeros(3)"), "np = numpy")
        self.assertEqual(self.setup_part("y = unknown.attr"), "")
        self.assertEqual(self.setup_part("print(("), "")


class CompleteTests(RuntimeTestCase):

    def complete(self, text, engine=None):
        start, *candidates = self.ok(engine or self.home, COMPLETE, text)
        return int(start), [c.decode() for c in candidates]

    def test_names_builtins_and_keywords(self):
        self.run_cell(self.home, "import os\nprinter = 1\n_hidden = 2")
        start, candidates = self.complete("x = pri")
        self.assertEqual(start, 4)
        self.assertEqual(candidates, ["print", "printer"])
        self.assertIn("import", self.complete("imp")[1])
        self.assertNotIn("_hidden", self.complete("")[1])
        self.assertIn("_hidden", self.complete("_h")[1])

    def test_attributes(self):
        self.run_cell(self.home, "import os")
        start, candidates = self.complete("print(os.path.jo")
        self.assertEqual(start, 6)
        self.assertEqual(candidates, ["os.path.join"])
        self.assertEqual(candidates, sorted(set(candidates)))

    def test_private_attributes_only_for_underscore_prefix(self):
        self.run_cell(self.home, "class A:\n    x = 1\n    _y = 2\na = A()")
        _, candidates = self.complete("a.")
        self.assertIn("a.x", candidates)
        self.assertNotIn("a._y", candidates)
        self.assertNotIn("a.__class__", candidates)
        self.assertIn("a._y", self.complete("a._")[1])

    def test_callables_have_no_parenthesis(self):
        self.run_cell(self.home, "s = 'x'")
        self.assertIn("s.upper", self.complete("s.up")[1])

    def test_nothing_is_called_or_evaluated(self):
        self.run_cell(self.home,
                      "calls = []\n"
                      "class Lazy:\n"
                      "    def __getattr__(self, name):\n"
                      "        raise AttributeError(name)\n"
                      "lazy = Lazy()\n"
                      "def f():\n"
                      "    calls.append(1)\n"
                      "    return 'x'")
        self.assertEqual(self.complete("f().up")[1], [])
        self.assertEqual(self.complete("lazy.a.b")[1], [])
        self.assertEqual(self.complete("missing.x")[1], [])
        self.assertEqual(self.complete("1.r")[1], [])
        self.assertEqual(self.home.ns["calls"], [])

    def test_start_counts_characters(self):
        self.run_cell(self.home, "value = 1")
        self.assertEqual(self.complete("'é' + val"), (6, ["value"]))

    def test_engine_namespace(self):
        self.assertIn("rank", self.complete("ra", self.engine)[1])
        self.assertNotIn("rank", self.complete("ra")[1])


class IsCompleteTests(RuntimeTestCase):

    def status(self, code):
        status, indent = self.ok(self.home, IS_COMPLETE, code)
        return status.decode(), indent.decode()

    def test_spec_examples(self):
        self.assertEqual(self.status("def f(x):"), ("incomplete", "    "))
        self.assertEqual(self.status("x = (1,")[0], "incomplete")
        self.assertEqual(self.status("for i in range(3):\n    print(i)"), ("incomplete", "    "))
        self.assertEqual(self.status("for i in range(3):\n    print(i)\n")[0], "complete")
        self.assertEqual(self.status("1+")[0], "invalid")
        self.assertEqual(self.status("x = 1"), ("complete", ""))
        self.assertEqual(self.status("if x:\n    pass\nelse:"), ("incomplete", "    "))

    def test_more_cases(self):
        self.assertEqual(self.status("")[0], "complete")
        self.assertEqual(self.status("x = 1\ny = 2")[0], "complete")
        self.assertEqual(self.status("x = [1,\n  2]")[0], "complete")
        self.assertEqual(self.status("for i in x: print(i)")[0], "complete")
        self.assertEqual(self.status("if x:\n    y = [\n1,\n2]")[0], "incomplete")
        self.assertEqual(self.status("class A:\n    def f(self):"), ("incomplete", "        "))
        self.assertEqual(self.status("if x:  # why\n"), ("incomplete", "    "))
        self.assertEqual(self.status("x = '''abc")[0], "incomplete")
        self.assertEqual(self.status("x = 1 + \\")[0], "incomplete")
        self.assertEqual(self.status("@dec")[0], "incomplete")
        self.assertEqual(self.status("  x = 1")[0], "invalid")
        self.assertEqual(self.status("1 1")[0], "invalid")


class ShellAndHelpLineTests(RuntimeTestCase):
    """IPython's `!cmd`, `var = !cmd`, `obj?` and `obj??`, at home and on engines."""

    def output(self, engine, code):
        """(what the cell printed at the fd level, its EXECUTE reply)."""
        with tempfile.TemporaryFile() as captured:
            saved = os.dup(1)
            sys.stdout.flush()
            os.dup2(captured.fileno(), 1)
            try:
                reply = self.run_cell(engine, code)
                sys.stdout.flush()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            captured.seek(0)
            return captured.read().decode(), reply

    def test_a_shell_line_runs_with_python_values_filled_in(self):
        printed, _ = self.output(self.engine, "x = 5\n!echo {x * 2} $x $HOME {missing} '{print $1}' $$")
        self.assertEqual(printed, f"10 5 {os.environ['HOME']} {{missing}} {{print $1}} $\n")

    def test_a_captured_shell_line_is_a_list_of_lines_and_the_status_is_kept(self):
        self.assertEqual(self.run_cell(self.home, "lines = !printf 'a\\nb\\n'\nlines")[2], "['a', 'b']")
        self.assertEqual(self.run_cell(self.home, "!exit 3\n_exit_code")[2], "3")

    def test_shell_lines_in_blocks_use_the_block_s_names(self):
        printed, _ = self.output(self.engine, "def f(n):\n    !echo n={n} rank={rank}\nf(7)")
        self.assertEqual(printed, "n=7 rank=0\n")

    def test_only_a_line_where_a_statement_starts_is_a_shell_line(self):
        cell = "s = '''\n!not run\n'''\nt = (1,\n!2)"
        error = self.error(self.home, EXECUTE, cell)
        self.assertEqual(error[0], "SyntaxError")
        self.assertEqual(self.run_cell(self.home, "x = 1\nx != 2")[2], "True")
        self.assertEqual(self.run_cell(self.home, "s = '''\n!kept\n'''\ns")[2], repr("\n!kept\n"))

    def test_a_shell_line_is_complete_and_a_block_of_them_is_not(self):
        status = lambda code: self.ok(self.home, IS_COMPLETE, code)[0].decode()
        self.assertEqual(status("!echo it's"), "complete")
        self.assertEqual(status("files = !ls ("), "complete")
        self.assertEqual(status("for f in x:\n    !echo {f}"), "incomplete")
        self.assertEqual(status("len?"), "complete")

    def test_help_shows_signature_type_and_docstring_and_source_with_two_marks(self):
        self.run_cell(self.home, "def add(a, b=2):\n    'Adds.'\n    return a + b")
        printed, reply = self.output(self.home, "add?")
        self.assertEqual(reply[1], "0")
        self.assertIn("Signature: add(a, b=2)", printed)
        self.assertIn("Type:      function", printed)
        self.assertIn("Docstring: Adds.", printed)
        printed, _ = self.output(self.home, "??add")
        self.assertIn("Source:\ndef add(a, b=2):\n    'Adds.'\n    return a + b", printed)
        printed, _ = self.output(self.home, "nothing.here?")
        self.assertEqual(printed, "Object `nothing.here` not found.\n")
        printed, _ = self.output(self.engine, "rank?")
        self.assertIn("String form: 0", printed)


class WhoTests(RuntimeTestCase):

    def test_variables_sorted_with_types_and_summaries(self):
        self.run_cell(self.engine,
                      "import os\n"
                      "b = 'x'\n"
                      "a = list(range(1000))\n"
                      "m = {'k': [1,\n 2]}\n"
                      "_private = 1\n"
                      "In = Out = exit = quit = None\n"
                      "class Multi:\n"
                      "    def __repr__(self):\n"
                      "        return 'line one\\n   line two'\n"
                      "multi = Multi()")
        reply = self.ok(self.engine, WHO)
        rows = [tuple(part.decode() for part in reply[i:i + 3]) for i in range(0, len(reply), 3)]
        names = [row[0] for row in rows]
        self.assertEqual(names, ["Multi", "a", "b", "m", "multi", "os", "rank", "size"])
        table = {row[0]: row[1:] for row in rows}
        self.assertEqual(table["os"][0], "module")
        self.assertEqual(table["b"], ("str", "'x'"))
        self.assertEqual(table["rank"], ("int", "0"))
        self.assertEqual(table["multi"][1], "line one line two")
        type_name, summary = table["a"]
        self.assertEqual(type_name, "list")
        self.assertEqual(len(summary), 60)
        self.assertTrue(summary.startswith("[0, 1, 2,"))
        self.assertTrue(summary.endswith("…"))
        self.assertTrue(all("\n" not in row[2] for row in rows))

    def test_empty_home_namespace(self):
        self.assertEqual(self.ok(self.home, WHO), [])


if __name__ == "__main__":
    unittest.main()
