"""The pxsh package against real clusters: a named cluster started with the built pxsh.

PXSH names the pxsh executable (default: .build/debug/pxsh). Each test class uses a runtime
directory of its own (XDG_RUNTIME_DIR), so other clusters on the machine are not seen.
"""

import atexit
import concurrent.futures
import inspect
import linecache
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import pxsh  # noqa: E402
from pxsh import asyncresult, protocol  # noqa: E402

PXSH = os.environ.get("PXSH") or os.path.join(HERE, "..", "..", ".build", "debug", "pxsh")


def pxsh_command(*args, env=None):
    return subprocess.run([PXSH, *args], env=env, capture_output=True, text=True, timeout=120)


class ClusterTestCase(unittest.TestCase):
    engines = 2
    name = "pytest"

    @classmethod
    def setUpClass(cls):
        if not os.access(PXSH, os.X_OK):
            raise RuntimeError(f"no pxsh executable at {PXSH} (build first, or set PXSH)")
        cls.runtime = tempfile.mkdtemp(prefix="pxsh-pytest-")
        os.chmod(cls.runtime, 0o700)
        cls.saved_xdg = os.environ.get("XDG_RUNTIME_DIR")
        os.environ["XDG_RUNTIME_DIR"] = cls.runtime
        cls.cluster = f"{cls.name}-{os.getpid()}"
        started = pxsh_command("cluster", "start", "--name", cls.cluster, "-n", str(cls.engines))
        if started.returncode != 0:
            raise RuntimeError(f"pxsh cluster start failed: {started.stdout}{started.stderr}")
        # A run cut short (a KeyboardInterrupt out of a test ends unittest without tearDownClass) still
        # stops its cluster: at exit, unless tearDownClass did.
        atexit.register(cls.stop_cluster, cls.cluster, cls.runtime)
        cls.rc = pxsh.Client(cluster=cls.cluster)

    @staticmethod
    def stop_cluster(cluster: str, runtime: str) -> None:
        if os.path.isdir(runtime):
            pxsh_command("cluster", "stop", "--name", cluster, env={**os.environ, "XDG_RUNTIME_DIR": runtime})
            shutil.rmtree(runtime, ignore_errors=True)

    def own_client(self) -> "pxsh.Client":
        """A client of this test's own, closed after it (the class's may have a reader thread)."""
        client = pxsh.Client(cluster=self.cluster)
        self.addCleanup(client.close)
        return client

    @classmethod
    def tearDownClass(cls):
        cls.rc.close()
        if cls.saved_xdg is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = cls.saved_xdg
        cls.stop_cluster(cls.cluster, cls.runtime)


try:
    import cloudpickle
    # The engines cannot import this test module: its functions travel by value, as a script's do.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
except ImportError:
    pass


def interactive(source, **names):
    """A function defined as at a prompt or in a notebook (in __main__): it sees the engine's names."""
    namespace = {"__name__": "__main__", **names}
    exec(source, namespace)
    return namespace["f"]


def square(x):
    return x * x


def touch(path):
    open(path, "w").close()
    return path


def sleep_for(seconds):
    import time
    time.sleep(seconds)
    return seconds


class ClientTests(ClusterTestCase):
    def test_ids_and_views(self):
        self.assertEqual(self.rc.ids, [0, 1])
        self.assertEqual(repr(self.rc[:]), "<DirectView [0, 1]>")
        self.assertEqual(self.rc[1].targets, 1)
        self.assertEqual(self.rc[0:1].targets, [0])
        self.assertEqual(self.rc.direct_view().targets, "all")
        self.assertFalse(self.rc[:].block)
        self.assertFalse(self.rc.load_balanced_view().block)

    def test_client_without_a_name_attaches_to_the_only_cluster(self):
        with pxsh.Client() as other:
            self.assertEqual(other.cluster, self.cluster)
            self.assertEqual(other.ids, [0, 1])

    def test_functions_run_in_the_engine_namespace(self):
        dv = self.rc[:]
        self.assertEqual(dv.apply_sync(interactive("f = lambda: rank")), [0, 1])
        adder = interactive("def f(x):\n    return x + offset + rank", offset=10)
        self.assertEqual(dv.apply_sync(adder, 1), [11, 12])
        self.assertEqual(self.rc[1].apply_sync(interactive("f = lambda: size")), 2)
        closure = interactive("def make(k):\n    return lambda x: x * k + rank\nf = make(3)")
        self.assertEqual(dv.map_sync(closure, [1, 1]), [3, 4])

    def test_ipyparallel_tutorial_calls(self):
        # From ipyparallel's quick start and tutorials, with rc = px.
        rc = pxsh.Client(profile=self.cluster)
        try:
            self.assertIsNone(rc.wait_for_engines(self.engines, timeout=30))
            self.assertIsNone(rc.wait_for_engines(block=False).result(timeout=30))
            with self.assertRaisesRegex(TimeoutError, f"{self.engines} engines after 0.2 s, not 99"):
                rc.wait_for_engines(99, timeout=0.2)
            rc.spin()
            dv = rc[:]
            self.assertEqual(dv.use_cloudpickle().get(timeout=30), [None] * self.engines)
            dv.use_dill().wait(30)
            ar = rc.load_balanced_view().apply_async(interactive("def f(): return print('hi') or rank"))
            self.assertIn(ar.get(timeout=30), range(self.engines))
            meta = ar.metadata
            self.assertEqual(meta["engine_id"], ar.engine_id)
            self.assertEqual(meta["stdout"], "hi\n")
            self.assertLessEqual(meta["submitted"], meta["started"])
            self.assertLessEqual(meta["started"], meta["completed"])
            self.assertIsNone(meta["error"])
            self.assertEqual([m["engine_id"] for m in dv.apply_async(abs, 1).metadata], rc.ids)
        finally:
            rc.close()

    def test_execute_push_pull(self):
        dv = self.rc[:]
        result = dv.execute("z = rank * 10\nprint('z is', z)")
        self.assertIsInstance(result, pxsh.AsyncResult)
        self.assertEqual([reply.execute_result for reply in result.get()], [None, None])
        self.assertEqual(result.stdout, ["z is 0\n", "z is 10\n"])
        self.assertEqual(dv["z"], [0, 10])
        dv["w"] = {"a": 1}
        self.assertEqual(dv.pull("w", block=True), [{"a": 1}, {"a": 1}])
        dv.push({"p": 1, "q": 2}, block=True)
        self.assertEqual(dv.pull(["p", "q"]).get(), [[1, 2], [1, 2]])
        self.assertEqual(self.rc[0]["z"], 0)

    def test_scatter_and_gather(self):
        dv = self.rc[:]
        dv.scatter("part", list(range(7)), block=True)
        self.assertEqual(dv["part"], [[0, 1, 2, 3], [4, 5, 6]])
        dv.execute("part = [x * 2 for x in part]", block=True)
        self.assertEqual(dv.gather("part", block=True), [0, 2, 4, 6, 8, 10, 12])
        try:
            import numpy
        except ImportError:
            return
        dv.scatter("array", numpy.arange(10), block=True)
        gathered = dv.gather("array").get()
        self.assertEqual(gathered.tolist(), list(range(10)))

    def test_large_values_come_back_through_shared_memory_and_leave_no_file(self):
        # The engines' pickles of these blocks are large: they travel as shared-memory files,
        # which this client maps, reads and removes.
        dv = self.rc[:]
        items = [(i, str(i), None) for i in range(100_000)]
        dv.scatter("big", items, block=True)
        self.assertEqual(dv.gather("big", block=True), items)
        self.assertEqual(self.rc[1]["big"], items[50_000:])
        dv.execute("import os; shared = os.environ.get('PXSH_SHARED_MEMORY_DIR')", block=True)
        directory = self.rc[0]["shared"]
        self.assertTrue(directory and os.path.isdir(directory), directory)
        self.assertEqual(os.listdir(directory), [])

    def test_direct_map_and_decorators(self):
        dv = self.rc[:]
        self.assertEqual(dv.map_sync(square, range(6)), [0, 1, 4, 9, 16, 25])
        self.assertEqual(dv.map(lambda x, y: x + y, [1, 2], [3, 4]).get(), [4, 6])

        where = dv.remote(block=True)(interactive("f = lambda: rank"))
        self.assertEqual(where(), [0, 1])

        @dv.parallel(block=True)
        def doubled(block):
            return [2 * x for x in block]
        self.assertEqual(doubled(range(5)), [0, 2, 4, 6, 8])
        self.assertEqual(doubled.map([[1], [2]]), [[2], [4]])

    def test_sync_imports(self):
        dv = self.rc[:]
        with dv.sync_imports(quiet=True):
            import fractions  # noqa: F401
        self.assertEqual(dv.apply_sync(interactive("f = lambda: 'fractions' in globals()")), [True, True])

    def test_load_balanced_apply_and_map(self):
        lv = self.rc.load_balanced_view()
        results = [lv.apply_async(square, i) for i in range(10)]
        self.assertEqual([r.get() for r in results], [i * i for i in range(10)])
        self.assertIn(results[0].engine_id, (0, 1))
        self.assertEqual(lv.map_sync(square, range(10), chunksize=3), [i * i for i in range(10)])
        unordered = lv.map_async(sleep_for, [0.4, 0.0, 0.0, 0.0], ordered=False)
        self.assertEqual(sorted(unordered.get()), [0.0, 0.0, 0.0, 0.4])
        self.assertEqual(list(lv.map_async(square, range(5))), [0, 1, 4, 9, 16])
        self.assertEqual(list(lv.imap(square, range(20))), [i * i for i in range(20)])
        self.assertEqual(sorted(lv.imap(square, range(6), ordered=False)), [0, 1, 4, 9, 16, 25])
        mapped = lv.map_async(square, range(7), chunksize=2)
        self.assertEqual(len(mapped), 7)
        mapped.wait()
        self.assertEqual(mapped.progress, 7)

    def test_maps_of_nothing(self):
        lv = self.rc.load_balanced_view()
        self.assertEqual(lv.map_sync(square, []), [])
        self.assertEqual(self.rc[:].map_sync(square, []), [])
        self.assertEqual(list(lv.imap(square, [])), [])
        self.assertEqual(len(lv.map_async(square, [])), 0)

    def test_results_are_futures(self):
        lv = self.rc.load_balanced_view()
        futures = [lv.apply_async(sleep_for, t) for t in (0.6, 0.0)]
        done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
        self.assertIn(futures[1], done)
        order = [f.result() for f in concurrent.futures.as_completed(futures)]
        self.assertEqual(sorted(order), [0.0, 0.6])
        called = threading.Event()
        futures[0].add_done_callback(lambda f: called.set())
        self.assertTrue(called.is_set())
        self.assertTrue(futures[0].ready() and futures[0].successful() and futures[0].done())
        self.assertGreater(futures[0].elapsed, 0.5)
        self.assertGreater(futures[0].wall_time, 0.5)
        self.assertAlmostEqual(futures[0].serial_time, futures[0].wall_time, places=3)

    def test_execute_returns_its_async_result_of_execute_replies(self):
        dv = self.rc[:]
        result = dv.execute("v = 6 * 7\nv", block=True)
        self.assertIsInstance(result, pxsh.AsyncResult)
        self.assertTrue(result.done())
        replies = result.get()
        self.assertEqual([type(reply) for reply in replies], [pxsh.ExecuteReply] * 2)
        self.assertEqual([reply.execute_result for reply in replies], [{"data": {"text/plain": "42"}}] * 2)
        self.assertEqual([reply.engine_id for reply in replies], [0, 1])
        self.assertGreater(replies[0].execution_count, 0)
        single = self.rc[1].execute("print('one', rank)", block=True).get()
        self.assertIsNone(single.execute_result)
        self.assertEqual((single.engine_id, single.stdout), (1, "one 1\n"))
        self.assertIn("ExecuteReply", repr(single))

    def test_replies_a_blocking_execute_keeps_unread_read_right_when_looked_at(self):
        result = self.rc[:].execute("print('hi', rank)\nrank * 10", block=True)
        self.assertEqual([task.frame is not None for task in result._tasks], [True, True])  # kept unread
        self.assertEqual([(engine, started > 0, completed >= started) for engine, started, completed
                          in result.timings], [(0, True, True), (1, True, True)])
        self.assertEqual([task.frame for task in result._tasks], [None, None])
        self.assertEqual([reply.execute_result["data"]["text/plain"] for reply in result.get()], ["0", "10"])
        self.assertEqual(result.stdout, ["hi 0\n", "hi 1\n"])
        self.assertTrue(result.successful())
        unread = self.rc[:].execute("x = 1", block=True)
        self.assertEqual([reply.execution_count > 0 for reply in unread.get()], [True, True])
        self.assertIs(unread.get(), unread.get())  # read once
        with self.assertRaises(pxsh.CompositeError):  # a failed reply is read at once
            self.rc[:].execute("1/0", block=True)

    def test_a_blocking_execute_takes_its_answer_in_one_frame_and_reads_it_when_looked_at(self):
        # No output, no failure: taken whole and unread, when the last reply came within the
        # controller's hold (2 ms; a loaded machine may miss it, and then the frames come one by one).
        for _ in range(50):
            result = self.rc[:].execute("y = rank", block=True)
            if result._answer is not None:
                break
        self.assertIsNotNone(result._answer, "no answer came in one frame in 50 tries")
        first = result.msg_ids[0]
        self.assertEqual(result.msg_ids, [first, first + 1])
        self.assertEqual([(engine, started > 0, completed >= started) for engine, started, completed
                          in result.timings], [(0, True, True), (1, True, True)])
        self.assertIsNone(result._answer)
        self.assertEqual([(reply.engine_id, reply.execution_count > 0, reply.execute_result)
                          for reply in result.get()], [(0, True, None), (1, True, None)])
        self.assertTrue(result.successful())
        self.assertEqual(self.rc[:].pull("y", block=True), [0, 1])

    def test_submissions_held_back_go_out_when_a_script_exits_without_waiting(self):
        self.rc[:].execute("exit_hits = 0", block=True)
        script = ("import pxsh\n"
                  f"rc = pxsh.Client(cluster={self.cluster!r})\n"
                  "results = [rc[:].execute('exit_hits += 1', block=False) for _ in range(100)]\n")
        env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        deadline = time.monotonic() + 10
        while self.rc[:].pull("exit_hits", block=True) != [100, 100] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.rc[:].pull("exit_hits", block=True), [100, 100])

    def test_timings_take_in_the_replies_that_came(self):
        result = self.rc[:].execute("import time\ntime.sleep(2 if rank == 1 else 0)", block=False)
        time.sleep(0.5)
        self.assertEqual([completed > 0 for _, _, completed in result.timings], [True, False])
        self.assertGreaterEqual(result.serial_time, 0)
        result.wait()
        self.assertEqual([completed > 0 for _, _, completed in result.timings], [True, True])
        self.assertGreater(result.wall_time, 1.5)

    def test_execute_replies_can_be_pickled_and_copied(self):
        import copy
        import pickle
        replies = self.rc[:].execute("print('p', rank)\n5 * 5", block=True).get()
        for copied in (pickle.loads(pickle.dumps(replies)), copy.deepcopy(replies)):
            self.assertEqual([(r.execution_count, r.execute_result, r.engine_id, r.stdout) for r in copied],
                             [(r.execution_count, r.execute_result, r.engine_id, r.stdout) for r in replies])
        self.assertEqual(replies[1].stdout, "p 1\n")

    def test_a_result_that_reads_its_replies_later_makes_its_tasks_once_when_first_looked_at(self):
        # A blocking execute's whole answer (its ACCEPTED and one reply per engine, as the controller
        # sends it when the replies come within its hold), built here so that no timing decides the path.
        accepted = protocol.encode(protocol.Frame(protocol.ACCEPTED, 0, 0, -2, 99, [bytes(8) + b"\x02\0\0\0"]))
        replies = [protocol.encode(protocol.Frame(protocol.REPLY, protocol.OP_EXECUTE, 0, engine, engine,
                                                  [bytes(16), b"ok", b"7", b"0", b""]))[4:] for engine in (0, 1)]
        answer = protocol.encode(protocol.Frame(protocol.ANSWER, 0, 0, -2, 99, [accepted[4:], *replies]))
        (frame,) = protocol.FrameDecoder().decode(answer)
        result = pxsh.AsyncResult(self.rc, label="execute", method="execute", engines=[0, 1],
                                  decode=asyncresult._execute_reply, read_later=True)
        self.assertTrue(result._take_answer(frame))
        result._finish()
        self.assertTrue(result.done())
        self.assertNotIn("_tasks", vars(result))  # made when first looked at, not before
        seen = []
        threads = [threading.Thread(target=lambda: seen.append(result._tasks)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertTrue(all(tasks is result._tasks for tasks in seen))
        self.assertEqual([(reply.engine_id, reply.execution_count) for reply in result.get()], [(0, 7), (1, 7)])
        self.assertEqual((result.stdout, result.engine_id), (["", ""], [0, 1]))

    def test_a_garbled_answer_is_an_error_when_read(self):
        # An answer whose count and flags look right, but whose last frame is not one.
        accepted = protocol.encode(protocol.Frame(protocol.ACCEPTED, 0, 0, -2, 99, [bytes(8) + b"\x02\0\0\0"]))
        reply = protocol.encode(protocol.Frame(protocol.REPLY, 1, 0, 0, 0, [bytes(16), b"ok", b"1", b"0", b""]))
        answer = protocol.encode(protocol.Frame(protocol.ANSWER, 0, 0, -2, 99, [accepted[4:], reply[4:], b"junk"]))
        (frame,) = protocol.FrameDecoder().decode(answer)
        result = pxsh.AsyncResult(self.rc, label="execute", method="execute", engines=[0, 1],
                                  decode=lambda segments: None, read_later=True)
        self.assertTrue(result._take_answer(frame))
        result._finish()
        with self.assertRaisesRegex(pxsh.CompositeError, "ProtocolError"):
            result.get()
        self.assertIn("invalid reply", str(result._tasks[1].error))

    def test_a_ctrl_c_at_any_line_of_a_wait_leaves_the_client_usable(self):
        # KeyboardInterrupt can come between any two bytecodes: raised (by a trace function) at
        # each line of the wait in turn, the next call must still get its result. In a thread of
        # its own, so that a client left stuck fails the test instead of hanging it.
        lv = self.rc.load_balanced_view()
        wait = type(self.rc)._wait_for.__code__
        lines = lines_of(wait)
        outcomes = []

        def interrupt_each_line():
            for line in lines:
                result = lv.apply_async(time.sleep, 0.02)
                fired = interrupted_at(wait, line, result.get)
                try:
                    outcomes.append((line, fired, lv.apply_async(abs, -3).get(timeout=5)))
                except Exception as exc:  # a client left stuck: TimeoutError
                    outcomes.append((line, fired, repr(exc)))

        thread = threading.Thread(target=interrupt_each_line, daemon=True)
        thread.start()
        thread.join(120)
        self.assertFalse(thread.is_alive(), f"the client was stuck after a Ctrl-C at line {len(outcomes)}"
                         f" of the wait: {outcomes[-1:]}")
        self.assertEqual([outcome for outcome in outcomes if outcome[2] != 3], [])
        self.assertEqual(len(outcomes), len(lines))
        self.assertGreater(sum(fired for _, fired, _ in outcomes), len(lines) // 2)

    def test_a_ctrl_c_at_any_line_of_a_read_up_to_its_recv_leaves_the_client_usable(self):
        # Up to its recv_into a read has taken nothing in: KeyboardInterrupt at each of those lines
        # must leave the read side free and the client usable. (From the recv_into on, a Ctrl-C is put
        # off in the main thread, see the tests of _PutOff; none can come in another.) In a thread, as above.
        lv = self.rc.load_balanced_view()
        read = type(self.rc)._read_some
        lines = lines_through(read, "sock.recv_into(")
        outcomes = []

        def interrupt_each_line():
            for line in lines:
                result = lv.apply_async(time.sleep, 0.02)
                fired = interrupted_at(read.__code__, line, result.get)
                try:
                    outcomes.append((line, fired, lv.apply_async(abs, -3).get(timeout=5)))
                except Exception as exc:  # a client left stuck: TimeoutError
                    outcomes.append((line, fired, repr(exc)))

        thread = threading.Thread(target=interrupt_each_line, daemon=True)
        thread.start()
        thread.join(120)
        self.assertFalse(thread.is_alive(), f"the client was stuck after a Ctrl-C at line {len(outcomes)}"
                         f" of the read: {outcomes[-1:]}")
        self.assertEqual([outcome for outcome in outcomes if outcome[2] != 3], [])
        self.assertEqual(len(outcomes), len(lines))
        self.assertGreater(sum(fired for _, fired, _ in outcomes), len(lines) // 2)

    def test_a_ctrl_c_at_any_line_of_a_sigint_hold_leaves_sigint_let_through(self):
        # _sigint_held (a thread's start, an interrupt's send): the same as a read's hold, above, at
        # each line up to its yield (its finally runs with SIGINT held until its last call).
        held = pxsh.client._sigint_held.__wrapped__
        held_block = held.__code__
        outcomes = []

        def interrupt_each_line():
            for line in lines_through(held, "yield"):
                def hold():
                    with pxsh.client._sigint_held():
                        pass
                fired = interrupted_at(held_block, line, hold)
                outcomes.append((line, fired, sigint_blocked()))

        thread = threading.Thread(target=interrupt_each_line)
        thread.start()
        thread.join(30)
        self.assertEqual([outcome for outcome in outcomes if outcome[2]], [])
        self.assertEqual([fired for _, fired, _ in outcomes], [True] * len(outcomes))

    def test_a_ctrl_c_at_any_line_of_a_blocking_submit_leaves_the_client_usable(self):
        # A blocking execute sends and reads its answer inside _submit_and_wait (its first round of the
        # wait): KeyboardInterrupt raised at each line of it in turn must leave no claim on the read side
        # and no result that nothing will answer, and the interrupted one ends (replied, or cancelled if
        # it never went out). In a thread of its own, as above.
        view = self.rc[:]
        submit = type(self.rc)._submit_and_wait.__code__
        lines = lines_of(submit)
        outcomes = []

        def interrupt_each_line():
            for line in lines:
                before = len(self.rc.history)
                fired = interrupted_at(submit, line, lambda: view.execute("import time; time.sleep(0.01)", block=True))
                interrupted = self.rc.history[before:]
                try:
                    value = view.execute("7", block=True).get()[0].execute_result["data"]["text/plain"]
                    ended = all(result.wait(5) for result in interrupted) and self.rc.wait(timeout=5)
                    outcomes.append((line, fired, value, ended, self.rc._reading))
                except Exception as exc:  # a client left stuck: TimeoutError
                    outcomes.append((line, fired, repr(exc), False, self.rc._reading))

        thread = threading.Thread(target=interrupt_each_line, daemon=True)
        thread.start()
        thread.join(120)
        self.assertFalse(thread.is_alive(), f"the client was stuck after a Ctrl-C at line {len(outcomes)}"
                         f" of a blocking submit: {outcomes[-1:]}")
        self.assertEqual([outcome for outcome in outcomes if outcome[2:] != ("7", True, None)], [])
        self.assertEqual(len(outcomes), len(lines))
        self.assertGreater(sum(fired for _, fired, *_ in outcomes), len(lines) // 3)

    def test_a_ctrl_c_at_any_line_of_a_call_s_submit_loses_no_call(self):
        # apply_async sends a call first and records it after, holding the read side meanwhile; while
        # another thread reads, it records first and sends after. KeyboardInterrupt raised at each line
        # of _submit in turn, with a thread that reads throughout (the second way) or that begins to
        # read as soon as the read side is given back (the first), must leave every call made ending
        # and the read side free for another thread's call. In a thread of its own, as above.
        client = self.own_client()
        lv = client.load_balanced_view()
        submit = type(client)._submit.__code__
        outcomes = []

        def another_call():
            values = []
            caller = threading.Thread(target=lambda: values.append(lv.apply_async(abs, -3).get(timeout=5)))
            caller.start()
            caller.join(10)
            return values

        def interrupt_each_line():
            for reading_throughout in (True, False):
                for line in lines_of(submit):
                    slow = client[0].execute("import time; time.sleep(0.05)")
                    reader = threading.Thread(target=slow.get, daemon=True)
                    if reading_throughout:
                        reader.start()
                        time.sleep(0.01)  # it takes the read side
                    else:
                        slow.done()  # the call goes out at once, not batched with it
                        release = client._release_reading

                        def release_then_read(release=release, reader=reader):
                            release()
                            if reader.ident is None:
                                reader.start()
                                time.sleep(0.02)  # it reads the answers that come meanwhile
                        client._release_reading = release_then_read
                    before = len(client.history)
                    fired = interrupted_at(submit, line, lambda: lv.apply_async(abs, -2))
                    vars(client).pop("_release_reading", None)
                    made = client.history[before:]
                    ended = all(result.wait(5) for result in made)
                    values = another_call()
                    if reader.ident is None:
                        reader.start()  # the read side was given back without the hook
                    reader.join(5)
                    outcomes.append((reading_throughout, line, fired, ended, values, client._reading))

        thread = threading.Thread(target=interrupt_each_line, daemon=True)
        thread.start()
        thread.join(120)
        self.assertFalse(thread.is_alive(), f"the client was stuck after a Ctrl-C in a call's submit: {outcomes[-1:]}")
        self.assertEqual([outcome for outcome in outcomes if outcome[3:] != (True, [3], None)], [])
        self.assertGreater(sum(fired for _, _, fired, *_ in outcomes), len(outcomes) // 3)

    def test_a_ctrl_c_just_after_a_blocking_request_went_out_interrupts_its_tasks(self):
        # The request goes out before its result is made: a Ctrl-C there left the cell running
        # untracked (not in history, not interrupted), and the next call waited for it.
        import inspect
        submit = type(self.rc)._submit_and_wait
        source, first = inspect.getsourcelines(submit)
        line = first + next(i for i, text in enumerate(source) if "result.__init__(self, *init)" in text)
        view = self.rc[:]
        view.execute("import time", block=True)
        before = len(self.rc.history)
        self.assertTrue(interrupted_at(submit.__code__, line, lambda: view.execute("time.sleep(3)", block=True)))
        self.assertEqual(len(self.rc.history), before + 1)
        interrupted = self.rc.history[-1]
        self.assertTrue(interrupted.wait(5))
        began = time.monotonic()
        view.execute("1", block=True)
        self.assertLess(time.monotonic() - began, 1.5)
        with self.assertRaises(pxsh.CompositeError):
            interrupted.get()

    def test_a_blocking_request_was_submitted_before_its_tasks_started(self):
        # Its result is made after the send: `submitted` must still be when it went out.
        for view in (self.rc[:], self.rc[0]):
            late = [result for result in (view.execute("pass", block=True) for _ in range(200))
                    if min(started for _, started, _ in result.timings) / 1e9 < result.submitted]
            self.assertEqual(late, [])

    def test_a_done_callback_may_wait_on_another_result(self):
        scratch = tempfile.mkdtemp(prefix="pxsh-pycb-")
        self.addCleanup(shutil.rmtree, scratch, ignore_errors=True)
        started, release = os.path.join(scratch, "started"), os.path.join(scratch, "release")
        self.addCleanup(lambda: open(release, "w").close())
        lv = self.rc.load_balanced_view()
        first = lv.apply_async(wait_for_release, started, release)
        seen, called = [], threading.Event()

        def callback(future):
            try:
                seen.append(lv.apply_async(square, 4).get(timeout=60))
            finally:
                called.set()
        first.add_done_callback(callback)  # before the task can end: the callback runs where replies are read
        open(release, "w").close()
        self.assertTrue(called.wait(120))
        self.assertEqual(seen, [16])
        self.assertEqual(first.get(), "finished normally")

    def test_submissions_held_back_go_out_with_nobody_waiting(self):
        scratch = tempfile.mkdtemp(prefix="pxsh-pyflush-")
        self.addCleanup(shutil.rmtree, scratch, ignore_errors=True)
        paths = [os.path.join(scratch, str(i)) for i in range(20)]
        lv = self.rc.load_balanced_view()
        results = [lv.apply_async(touch, path) for path in paths]  # in a row: all but the first held back
        # Watched through the file system only: any call on the client would send them itself.
        deadline = time.monotonic() + 120
        while not all(map(os.path.exists, paths)) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual([os.path.exists(path) for path in paths], [True] * len(paths))
        self.assertEqual([result.get() for result in results], paths)

    def test_ready_alone_sees_results_arrive(self):
        # A loop that submits, checks ready() and collects: nothing else reads the replies.
        lv = self.rc.load_balanced_view()
        pending = {n: lv.apply_async(square, n) for n in range(6)}
        collected = {}
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            for n, result in list(pending.items()):
                if result.ready():
                    collected[n] = pending.pop(n).get()
        self.assertEqual(collected, {n: n * n for n in range(6)})

    def test_a_long_loop_of_calls_keeps_a_bounded_history(self):
        # px.history keeps the last HISTORY_LIMIT results (what %jobs lists); older ones are freed once
        # nothing else refers to them, values included: a long session's loop must not grow memory.
        import gc
        import tracemalloc
        import weakref
        lv = self.rc.load_balanced_view()
        first = lv.apply_async(abs, -1)
        self.assertEqual(first.get(), 1)
        first_ref = weakref.ref(first)
        del first
        tracemalloc.start()
        try:
            for _ in range(2000):
                lv.apply_async(abs, -1).get()
            gc.collect()
            early = tracemalloc.get_traced_memory()[0]
            for _ in range(18000):
                lv.apply_async(abs, -1).get()
            gc.collect()
            late = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        self.assertIsNone(first_ref(), "the first result is still kept")
        self.assertLessEqual(len(self.rc.history), pxsh.client.HISTORY_LIMIT)
        numbers = [result.number for result in self.rc.history]
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + len(numbers))))
        self.assertGreaterEqual(numbers[-1], 20001)
        # 18,000 more results kept would be tens of MB; a bounded history, a few kB of noise.
        self.assertLess(late - early, 1 << 20, f"{late - early} bytes more after 18,000 more calls")

    def test_executor(self):
        with self.rc.executor() as executor:
            self.assertIsInstance(executor, concurrent.futures.Executor)
            self.assertEqual(executor.submit(divmod, 17, 5).result(), (3, 2))
            self.assertEqual(list(executor.map(square, range(5))), [0, 1, 4, 9, 16])
            self.assertEqual(list(executor.map(square, range(5), chunksize=2, timeout=60)), [0, 1, 4, 9, 16])

    def test_output_and_display(self):
        result = self.rc[:].execute("print('out', rank)\nimport sys; print('err', file=sys.stderr)")
        result.wait()
        self.assertEqual(result.stderr, ["err\n", "err\n"])
        self.assertEqual(result.engine_id, [0, 1])

    def test_remote_errors(self):
        with self.assertRaises(pxsh.RemoteError) as raised:
            self.rc[1].apply_sync(lambda: 1 / 0)
        error = raised.exception
        self.assertNotIsInstance(error, pxsh.CompositeError)
        self.assertEqual((error.ename, error.evalue, error.engine_id), ("ZeroDivisionError", "division by zero", 1))
        self.assertIn("ZeroDivisionError: division by zero", error.traceback)
        self.assertIn("<lambda>", error.traceback)
        # Only the user's frame: none of the runtime's (the checkout's own path may contain "pxsh").
        self.assertEqual(error.traceback.count('  File "'), 1, error.traceback)
        with self.assertRaises(pxsh.CompositeError) as raised:
            self.rc[:].execute("1/0", block=True)
        self.assertEqual(len(raised.exception.elist), 2)
        self.assertIn("[0:execute]: ZeroDivisionError: division by zero", str(raised.exception))
        with self.assertRaises(pxsh.RemoteError):
            raised.exception.raise_exception(1)
        failed = self.rc.load_balanced_view().apply_async(lambda: 1 / 0)
        failed.wait()
        self.assertFalse(failed.successful())


class CapturedGlobalsTests(ClusterTestCase):
    """A function sees the values its globals have where it is called, not those of an earlier call;
    a value the user set on the engines is kept."""
    name = "pytest-globals"

    def test_every_way_of_calling_sees_the_caller_s_value(self):
        lv, dv = self.rc.load_balanced_view(), self.rc[:]
        prompt = {"__name__": "__main__"}  # as at a prompt, in a notebook or a script
        exec("def times(x):\n    return x * scale\n"
             "def scaled(block):\n    return [x * scale for x in block]\n"
             "def apply_twice(f, x):\n    return f(f(x))\n", prompt)
        seen, expected = [], []
        with self.rc.executor() as executor:
            for scale in (1, 10, 100):
                prompt["scale"] = scale
                exec("f = lambda x: x * scale", prompt)
                times, f = prompt["times"], prompt["f"]
                seen.append([
                    lv.map_sync(f, range(3)),
                    lv.apply_sync(times, 2),
                    dv.apply_sync(times, 2),
                    dv.map_sync(times, range(2)),
                    dv.remote(block=True)(times)(3),
                    dv.parallel(block=True)(prompt["scaled"])(range(4)),
                    executor.submit(times, 4).result(),
                    list(executor.map(f, range(2))),
                    lv.map_sync(prompt["apply_twice"], [f, f], [1, 2]),
                ])
                s = scale
                expected.append([[0, s, 2 * s], 2 * s, [2 * s] * 2, [0, s], [3 * s] * 2, [0, s, 2 * s, 3 * s],
                                 4 * s, [0, s], [s * s, 2 * s * s]])
        self.assertEqual(seen, expected)

    def test_a_value_set_on_the_engines_is_kept_and_another_client_s_is_not_seen(self):
        dv = self.rc[:]
        prompt = {"__name__": "__main__", "k": 7}
        exec("f = lambda: k * 10 + rank", prompt)
        self.assertEqual(dv.apply_sync(prompt["f"]), [70, 71])
        dv["k"] = 100
        self.assertEqual(dv.apply_sync(prompt["f"]), [1000, 1001])
        dv.execute("del k", block=True)
        self.assertEqual(dv.apply_sync(prompt["f"]), [70, 71])
        # A later script or notebook on the same cluster, with a k of its own.
        with pxsh.Client(cluster=self.cluster) as other:
            theirs = {"__name__": "__main__", "k": 3}
            exec("f = lambda: k * 10 + rank", theirs)
            self.assertEqual(other[:].apply_sync(theirs["f"]), [30, 31])
        self.assertEqual(dv.apply_sync(prompt["f"]), [70, 71])
        self.assertEqual(dv["k"], [7, 7])


class BadInputTests(ClusterTestCase):
    name = "pytest-bad"

    def test_load_balanced_view_on_some_engines_keeps_its_tasks_there(self):
        for targets in (None, "all", [0, 1], [1, 0], slice(None)):
            self.assertEqual(self.rc.load_balanced_view(targets=targets).apply_sync(square, 3), 9)
        where = interactive("f = lambda _: rank")
        for targets, engines in (([1], {1}), (1, {1}), ([0], {0}), (slice(1, 2), {1})):
            lv = self.rc.load_balanced_view(targets=targets)
            self.assertEqual(set(lv.map_sync(where, range(8))), engines, targets)
            self.assertEqual({lv.apply_async(where, 0).get() for _ in range(4)}, engines, targets)
            self.assertEqual(set(lv.imap(where, range(6))), engines, targets)
            self.assertEqual({f.result() for f in [lv.executor.submit(where, 0) for _ in range(4)]}, engines)
        self.assertEqual(repr(self.rc.load_balanced_view(targets=[1])), "<LoadBalancedView [1]>")
        with self.assertRaisesRegex(IndexError, "No such engine: 7"):
            self.rc.load_balanced_view(targets=[0, 7])

    def test_no_such_engine(self):
        with self.assertRaisesRegex(IndexError, r"No such engine: 99 \(engines: 0, 1\)"):
            self.rc[99]
        with self.assertRaisesRegex(IndexError, r"No such engine: -3 \(engines: 0, 1\)"):
            self.rc[-3]

    def test_a_negative_id_counts_from_the_last_engine(self):
        # As ipyparallel's rc[-1] and the magics' -t -1.
        self.assertEqual(self.rc[-1].targets, 1)
        self.assertEqual(self.rc[-2].targets, 0)
        self.assertEqual(self.rc[-1].apply_sync(interactive("f = lambda: rank")), 1)

    def test_a_dict_or_a_set_is_not_scattered(self):
        # A dict would scatter its keys alone, a set in an arbitrary order.
        for value, kind in (({"a": 1, "b": 2}, "dict"), ({1, 2}, "set")):
            with self.assertRaisesRegex(TypeError, f"cannot scatter a {kind}"):
                self.rc[:].scatter("d", value)

    def test_no_such_cluster(self):
        with self.assertRaisesRegex(pxsh.ClusterError, f"no pxsh cluster named 'nope' \\(running: {self.cluster}"):
            pxsh.Client(cluster="nope")

    def test_unpicklable_argument_and_result_are_named(self):
        lv = self.rc.load_balanced_view()
        # Positions count from 0, as Python's indexes do, and say so.
        with self.assertRaisesRegex(pxsh.SerializationError,
                                    r"cannot serialize argument at index 1 of 'f'.*lock"):
            def f(a, b):
                return a
            lv.apply_async(f, 1, threading.Lock())
        for view in (lv, self.rc[:]):
            with self.subTest(view=view), self.assertRaisesRegex(
                    pxsh.SerializationError, r"^cannot serialize item at index 2 of the sequence mapped with "
                                             r"'<lambda>': TypeError: cannot pickle '_thread.lock' object$"):
                view.map_sync(lambda x: x, [1, 2, threading.Lock()])
        with self.assertRaisesRegex(pxsh.SerializationError, r"^cannot serialize part at index 1 of 'parts'"):
            self.rc[:].scatter("parts", [1, threading.Lock()])
        with self.assertRaisesRegex(pxsh.RemoteError, r"SerializationError: cannot serialize the result of '[^']*\bg'") as raised:
            def g():
                import threading
                return threading.Lock()
            lv.apply_sync(g)
        self.assertEqual(raised.exception.ename, "SerializationError")
        self.assertEqual(str(raised.exception).count("SerializationError"), 1, str(raised.exception))
        with self.assertRaisesRegex(pxsh.SerializationError, r"cannot serialize 'bad'"):
            self.rc[:].push({"bad": threading.Lock()})

    @unittest.skipIf("cloudpickle" not in sys.modules, "cloudpickle is not installed")
    def test_a_function_s_unpicklable_global_closure_variable_or_default_is_named(self):
        lock_error = "cannot be pickled: TypeError: cannot pickle '_thread.lock' object"
        lock = threading.Lock()
        uses_global = interactive("f = lambda: lk2.locked()", lk2=lock)
        uses_helper = interactive("def helper():\n    return lk2\ndef f():\n    return helper()", lk2=lock)

        def closure():
            return lambda: lock
        cases = [
            (uses_global, f"cannot serialize '<lambda>': its global 'lk2' (a _thread.lock) {lock_error}"),
            (uses_helper, f"cannot serialize 'f': its global 'helper', a function whose global 'lk2' "
                          f"(a _thread.lock) {lock_error}"),
            (closure(), f"cannot serialize '<lambda>': its closure variable 'lock' (a _thread.lock) {lock_error}"),
            (interactive("def f(x, y=lk2):\n    return y", lk2=lock),
             f"cannot serialize 'f': its default for 'y' (a _thread.lock) {lock_error}"),
        ]
        lv = self.rc.load_balanced_view()
        for func, message in cases:
            with self.subTest(message=message):
                with self.assertRaises(pxsh.SerializationError) as raised:
                    lv.apply_async(func)
                self.assertEqual(str(raised.exception), message)
        # Passed as an argument, a function is named as the argument, then what it carries.
        with self.assertRaises(pxsh.SerializationError) as raised:
            lv.apply_async(abs, uses_global)
        self.assertEqual(str(raised.exception), f"cannot serialize argument at index 0 of 'abs': its global 'lk2' "
                                                f"(a _thread.lock) {lock_error}")
        self.assertEqual(lv.apply_sync(interactive("f = lambda: k + 1", k=2)), 3)

    def test_at_the_prompt_a_function_s_unpicklable_global_is_named(self):
        # %apply, %map and %push pickle functions in the home engine, which names the global as the package does.
        lines = ["import threading; lk2 = threading.Lock(); f = lambda x: lk2.locked()", "%apply f 1",
                 "%map f [1]", "%push f"]
        session = pxsh_command("--cluster", self.cluster, *(arg for line in lines for arg in ("-c", line)))
        self.assertEqual(session.returncode, 1, session.stdout + session.stderr)
        named = "its global 'lk2' (a _thread.lock) cannot be pickled: TypeError: cannot pickle '_thread.lock' object"
        self.assertEqual(session.stdout.count(f"SerializationError: cannot serialize 'f': {named}"), 3,
                         session.stdout + session.stderr)

    def test_without_cloudpickle_a_lambda_fails_saying_what_to_install(self):
        # A plain `pip install ./python` has no dependencies: a fresh python without cloudpickle.
        script = ("import sys; sys.modules['cloudpickle'] = None\n"
                  "import pxsh\n"
                  f"rc = pxsh.Client(cluster={self.cluster!r})\n"
                  "print(rc[:].apply_sync(abs, -3))\n"
                  "try:\n"
                  "    rc[:].apply_sync(lambda: rank)\n"
                  "except pxsh.SerializationError as error:\n"
                  "    print(error)\n")
        path = os.path.join(HERE, "..")
        env = dict(os.environ, PYTHONPATH=path)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        first, second = done.stdout.splitlines()
        self.assertEqual(first, "[3, 3]")
        self.assertIn("cannot serialize '<lambda>'", second)
        self.assertIn("pip install cloudpickle", second)

    @unittest.skipIf("cloudpickle" not in sys.modules, "cloudpickle is not installed")
    def test_a_pickle_of_another_cloudpickle_version_names_both_versions_and_the_fix(self):
        # A client whose cloudpickle is newer than the engines' (pip install './python[full]' in a
        # venv): its pickles name functions the engines' cloudpickle lacks, as 3.x's
        # cloudpickle.cloudpickle._function_setstate on 2.x.
        script = ("import cloudpickle, cloudpickle.cloudpickle as inner, sys\n"
                  "import pxsh\n"
                  "cloudpickle.__version__ = '99.1'\n"
                  "def _function_setstate_v99(): pass\n"
                  "_function_setstate_v99.__module__ = 'cloudpickle.cloudpickle'\n"
                  "inner._function_setstate_v99 = _function_setstate_v99\n"
                  "class Function:\n"
                  "    def __reduce__(self): return (_function_setstate_v99, ())\n"
                  f"rc = pxsh.Client(cluster={self.cluster!r})\n"
                  "try:\n"
                  "    rc[0].apply_sync(print, Function())\n"
                  "except pxsh.RemoteError as error:\n"
                  "    print(error)\n")
        env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        engines_version = sys.modules["cloudpickle"].__version__
        self.assertIn("SerializationError: cannot load what the client pickled with cloudpickle: AttributeError: "
                      "Can't get attribute '_function_setstate_v99'", done.stdout)
        self.assertIn(f"has cloudpickle {engines_version}: the client must pickle with the same version "
                      f"(pip install 'cloudpickle=={engines_version}' where the client runs)", done.stdout)
        self.assertIn(f"(this client, {sys.executable}, has cloudpickle 99.1)", done.stdout)
        self.assertEqual(len(done.stdout.strip().splitlines()), 1, done.stdout)

    def test_timeout_leaves_the_task_running(self):
        result = self.rc.load_balanced_view().apply_async(sleep_for, 0.5)
        with self.assertRaisesRegex(pxsh.TimeoutError, "Result not ready") as raised:
            result.get(timeout=0.1)
        self.assertIsInstance(raised.exception, TimeoutError)
        self.assertIsInstance(raised.exception, concurrent.futures.TimeoutError)
        self.assertEqual(result.get(), 0.5)

    def test_a_result_can_be_fetched_twice(self):
        result = self.rc[:].apply_async(interactive("f = lambda: [rank]"))
        first = result.get()
        self.assertEqual(result.get(), first)
        self.assertEqual(result.result(), first)
        failed = self.rc[0].apply_async(lambda: 1 / 0)
        for _ in range(2):
            with self.assertRaises(pxsh.RemoteError):
                failed.get()

    def test_abort_of_queued_tasks(self):
        lv = self.rc.load_balanced_view()
        blockers = [lv.apply_async(sleep_for, 0.5) for _ in range(2)]
        queued = lv.map_async(square, range(50))
        queued.abort()
        with self.assertRaises(pxsh.RemoteError) as raised:
            queued.get()
        self.assertIn("TaskAborted", str(raised.exception))
        self.assertEqual([b.get() for b in blockers], [0.5, 0.5])

    def test_an_engine_id_must_be_an_integer(self):
        import numpy
        self.rc[[1]].execute("1", block=True)  # the last targets packed must not let 1.0 through
        with self.assertRaisesRegex(TypeError, r"engine ids are integers, not float \(1\.0\)"):
            self.rc[[1.0]].execute("1", block=True)
        self.assertEqual(self.rc[[numpy.int64(1)]].pull("rank", block=True), [1])
        lv = self.rc.load_balanced_view([1])
        self.assertEqual(lv.apply_async(abs, -1).get(timeout=30), 1)
        for choose in (lambda: self.rc.load_balanced_view([1.0]), lambda: setattr(lv, "targets", [1.0])):
            with self.assertRaisesRegex(TypeError, r"engine ids are integers, not float \(1\.0\)"):
                choose()
        lv.targets = [numpy.int64(1)]
        self.assertEqual(lv.apply_async(abs, -1).get(timeout=30), 1)
        lv.targets = 1  # an engine id, as in ipyparallel
        self.assertEqual((lv.targets, lv.apply_async(abs, -1).get(timeout=30)), ([1], 1))

    def test_closed_client(self):
        other = pxsh.Client(cluster=self.cluster)
        other.close()
        with self.assertRaisesRegex(pxsh.ClusterError, "the client was closed"):
            other[:].apply_async(square, 2)

    def test_a_value_that_cannot_be_loaded_here_raises_remote_error_and_the_next_call_goes_on(self):
        # The engine pickles it; loading it here calls int("not a number").
        f = interactive("class Unloadable:\n    def __reduce__(self):\n        return (int, ('not a number',))\n"
                        "def f():\n    return Unloadable()")
        lv = self.rc.load_balanced_view()
        for _ in range(2):
            with self.assertRaisesRegex(pxsh.RemoteError, "cannot load the result here: invalid literal"):
                lv.apply_async(f).get(timeout=30)
            self.assertEqual(lv.apply_async(square, 3).get(timeout=30), 9)

    def test_a_thread_that_begins_to_read_between_a_call_s_send_and_its_record_leaves_it_its_answer(self):
        # A call goes out before its result is made and recorded. A thread that began to read then
        # would take its answer as one for nobody, and the call would never end.
        lv = self.rc.load_balanced_view()
        submit = pxsh.Client._submit.__code__
        line = next(n for n in lines_of(submit)
                    if "result.__init__(self, *init)" in linecache.getline(submit.co_filename, n))
        slow = self.rc[0].execute("import time; time.sleep(0.3)")
        self.assertFalse(slow.done())  # a look at results: the call goes out at once, not batched with it
        reader = threading.Thread(target=slow.get, daemon=True)

        def pause(frame, event, arg):
            if event == "line" and frame.f_lineno == line and not reader.is_alive():
                reader.start()  # it waits for the slow result: it reads
                time.sleep(0.1)  # while the call's answer comes
            return pause

        sys.settrace(lambda frame, event, arg: pause if frame.f_code is submit else None)
        try:
            call = lv.apply_async(square, 7)
        finally:
            sys.settrace(None)
        self.assertTrue(reader.ident, "no pause after the send")
        self.assertEqual(call.get(timeout=5), 49)
        reader.join(10)

    def test_threads_that_call_execute_and_batch_at_once_each_get_their_own_values(self):
        # A call goes out before its result is recorded: no other thread may take its answer first.
        # Then again with the reader thread running (a done-callback starts it).
        lv, dv = self.rc.load_balanced_view(), self.rc[:]
        for with_reader in (False, True):
            if with_reader:
                lv.apply_async(square, 1).add_done_callback(lambda _: None)
            failures = []

            def calls(offset):
                for i in range(150):
                    if lv.apply_async(square, offset + i).get(timeout=30) != (offset + i) ** 2:
                        failures.append(("call", offset + i))

            def executes():
                for _ in range(150):
                    dv.execute("pass", block=True)

            def batches():
                for _ in range(15):
                    results = [lv.apply_async(square, i) for i in range(10)]
                    if [result.get(timeout=30) for result in results] != [i * i for i in range(10)]:
                        failures.append("batch")

            def run(work, *args):
                try:
                    work(*args)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

            threads = [threading.Thread(target=run, args=args, daemon=True)
                       for args in ((calls, 1000), (calls, 5000), (executes,), (batches,))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            with self.subTest(with_reader=with_reader):
                self.assertFalse([thread for thread in threads if thread.is_alive()], "a thread still waits")
                self.assertEqual(failures, [])

    def test_closing_a_client_while_threads_wait_on_it_raises_cluster_error_in_each(self):
        # A wait woken by the close could end before _close failed its result: TimeoutError "not
        # ready after None s" instead of the reason.
        for _ in range(3):
            other = pxsh.Client(cluster=self.cluster)
            failures = {}

            def loop(index, other=other, failures=failures):
                try:
                    while True:
                        other[:].execute("1", block=True)
                except Exception as exc:
                    failures[index] = f"{type(exc).__name__}: {exc}"

            threads = [threading.Thread(target=loop, args=(index,), daemon=True) for index in range(3)]
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            other.close()
            for thread in threads:
                thread.join(10)
            self.assertEqual(failures, {index: "ClusterError: the client was closed" for index in range(3)})


def lines_of(code) -> list:
    """The lines of a function's body."""
    return sorted({line for _, _, line in code.co_lines() if line and line > code.co_firstlineno})


def lines_through(function, text: str) -> list:
    """The lines of a function's body up to the first one that holds `text`."""
    source, first = inspect.getsourcelines(function)
    last = first + next(index for index, line in enumerate(source) if text in line)
    return [line for line in lines_of(function.__code__) if line <= last]


def sigint_blocked() -> bool:
    """Whether this thread holds SIGINT back."""
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, ())


def interrupted_at(code, line, call) -> bool:
    """Run call() with KeyboardInterrupt raised (by a trace function) at `line` of `code`, once, as a
    Ctrl-C that came there would be; whether it was."""
    fired = []

    def interrupt_at(frame, event, arg):
        if event == "line" and frame.f_lineno == line and not fired:
            fired.append(line)
            raise KeyboardInterrupt
        return interrupt_at

    sys.settrace(lambda frame, event, arg: interrupt_at if frame.f_code is code else None)
    try:
        call()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)
    return bool(fired)


def wait_for_release(started, release):
    import os
    import time
    open(started, "w").close()
    while not os.path.exists(release):
        time.sleep(0.01)
    return "finished normally"


def mark_and_sleep(started, seconds):
    import time
    open(started, "w").close()
    time.sleep(seconds)
    return seconds


def press_ctrl_c_once(ready, waiting_in="_wait_for"):
    """Once ready() holds and the main thread waits on a result (in `waiting_in`), SIGINT it, as a
    user's Ctrl-C would."""
    main = threading.main_thread()

    def press():
        while not ready():
            time.sleep(0.01)
        while True:
            frame = sys._current_frames().get(main.ident)
            names = set()
            while frame is not None:
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            if waiting_in in names:
                break
            time.sleep(0.01)
        signal.pthread_kill(main.ident, signal.SIGINT)  # a real signal: it wakes a blocked wait
    threading.Thread(target=press, daemon=True).start()


class InterruptTests(ClusterTestCase):
    name = "pytest-interrupt"

    def test_ctrl_c_of_a_result_leaves_another_clients_task_alone(self):
        scratch = tempfile.mkdtemp(prefix="pxsh-pyint-")
        self.addCleanup(shutil.rmtree, scratch, ignore_errors=True)
        a_started, b_started, release = (os.path.join(scratch, n) for n in ("a", "b", "release"))
        self.addCleanup(lambda: open(release, "w").close())
        a = self.rc[0].apply_async(wait_for_release, a_started, release)
        other = pxsh.Client(cluster=self.cluster)
        self.addCleanup(other.close)
        b = other.load_balanced_view().apply_async(mark_and_sleep, b_started, 60)
        # Once both tasks run and the main thread waits on B's result, as a user's Ctrl-C would come.
        press_ctrl_c_once(lambda: os.path.exists(a_started) and os.path.exists(b_started))
        with self.assertRaises(KeyboardInterrupt):
            b.get()
        with self.assertRaises(pxsh.RemoteError) as raised:
            b.get()
        self.assertEqual(raised.exception.ename, "KeyboardInterrupt")
        open(release, "w").close()
        self.assertEqual(a.get(), "finished normally")

    def test_a_signal_handler_that_uses_the_client_during_a_wait_leaves_ctrl_c_working(self):
        # A handler runs as the wait it woke returns, inside the read: when it reads in turn, the first
        # read must see its result ended when the handler's read took its answer in (here the handler
        # waits on engine 1 for longer than the first read's task on engine 0 runs), and Ctrl-C must
        # still reach that handler (a read leaves it in place), and then the default one again.
        client = self.own_client()
        client[:].execute("import time", block=True)
        handled, stuck = [], threading.Event()

        def handler(*_):
            if stuck.is_set():
                raise AssertionError("a read still waited for an answer the handler's read took in")
            handled.append(client[1].apply_sync(time.sleep, 1.5))

        previous = signal.signal(signal.SIGINT, handler)
        self.addCleanup(signal.signal, signal.SIGINT, previous)
        main = threading.get_ident()

        def unless_done_in_10_s(done):
            if not done.wait(10):
                stuck.set()
                signal.pthread_kill(main, signal.SIGINT)

        for wait in (lambda: client[0].execute("time.sleep(1)", block=True),  # read in _submit
                     lambda: client[0].apply_async(time.sleep, 1).get(timeout=60)):  # a timed wait
            done = threading.Event()
            threading.Thread(target=unless_done_in_10_s, args=(done,), daemon=True).start()
            press_ctrl_c_once(lambda: True, "_read_some")
            wait()
            done.set()
        self.assertEqual(handled, [None, None])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        press_ctrl_c_once(lambda: True, "_read_some")
        began = time.monotonic()
        with self.assertRaises(KeyboardInterrupt):
            client[0].execute("time.sleep(20)", block=True)
        self.assertLess(time.monotonic() - began, 10)

    def test_an_exception_a_signal_handler_raises_in_a_wait_comes_out_and_leaves_the_client_usable(self):
        # A SIGALRM timeout, as scripts and pytest-timeout make one: its handler raises while a read
        # waits, before anything was read. The exception comes out of the wait, the client stays usable
        # and the request so cut short still ends (the client was closed: "the client's reader failed").
        client = self.own_client()
        client[:].execute("import time", block=True)

        class Late(Exception):
            pass

        previous = signal.getsignal(signal.SIGALRM)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        # TimeoutError is an OSError, as a connection's failures are; RuntimeError is what a poll object
        # raises for a nested poll(), which a read must not take for one.
        for late in (Late, TimeoutError, RuntimeError):
            def alarm(*_, late=late):
                raise late("too late")

            signal.signal(signal.SIGALRM, alarm)
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with self.assertRaises(late):
                client[0].execute("time.sleep(1)", block=True)
            self.assertEqual(client[:].apply_sync(abs, -1), [1, 1])
        self.assertTrue(client.wait(timeout=10), client.outstanding)

    def test_a_signal_handler_that_looks_at_a_result_during_a_wait_leaves_the_wait_its_answer(self):
        # done() takes in what has arrived: in a handler that runs inside a read's wait, that is a nested
        # read, which the connection's poll object refuses (RuntimeError: concurrent poll() invocation).
        # It must take in with a poll object of its own, and wake the wait it ran in: here the handler's
        # done() takes in the answer that the wait is for (the handler waits longer than its task runs).
        client = self.own_client()
        client[:].execute("import time", block=True)
        other = client[1].apply_async(time.sleep, 3)  # still running when the handler looks at it
        looked = []

        def alarm(*_):
            time.sleep(0.6)  # the execute's answer arrives meanwhile
            looked.append(other.done())

        previous = signal.signal(signal.SIGALRM, alarm)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        done = threading.Event()
        main = threading.get_ident()

        def unless_done_in_10_s():  # a wait left asleep: a Ctrl-C fails the test instead of hanging it
            if not done.wait(10):
                signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=unless_done_in_10_s, daemon=True).start()
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        began = time.monotonic()
        try:
            reply = client[0].execute("time.sleep(0.4)", block=True).get(timeout=5)
        finally:
            done.set()
        self.assertLess(time.monotonic() - began, 2, "the wait slept on until the other task's answer woke it")
        self.assertEqual(looked, [False])
        self.assertIsInstance(reply, pxsh.ExecuteReply)
        self.assertIsNone(other.get(timeout=10))

    def test_a_handler_that_reads_at_any_line_of_a_read_up_to_its_recv_leaves_the_wait_its_answer(self):
        # Python runs a signal's handler at any bytecode boundary, not only inside poll(): here a real
        # SIGALRM comes at each line of the read up to its recv_into in turn, and its handler looks at
        # another result (done(), a read nested in this one) after the execute's answer has arrived, so
        # that it takes that answer in. The wait must still end (a recv_into that blocked, or a poll()
        # nobody woke, waited for good), and the nested read must leave the outer one its claim.
        client = self.own_client()
        client[:].execute("import time", block=True)
        read = type(client)._read_some
        main = threading.get_ident()
        outcomes = []
        for line in lines_through(read, "sock.recv_into("):
            other = client[1].apply_async(time.sleep, 5)
            claims = []

            def alarm(*_, other=other, claims=claims):
                time.sleep(0.4)  # the execute's answer arrives meanwhile
                other.done()
                claims.append(client._reading == main)

            previous = signal.signal(signal.SIGALRM, alarm)
            done = threading.Event()

            def unless_done_in_10_s(done=done):  # a wait left asleep: a Ctrl-C fails the test instead
                if not done.wait(10):
                    signal.pthread_kill(main, signal.SIGINT)

            threading.Thread(target=unless_done_in_10_s, daemon=True).start()
            fired = []

            def alarm_at_line(frame, event, arg, fired=fired, line=line):
                if event == "line" and frame.f_lineno == line and not fired:
                    fired.append(line)
                    signal.pthread_kill(main, signal.SIGALRM)
                return alarm_at_line

            began = time.monotonic()
            sys.settrace(lambda frame, event, arg: alarm_at_line if frame.f_code is read.__code__ else None)
            try:
                client[0].execute("1", block=True)
                took = time.monotonic() - began
            except KeyboardInterrupt:
                took = None
            finally:
                sys.settrace(None)
                done.set()
                signal.signal(signal.SIGALRM, previous)
            client.abort(other)
            outcomes.append((line, bool(fired), claims, took is not None and took < 3))
        self.assertEqual([outcome for outcome in outcomes if outcome[1] and outcome[2:] != ([True], True)], [])
        self.assertGreater(sum(fired for _, fired, *_ in outcomes), len(outcomes) // 2)
        self.assertEqual(client[:].apply_sync(abs, -1), [1, 1])

    def test_a_ctrl_c_another_thread_takes_while_a_read_takes_in_is_put_off_and_loses_nothing(self):
        # The kernel gives SIGINT to any thread that lets it through (Jupyter's threads do), and Python
        # raises it in the main thread at its next check: once that came right after the recv_into of a
        # blocking call's answer, the answer was dropped and the result never ended. Now the Ctrl-C
        # waits for the answer's record and comes out of the call then, the result done.
        client = self.own_client()
        client[:].execute("x = 5", block=True)
        other_ready, other_done = threading.Event(), threading.Event()
        other = threading.Thread(target=lambda: other_ready.set() or other_done.wait(30), daemon=True)
        other.start()  # started by this thread: SIGINT let through
        other_ready.wait(10)
        took_whole_answer = client._took_whole_answer

        def ctrl_c_to_the_other_thread_first(received, answer):
            signal.pthread_kill(other.ident, signal.SIGINT)
            time.sleep(0.5)  # the other thread runs the C handler; this one's check comes meanwhile
            return took_whole_answer(received, answer)

        client._took_whole_answer = ctrl_c_to_the_other_thread_first
        try:
            with self.assertRaises(KeyboardInterrupt):
                client[0].execute("y = x + 1", block=True)
        finally:
            del client._took_whole_answer
            other_done.set()
        result = client.history[-1]
        result.get(timeout=5)  # TimeoutError if its answer was dropped
        self.assertTrue(result.successful())
        self.assertEqual(client[0].pull("y", block=True), 6)

    def test_a_ctrl_c_that_cuts_a_results_settling_short_leaves_the_next_get_its_value(self):
        # _finish marks a result as being settled by this thread, then combines its values: a Ctrl-C
        # in between left the mark, and every later get() waited for good for a value never set.
        client = self.own_client()
        outcomes = []

        finish, give_value = asyncresult.AsyncResult._finish, asyncresult.AsyncResult._give_value
        places = [(give_value.__code__, give_value.__code__.co_firstlineno + 2),  # its first line
                  (finish.__code__, lines_through(finish, "if claimed:")[-1])]  # as the marking lock is let go

        def ctrl_c_while_settling_then_get():
            for code, line in places:
                result = client[:].apply_async(abs, -4)
                fired = interrupted_at(code, line, result.get)
                outcomes.append((fired, result.get(timeout=5)))

        thread = threading.Thread(target=ctrl_c_while_settling_then_get, daemon=True)
        thread.start()
        thread.join(20)
        self.assertEqual(outcomes, [(True, [4, 4])] * 2)

    def test_a_thread_waiting_for_anothers_settling_is_woken_when_a_ctrl_c_cuts_it_short(self):
        # A Ctrl-C that came as the settling thread told the result's waiters, its value already set,
        # left a thread that waited for that settling (in _finish) asleep until other traffic came.
        client = self.own_client()
        result = client[:].apply_async(abs, -4)
        result._waiter_list = []  # as if a waiter was there once: settled by _finish, not untold
        give_value, notify = asyncresult.AsyncResult._give_value.__code__, asyncresult._notify_waiters.__code__
        other_done, steps = [], []

        def other_thread():
            result._finish()
            other_done.append(result.done())

        def ctrl_c_as_the_settling_tells(frame, event, arg):
            if event == "call" and frame.f_code is give_value and not steps:
                steps.append("settling")
                threading.Thread(target=other_thread, daemon=True).start()
                time.sleep(0.3)  # the other thread now waits for this settling
            elif event == "call" and frame.f_code is notify and steps == ["settling"]:
                steps.append("telling")
                os.kill(os.getpid(), signal.SIGINT)  # raised as the notify's call returns
            return None

        sys.settrace(ctrl_c_as_the_settling_tells)
        try:
            with self.assertRaises(KeyboardInterrupt):
                result.get(timeout=10)
        finally:
            sys.settrace(None)
        self.assertEqual(steps, ["settling", "telling"])
        deadline = time.monotonic() + 3
        while not other_done and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(other_done, [True])

    def test_a_wait_without_end_works_while_another_thread_reads(self):
        # get(timeout=math.inf) waits on the client's condition while the reader thread (started by a
        # done-callback) reads: Condition.wait(math.inf) raised OverflowError.
        client = self.own_client()
        client[0].apply_async(abs, -1).add_done_callback(lambda _: None)
        self.assertIsNotNone(client._reader)
        self.assertEqual(client[1].apply_async(time.sleep, 0.2).get(timeout=math.inf), None)

    def test_in_a_child_forked_by_another_thread_a_read_replaces_the_default_handler_in_its_main_thread(self):
        # After a fork the thread that forked is the child's main thread, where Python runs handlers:
        # the read there must take it for the main thread (it kept the parent's, and replaced nothing).
        outcome = []

        def fork_and_read():
            pid = os.fork()
            if pid == 0:
                code = 2
                try:
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    client = pxsh.Client(cluster=self.cluster)
                    code = 0 if (client[:].apply_sync(abs, -1) == [1, 1]
                                 and signal.getsignal(signal.SIGINT) is pxsh.client._put_off_while_a_read_takes_in) else 1
                finally:
                    os._exit(code)
            outcome.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))

        thread = threading.Thread(target=fork_and_read)
        thread.start()
        thread.join(60)
        self.assertEqual(outcome, [0])

    def test_a_read_puts_its_handler_in_place_of_the_default_one_only(self):
        # A handler of someone's own stays in place (code that checks it is still the one installed,
        # as `python -m unittest -c` does, keeps working) and gets the Ctrl-C; an ignored SIGINT stays
        # ignored; the default handler is replaced by one that raises KeyboardInterrupt just the same.
        client = self.own_client()
        counted = []

        def counting(number, frame):
            counted.append(signal.getsignal(signal.SIGINT) is counting)

        previous = signal.signal(signal.SIGINT, counting)
        self.addCleanup(signal.signal, signal.SIGINT, previous)
        self.assertEqual(client[:].apply_sync(abs, -1), [1, 1])
        signal.raise_signal(signal.SIGINT)
        self.assertEqual(counted, [True])
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.assertEqual(client[:].apply_sync(abs, -2), [2, 2])
        self.assertEqual(signal.getsignal(signal.SIGINT), signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.assertEqual(client[:].apply_sync(abs, -3), [3, 3])
        self.assertIs(signal.getsignal(signal.SIGINT), pxsh.client._put_off_while_a_read_takes_in)
        with self.assertRaises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)

    def test_a_sigint_handler_saved_and_put_back_around_a_read_is_the_one_that_runs(self):
        # Code that puts a handler in place for a while and then back (what it saved: a front, after an
        # earlier read) must get its own handler back, and one that calls the handler it replaced must
        # reach it once: with one front for the process, the first went on calling the temporary
        # handler, and the second called itself until RecursionError.
        client = self.own_client()
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.assertEqual(client[:].apply_sync(abs, -1), [1, 1])
        saved, temporary = signal.getsignal(signal.SIGINT), []
        signal.signal(signal.SIGINT, lambda *_: temporary.append(1))
        self.assertEqual(client[:].apply_sync(abs, -2), [2, 2])
        signal.signal(signal.SIGINT, saved)
        with self.assertRaises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        self.assertEqual(temporary, [])

        replaced, chained = signal.getsignal(signal.SIGINT), []

        def chaining(number, frame):
            chained.append(1)
            replaced(number, frame)

        signal.signal(signal.SIGINT, chaining)
        self.assertEqual(client[:].apply_sync(abs, -3), [3, 3])
        with self.assertRaises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        self.assertEqual(chained, [1])

    def test_an_engine_still_drops_an_interrupt_for_an_ended_task_once_a_client_replaced_the_handler(self):
        # signal.signal, which a read calls to replace SIGINT's default handler, also replaces the C
        # handler a pxsh engine has in front of Python's, which drops a SIGINT queued for a task that
        # ended (so it never hits the next one): the read puts it back. Code on an engine that uses a
        # client (and the home engine's px) must keep it.
        def replace_the_handler_then_interrupt_an_ended_task(package):
            import ctypes
            import os
            import signal
            import sys
            import time
            sys.path.insert(0, package)
            import pxsh.client
            pxsh.client._PutOff.replace_default_handler()
            assert signal.getsignal(signal.SIGINT) is pxsh.client._put_off_while_a_read_takes_in
            ctypes.CDLL(None).sigqueue(os.getpid(), signal.SIGINT, ctypes.c_void_p(987654321))
            time.sleep(0.2)
            return "not interrupted"

        package = os.path.dirname(os.path.dirname(pxsh.__file__))
        self.assertEqual(self.rc[0].apply_sync(replace_the_handler_then_interrupt_an_ended_task, package),
                         "not interrupted")

    def test_results_a_read_completed_are_finished_when_a_ctrl_c_comes_as_it_takes_in(self):
        # A Ctrl-C that comes while a read records what it read is put off until the record is made,
        # once the read completed another result: that result must still be finished (its waiters and
        # callbacks told), not left complete but pending until something looks at it.
        client = self.own_client()
        client[:].execute("import time", block=True)
        other = client[0].apply_async(time.sleep, 0.3)
        main = threading.get_ident()
        dispatch = client._dispatch

        def dispatch_then_ctrl_c(frames, finished):
            dispatch(frames, finished)
            if other in finished and threading.get_ident() == main:
                signal.pthread_kill(main, signal.SIGINT)  # put off: raised as the take-in ends

        client._dispatch = dispatch_then_ctrl_c
        with self.assertRaises(KeyboardInterrupt):
            client[1].apply_async(time.sleep, 3).get(timeout=10)
        self.assertEqual(concurrent.futures.wait([other], timeout=0).done, {other})
        self.assertIsNone(other.result(timeout=0))

    def test_results_a_read_completed_are_finished_when_a_ctrl_c_comes_as_the_read_returns(self):
        # A Ctrl-C that comes as a read returns (not put off: its take-in has ended) must not take the
        # results it completed with it: they go into the caller's list while the read takes in, not
        # into a list it returns (which the KeyboardInterrupt dropped, the results complete but never
        # finished: concurrent.futures.wait and callbacks never told).
        client = self.own_client()
        client[:].execute("import time", block=True)
        other = client[0].apply_async(time.sleep, 0.3)
        read = type(client)._read_some.__code__
        fired = []

        def ctrl_c_as_the_read_that_completes_other_returns(frame, event, arg):
            if event == "return" and not fired and other._complete():
                fired.append(True)
                raise KeyboardInterrupt

        sys.settrace(lambda frame, event, arg:
                     ctrl_c_as_the_read_that_completes_other_returns if frame.f_code is read else None)
        try:
            with self.assertRaises(KeyboardInterrupt):
                client[1].apply_async(time.sleep, 3).get(timeout=10)
        finally:
            sys.settrace(None)
        self.assertEqual(fired, [True])
        self.assertEqual(concurrent.futures.wait([other], timeout=0).done, {other})

    def test_results_a_read_completed_are_finished_when_a_ctrl_c_comes_as_the_read_side_is_given_back(self):
        # The wait gives the read side back, then finishes what its read completed: a Ctrl-C in the
        # first skipped the second (complete but pending, futures.wait never told).
        client = self.own_client()
        view = client[:]
        view.execute("import time", block=True)
        result = view.execute("time.sleep(0.3)", block=False)
        client._took_whole_answer = lambda *_: False  # the answer read the general way, into `finished`
        release = client._release_reading

        def ctrl_c_then_release():
            del client._release_reading
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100):  # the Ctrl-C comes out here, before the release
                pass
            release()

        client._release_reading = ctrl_c_then_release
        try:
            with self.assertRaises(KeyboardInterrupt):
                result.wait()
        finally:
            client.__dict__.pop("_release_reading", None)
            del client._took_whole_answer
        self.assertEqual(concurrent.futures.wait([result], timeout=2).done, {result})

    def test_a_ctrl_c_while_one_result_is_finished_leaves_the_others_a_read_completed_finished(self):
        # A read completed two results; a Ctrl-C while the first was finished skipped the second.
        client = self.own_client()
        client[:].execute("import time", block=True)
        # The second replies later (in the order read, which is the order finished) and is the one left.
        first, second = client[0].apply_async(time.sleep, 0.2), client[1].apply_async(time.sleep, 0.5)
        time.sleep(1.2)  # both replies wait in the socket: one read takes them in
        give_value = asyncresult.AsyncResult._give_value.__code__
        fired = interrupted_at(give_value, give_value.co_firstlineno + 2, first.done)  # _poll reads both
        self.assertTrue(fired)
        self.assertTrue(first._complete() and second._complete())
        self.assertEqual(concurrent.futures.wait([second], timeout=2).done, {second})

    def test_a_second_ctrl_c_as_the_first_is_raised_leaves_none_for_a_later_read(self):
        # A Ctrl-C put off while a read took in, and a second one as the read was about to raise the
        # first: one KeyboardInterrupt, and none left over to come out of a later, quiet read.
        client = self.own_client()
        client[:].execute("import time", block=True)
        main, sent = threading.get_ident(), []
        dispatch = client._dispatch

        def dispatch_then_ctrl_c(frames, finished):
            dispatch(frames, finished)
            if not sent and finished:
                sent.append(1)
                signal.pthread_kill(main, signal.SIGINT)  # put off: the read takes in

        deliver = pxsh.client._PutOff.deliver

        def second_ctrl_c_as_it_is_raised(frame, event, arg):
            if event == "call" and frame.f_code is deliver.__code__ and sent == [1]:
                sent.append(2)
                signal.raise_signal(signal.SIGINT)  # comes out as deliver's first line starts
            return None

        client._dispatch = dispatch_then_ctrl_c
        sys.settrace(second_ctrl_c_as_it_is_raised)
        try:
            with self.assertRaises(KeyboardInterrupt):
                client[0].execute("time.sleep(0.2)", block=True)
        finally:
            sys.settrace(None)
            del client._dispatch
        self.assertEqual(sent, [1, 2])
        try:
            for value in range(3):
                self.assertEqual(client[:].apply_sync(abs, -value), [value, value])
        except KeyboardInterrupt:
            self.fail("a later read raised the KeyboardInterrupt left over from the first Ctrl-C")

    def test_a_ctrl_c_that_comes_as_a_read_returns_loses_nothing_it_read(self):
        # Python raises KeyboardInterrupt when the call that was running returns: a Ctrl-C during
        # recv_into came out after the read, and what it read was dropped (results that never ended,
        # rc.wait() hung). Here the SIGINT comes to this thread right after each of the first reads.
        self.rc[:].execute("import time", block=True)
        other = self.rc[1].apply_async(lambda: time.sleep(0.3) or "other")
        rc = self.rc

        class CtrlCAsReadsReturn:
            def __init__(self, real):
                self.real, self.reads = real, 3

            def __getattr__(self, name):
                return getattr(self.real, name)

            def recv_into(self, *args):
                received = self.real.recv_into(*args)
                if self.reads:
                    self.reads -= 1
                    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
                return received

        real = rc._sock
        rc._sock = CtrlCAsReadsReturn(real)
        try:
            for _ in range(3):
                try:
                    rc[0].execute("time.sleep(0.2)", block=True)
                except KeyboardInterrupt:
                    pass
        finally:
            rc._sock = real
        self.assertTrue(rc.wait(timeout=10), [r for r in rc.outstanding])
        self.assertEqual(other.get(timeout=10), "other")
        self.assertEqual(rc[:].apply_sync(lambda: 5), [5, 5])


def started_files(scratch):
    return [name for name in os.listdir(scratch) if name.startswith("started-")]


def mark_and_wait(scratch, item):
    import os
    import time
    open(os.path.join(scratch, f"started-{item}"), "w").close()
    # Until released, or the test's scratch directory is gone (a failed test does not block the engines).
    while os.path.isdir(scratch) and not os.path.exists(os.path.join(scratch, "release")):
        time.sleep(0.01)
    return item


def occupy_both_engines(lv, scratch):
    """Two tasks that run until `scratch` has a file named release, once both have started."""
    blockers = [lv.apply_async(mark_and_wait, scratch, i) for i in range(2)]
    deadline = time.monotonic() + 120
    while len(started_files(scratch)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return blockers


def quick_or_wait(scratch, item):
    return item if item == 0 else mark_and_wait(scratch, item)


class CancelTests(ClusterTestCase):
    """concurrent.futures semantics: a queued task can be cancelled, a running one cannot."""

    name = "pytest-cancel"

    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="pxsh-pycancel-")
        self.addCleanup(shutil.rmtree, self.scratch, ignore_errors=True)

    def test_cancel_of_a_queued_task_and_not_of_a_running_one(self):
        lv = self.rc.load_balanced_view()
        blockers = occupy_both_engines(lv, self.scratch)
        queued = lv.apply_async(square, 3)
        queued_map = lv.map_async(square, range(4))
        self.assertTrue(queued.cancel())
        self.assertTrue(queued_map.cancel())
        for result in (queued, queued_map):
            self.assertTrue(result.cancelled() and result.done())
            with self.assertRaises(concurrent.futures.CancelledError):
                result.result()
            with self.assertRaises(concurrent.futures.CancelledError):
                result.get()
        self.assertEqual(list(concurrent.futures.as_completed([queued, queued_map], timeout=60)) and "notified",
                         "notified")
        self.assertFalse(blockers[0].cancel())
        self.assertFalse(blockers[0].cancelled())
        open(os.path.join(self.scratch, "release"), "w").close()
        self.assertEqual([b.result() for b in blockers], [0, 1])
        self.assertFalse(blockers[1].cancel())  # done

    def test_shutdown_with_cancel_futures_cancels_what_has_not_started(self):
        executor = self.rc.executor()
        running = [executor.submit(mark_and_wait, self.scratch, i) for i in range(2)]
        deadline = time.monotonic() + 120
        while len(started_files(self.scratch)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        queued = [executor.submit(square, i) for i in range(3)]
        executor.shutdown(wait=False, cancel_futures=True)
        self.assertEqual([f.cancelled() for f in queued], [True] * 3)
        self.assertEqual([f.cancelled() for f in running], [False] * 2)
        open(os.path.join(self.scratch, "release"), "w").close()
        self.assertEqual([f.result() for f in running], [0, 1])

    def test_an_aborted_task_raises_task_aborted_which_is_a_cancelled_error(self):
        lv = self.rc.load_balanced_view()
        blockers = occupy_both_engines(lv, self.scratch)
        queued = lv.apply_async(square, 3)
        queued.abort()
        with self.assertRaises(pxsh.TaskAborted) as raised:
            queued.get()
        self.assertIsInstance(raised.exception, concurrent.futures.CancelledError)
        self.assertIsInstance(raised.exception, pxsh.RemoteError)
        self.assertFalse(queued.cancelled())
        open(os.path.join(self.scratch, "release"), "w").close()
        self.assertEqual([b.result() for b in blockers], [0, 1])

    def test_leaving_an_imap_early_cancels_its_tasks_that_have_not_started(self):
        lv = self.rc.load_balanced_view()
        before = len(self.rc.history)
        for value in lv.imap(quick_or_wait, [self.scratch] * 9, range(9), max_outstanding=8):
            self.assertEqual(value, 0)
            break
        submitted = self.rc.history[before + 1:]
        self.assertEqual(len(submitted), 8)
        cancelled = [r for r in submitted if r.cancelled()]
        open(os.path.join(self.scratch, "release"), "w").close()
        ran = [r for r in submitted if not r.cancelled()]
        self.assertTrue(all(r.result(timeout=60) for r in ran))
        self.assertGreater(len(cancelled), 0)
        self.assertEqual(len(cancelled) + len(ran), 8)


class MapInterruptTests(ClusterTestCase):
    """Ctrl-C while code iterates over a map stops all of the map's tasks, as for %map."""

    name = "pytest-mapint"

    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="pxsh-pymapint-")
        self.addCleanup(shutil.rmtree, self.scratch, ignore_errors=True)

    def ctrl_c_once_both_engines_run_and_the_main_thread_waits(self):
        press_ctrl_c_once(lambda: len(started_files(self.scratch)) >= 2)

    def expect_stopped(self, results):
        # Nothing of it runs on: every task ended (interrupted, or aborted before it started).
        self.assertTrue(self.rc.wait(results, timeout=60), [r for r in results if not r.done()])
        for result in results:
            with self.assertRaises((pxsh.RemoteError, concurrent.futures.CancelledError)):
                result.result()
        self.assertEqual(self.rc.load_balanced_view().apply_sync(square, 3), 9)

    def expect_none_started_after_ctrl_c(self):
        # Ctrl-C came once items 0 and 1 ran: it aborted the queued ones before an engine came free.
        self.assertEqual(sorted(started_files(self.scratch)), ["started-0", "started-1"])

    def test_ctrl_c_while_iterating_an_imap_stops_its_tasks_and_starts_no_more(self):
        lv = self.rc.load_balanced_view()
        before = len(self.rc.history)
        self.ctrl_c_once_both_engines_run_and_the_main_thread_waits()
        with self.assertRaises(KeyboardInterrupt):
            for _ in lv.imap(mark_and_wait, [self.scratch] * 8, range(8), max_outstanding=8):
                pass
        submitted = self.rc.history[before:]
        self.assertEqual(len(submitted), 8)
        self.expect_stopped(submitted)
        self.expect_none_started_after_ctrl_c()

    def test_ctrl_c_while_iterating_a_map_result_stops_its_tasks_and_starts_no_more(self):
        lv = self.rc.load_balanced_view()
        mapped = lv.map_async(mark_and_wait, [self.scratch] * 8, range(8))
        self.ctrl_c_once_both_engines_run_and_the_main_thread_waits()
        with self.assertRaises(KeyboardInterrupt):
            for _ in mapped:
                pass
        self.expect_stopped([mapped])
        self.expect_none_started_after_ctrl_c()


# A script that waits on a task, as a user's would; argv: the package's directory, the cluster, and
# the file the task makes once it runs. It prints what get() raised, then how the task ended.
WAITING_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import pxsh

def nap(started):
    import time
    open(started, "w").close()
    time.sleep(600)

rc = pxsh.Client(cluster=sys.argv[2])
napping = rc.load_balanced_view().apply_async(nap, sys.argv[3])
try:
    napping.get()
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
print(napping.exception(timeout=60).ename if napping.wait(60) else "still running", flush=True)
"""


def unread_bytes_from(pid, socket_path):
    """Bytes that process `pid` sent on its connections to the listening socket `socket_path` and
    that the other end has not read yet (`ss`'s Recv-Q at that end)."""
    sockets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            sockets.add(target[len("socket:["):-1])
    listed = subprocess.run(["ss", "-xHn"], capture_output=True, text=True, check=True).stdout
    # u_str ESTAB RECV-Q SEND-Q LOCAL-PATH INODE * PEER-INODE
    rows = [line.split() for line in listed.splitlines()]
    return sum(int(row[2]) for row in rows if len(row) >= 8 and row[4] == socket_path and row[7] in sockets)


class DoubleInterruptTests(ClusterTestCase):
    """Two SIGINTs close together, as GNU timeout sends them (to the child, then to its group)."""

    engines = 1
    name = "pytest-double-int"

    def test_a_second_ctrl_c_while_the_first_is_being_sent_still_stops_the_task(self):
        scratch = tempfile.mkdtemp(prefix="pxsh-pydouble-")
        self.addCleanup(shutil.rmtree, scratch, ignore_errors=True)
        started = os.path.join(scratch, "started")
        script = subprocess.Popen([sys.executable, "-c", WAITING_SCRIPT, os.path.join(HERE, ".."), self.cluster,
                                   started], stdout=subprocess.PIPE, text=True)
        self.addCleanup(script.wait)
        self.addCleanup(script.kill)
        deadline = time.monotonic() + 120
        while not os.path.exists(started) and time.monotonic() < deadline:
            time.sleep(0.01)
        # The controller stopped holds the first interrupt's requests unread: the second SIGINT comes
        # once the client has sent the first of them, and before the controller could answer it.
        controller = pxsh.client._controller_pid(os.path.dirname(self.rc._socket_path))
        os.kill(controller, signal.SIGSTOP)
        self.addCleanup(os.kill, controller, signal.SIGCONT)
        os.kill(script.pid, signal.SIGINT)
        while unread_bytes_from(script.pid, self.rc._socket_path) == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(script.pid, signal.SIGINT)
        os.kill(controller, signal.SIGCONT)
        printed, _ = script.communicate(timeout=120)
        self.assertEqual(printed.splitlines(), ["KeyboardInterrupt", "KeyboardInterrupt"])


class OutputTests(ClusterTestCase):
    name = "pytest-output"

    def test_what_tasks_print_is_kept_for_apply_and_map(self):
        lv = self.rc.load_balanced_view()
        printer = interactive("def f(x):\n    import sys\n    print('out', x)\n    print('err', x, file=sys.stderr)\n"
                              "    print('no newline', end='')\n    return x")
        applied = lv.apply_async(printer, 7)
        self.assertEqual(applied.get(), 7)
        self.assertEqual((applied.stdout, applied.stderr), ("out 7\nno newline", "err 7\n"))
        mapped = lv.map_async(printer, range(4), chunksize=2)
        self.assertEqual(mapped.get(), [0, 1, 2, 3])
        self.assertEqual(mapped.stdout, ["out 0\nno newlineout 1\nno newline", "out 2\nno newlineout 3\nno newline"])
        direct = self.rc[:].map_async(printer, range(2))
        direct.get()
        self.assertEqual(direct.stdout, ["out 0\nno newline", "out 1\nno newline"])
        shown = subprocess.run([sys.executable, "-c", (
            "import sys; sys.path.insert(0, sys.argv[1]); import pxsh\n"
            "rc = pxsh.Client(cluster=sys.argv[2]); ar = rc[:].execute('print(rank)'); ar.wait()\n"
            "ar.display_outputs()"), os.path.join(HERE, ".."), self.cluster], capture_output=True, text=True,
            timeout=120)
        self.assertEqual(shown.stdout, "[stdout:0] 0\n[stdout:1] 1\n", shown.stderr)


class SubsetViewTests(ClusterTestCase):
    name = "pytest-subset"

    def test_tasks_kept_for_engines_that_are_gone_fail_instead_of_waiting(self):
        scratch = tempfile.mkdtemp(prefix="pxsh-pysubset-")
        self.addCleanup(shutil.rmtree, scratch, ignore_errors=True)
        lv = self.rc.load_balanced_view(targets=[1])
        lv.apply_async(mark_and_wait, scratch, 0)
        deadline = time.monotonic() + 120
        while not started_files(scratch) and time.monotonic() < deadline:
            time.sleep(0.01)
        queued = lv.apply_async(square, 2)
        self.rc._control(pxsh.protocol.CTL_REMOVE, engines=[1])
        with self.assertRaisesRegex(pxsh.EngineError, "none of engines 1 is there to run it"):
            queued.get(timeout=60)
        with self.assertRaisesRegex(pxsh.EngineError, "none of engines 1 is there to run it"):
            lv.apply_sync(square, 2)
        self.assertEqual(self.rc.load_balanced_view().apply_sync(square, 3), 9)


class EngineChangesTests(ClusterTestCase):
    engines = 3
    name = "pytest-changes"

    def test_ids_follow_engines_another_client_removes_and_adds(self):
        self.assertEqual(self.rc.ids, [0, 1, 2])
        removed = pxsh_command("--cluster", self.cluster, "-c", "%remove 0")
        self.assertEqual(removed.returncode, 0, removed.stdout + removed.stderr)
        self.assertEqual(self.rc.ids, [1, 2])
        self.assertEqual(sorted(self.rc[:].apply_sync(lambda: 1)), [1, 1])
        added = pxsh_command("--cluster", self.cluster, "-c", "%add 1")
        self.assertEqual(added.returncode, 0, added.stdout + added.stderr)
        self.assertEqual(self.rc.ids, [1, 2, 3])


class StoppedClusterTests(ClusterTestCase):
    name = "pytest-stop"

    def test_stopped_cluster_fails_waiting_results_and_new_requests(self):
        lv = self.rc.load_balanced_view()
        running = lv.apply_async(sleep_for, 30)
        stopped = pxsh_command("cluster", "stop", "--name", self.cluster)
        self.assertEqual(stopped.returncode, 0, stopped.stderr)
        with self.assertRaisesRegex(pxsh.ClusterError, f"the cluster '{self.cluster}' was stopped"):
            running.get(timeout=60)
        with self.assertRaisesRegex(pxsh.ClusterError, "was stopped"):
            lv.apply_async(square, 2)
        with self.assertRaisesRegex(pxsh.ClusterError, "no pxsh cluster named"):
            pxsh.Client(cluster=self.cluster)


class ShutdownTests(ClusterTestCase):
    name = "pytest-shutdown"

    def test_shutdown_stops_the_cluster_and_removes_its_directory(self):
        directory = os.path.dirname(self.rc._socket_path)
        self.assertTrue(os.path.isdir(directory))
        # ipyparallel's keywords: only some engines is refused (nothing stops), hub and block are taken.
        for keywords in ({"targets": [0]}, {"targets": 0}, {"restart": True}):
            with self.subTest(**keywords), self.assertRaisesRegex(pxsh.PxshError, "%remove SPEC, %restart SPEC"):
                self.rc.shutdown(**keywords)
        self.assertEqual(self.rc.load_balanced_view().apply_async(square, 3).get(timeout=60), 9)
        self.rc.shutdown(hub=True, block=True)
        # As `pxsh cluster stop` does: the controller is gone, and its directory (logs included) with it.
        self.assertFalse(os.path.exists(directory), os.listdir(directory) if os.path.exists(directory) else "")
        self.assertNotIn(self.cluster, pxsh.list_clusters())



class SessionShutdownTests(ClusterTestCase):
    """At the prompt of `pxsh --cluster NAME`, shutdown() of that cluster would end every session
    attached to it and their local namespace: it refuses. Another cluster's client stops it."""

    name = "pytest-session"

    def test_shutdown_of_the_cluster_a_session_is_attached_to_is_refused(self):
        refusal = (f"would stop the cluster '{self.cluster}' this session is attached to, and the local namespace "
                   f"with it: %exit leaves this session (the cluster runs on), and `pxsh cluster stop --name "
                   f"{self.cluster}` in a shell stops the cluster")
        # The refusal names what was called: px's shutdown, or another Client object's.
        other = f"pxsh.Client(cluster={self.cluster!r}).shutdown()"
        for line, called in (("px.shutdown()", "px.shutdown()"), (f"import pxsh; c2 = {other}", other)):
            with self.subTest(line=line):
                session = pxsh_command("--cluster", self.cluster, "-c", "kept = 42", "-c", line, "-c", "kept")
                # The line fails (status 1), and the session goes on with its local names.
                self.assertEqual(session.returncode, 1, session.stdout + session.stderr)
                self.assertEqual(session.stdout.splitlines()[-2:],
                                 [f"pxsh.PxshError: {called} {refusal}", "Out[3]: 42"], session.stderr)
                self.assertIn(self.cluster, pxsh.list_clusters())
                self.assertEqual(self.rc.load_balanced_view().apply_sync(square, 3), 9)

    def test_shutdown_of_a_private_session_s_own_cluster_is_refused_naming_the_call(self):
        refusal = ("would stop this session's own cluster, and the local namespace with it: %exit (or Ctrl-D) "
                   "leaves pxsh, which stops it; pxsh.Client(cluster=NAME).shutdown() stops a named cluster")
        for line, called in (("px.shutdown()", "px.shutdown()"),
                             ("import pxsh; pxsh.Client().shutdown()", "pxsh.Client().shutdown()")):
            with self.subTest(line=line):
                session = pxsh_command("-n", "1", "-c", line, "-c", "print(repr(px).replace('engine>', 'ONE>'))")
                self.assertEqual(session.returncode, 1, session.stdout + session.stderr)
                self.assertEqual(session.stdout.splitlines()[-2:],
                                 [f"pxsh.PxshError: {called} {refusal}", "<pxsh.Client of this session: 1 ONE>"],
                                 session.stderr)

    def test_a_session_stops_another_cluster(self):
        other = f"{self.cluster}-other"
        started = pxsh_command("cluster", "start", "--name", other, "-n", "1")
        self.assertEqual(started.returncode, 0, started.stdout + started.stderr)
        self.addCleanup(pxsh_command, "cluster", "stop", "--name", other)
        session = pxsh_command("--cluster", self.cluster, "-c",
                               f"import pxsh; pxsh.Client(cluster={other!r}).shutdown(); print('stopped')")
        self.assertEqual((session.returncode, session.stdout), (0, "stopped\n"), session.stderr)
        self.assertNotIn(other, pxsh.list_clusters())
        self.assertIn(self.cluster, pxsh.list_clusters())

class JobsTests(ClusterTestCase):
    """%jobs at the prompt lists what Python made: a DirectView's map and @parallel ran on its engines, a
    load-balanced map is balanced, and another cluster's engines are named with it."""

    name = "pytest-jobs"
    engines = 1

    def test_targets_of_python_results_in_jobs(self):
        lines = ["import pxsh",
                 "dm = px[:].map(abs, [-1, -2, -3]); one = px[1:2].map(abs, [1]); "
                 "lm = px.load_balanced_view().map(abs, [1, 2])",
                 "par = px[:].parallel()(lambda xs: xs)([1, 2])",
                 f"other = pxsh.Client(cluster={self.cluster!r}); od = other[:].apply(abs, -1); "
                 "ol = other.load_balanced_view().map(abs, [1])",
                 "px.wait(); other.wait(); print(repr(other))", "%jobs"]
        session = pxsh_command("-n", "2", *(arg for line in lines for arg in ("-c", line)))
        self.assertEqual(session.returncode, 0, session.stdout + session.stderr)
        output = session.stdout.splitlines()
        self.assertIn(f"<pxsh.Client {self.cluster}: 1 engine>", output)
        targets = {row.split()[0]: row.split()[3] for row in output if row.split()[1:2] == ["px"]}
        self.assertEqual(targets, {"dm": "0,1", "one": "1", "lm": "balanced", "par": "0,1",
                                   "od": f"{self.cluster}:0", "ol": f"{self.cluster}:balanced"}, output)


class AbortedMagicMapTests(unittest.TestCase):
    def test_a_magic_map_aborted_before_any_task_ran_ends_when_it_was_aborted(self):
        # Its elapsed (in %jobs and px.result) was 0: no task has a completion time.
        lines = ["%px --noblock import time; time.sleep(3)", "%map --noblock -o m abs [1, 2]", "time.sleep(0.5)",
                 "%abort m", "%wait m", "%jobs", "e = px.result('m').elapsed; time.sleep(0.3)",
                 "print('elapsed', 0.5 <= e == px.result('m').elapsed < 60)"]
        session = pxsh_command("-n", "1", "-c", "import time", *(arg for line in lines for arg in ("-c", line)))
        output = session.stdout.splitlines()
        self.assertIn("elapsed True", output, session.stdout + session.stderr)
        row = next(line.split() for line in output if line.startswith("m "))
        value, unit = float(row[-2]), row[-1]
        self.assertGreaterEqual(value * {"s": 1, "ms": 1e-3, "µs": 1e-6}[unit], 0.5, row)


class AttachedSessionLossTests(ClusterTestCase):
    """`pxsh --cluster NAME` whose cluster ends under it says what happened, in words, and leaves."""

    name = "pytest-lost"
    engines = 1

    def session_after_its_cluster_ends(self, suffix, end_cluster):
        """The output and status of a session attached to a new cluster that `end_cluster(client)` ends while
        the session waits for its next line."""
        cluster = f"{self.cluster}-{suffix}"
        started = pxsh_command("cluster", "start", "--name", cluster, "-n", "1")
        self.assertEqual(started.returncode, 0, started.stdout + started.stderr)
        self.addCleanup(pxsh_command, "cluster", "stop", "--name", cluster)
        with subprocess.Popen([PXSH, "--cluster", cluster], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) as session:
            try:
                session.stdin.write("print('ready')\n")
                session.stdin.flush()
                self.assertEqual(session.stdout.readline(), "ready\n")
                with pxsh.Client(cluster=cluster) as client:
                    end_cluster(client)
                session.stdin.write("1 + 1\n")
                session.stdin.close()
                return cluster, session.stdout.read(), session.wait(timeout=60)
            finally:
                if session.poll() is None:
                    session.kill()

    def test_a_cluster_another_client_stopped(self):
        cluster, output, status = self.session_after_its_cluster_ends("stopped", lambda client: client.shutdown())
        self.assertEqual((output, status), (f"the cluster '{cluster}' was stopped by another client; leaving\n", 1))

    def test_a_controller_that_is_gone_without_stopping_its_cluster(self):
        pids = []

        def kill_controller(client):
            client.ids  # connected: the client has read the controller's pid
            pids.append(client._controller_pid)
            os.kill(client._controller_pid, signal.SIGKILL)
        cluster, output, status = self.session_after_its_cluster_ends("killed", kill_controller)
        self.assertEqual((output, status), (
            f"the controller of the cluster '{cluster}' (pid {pids[0]}) is gone without having stopped the "
            f"cluster; `pxsh cluster stop --name {cluster}` removes what it left; leaving\n", 1))


if __name__ == "__main__":
    unittest.main()
