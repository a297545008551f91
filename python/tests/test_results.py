"""AsyncResult and Client details against real clusters: get_dict, elapsed, running(), wait_interactive,
msg ids in wait() and abort(), and what a client says when its cluster is stopped or its controller killed."""

import contextlib
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

from .test_client import ClusterTestCase, interactive, occupy_both_engines, pxsh_command, square

import pxsh  # noqa: E402  (test_client put the package on the path)
from pxsh.client import _wait_until_gone  # noqa: E402

try:
    import cloudpickle
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
except ImportError:
    pass


rank_of_engine = interactive("f = lambda: rank")


def times_ten(x):
    return x * 10


class BlockedEnginesTestCase(ClusterTestCase):
    """Tests that keep both engines busy with tasks that run until the test releases them."""

    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="pxsh-pyresults-")
        self.addCleanup(shutil.rmtree, self.scratch, ignore_errors=True)
        self.addCleanup(self.release)

    def release(self):
        open(os.path.join(self.scratch, "release"), "w").close()

    def occupy_both_engines(self, lv):
        return occupy_both_engines(lv, self.scratch)


class GetDictTests(ClusterTestCase):
    name = "pytest-getdict"

    def test_a_dict_of_one_value_per_engine(self):
        self.assertEqual(self.rc[:].apply_async(rank_of_engine).get_dict(), {0: 0, 1: 1})
        self.assertEqual(self.rc[1].apply_async(rank_of_engine).get_dict(), {1: 1})
        self.assertEqual(self.rc[:].map_async(square, range(2)).get_dict(), {0: 0, 1: 1})
        applied = self.rc.load_balanced_view().apply_async(rank_of_engine)
        self.assertEqual(applied.get_dict(), {applied.engine_id: applied.engine_id})

    def test_several_values_of_one_engine_raise_value_error_as_in_ipyparallel(self):
        # A direct map of 7 items on 2 engines: engine 0 computed 4 of them, engine 1 three.
        with self.assertRaisesRegex(ValueError, r"^Cannot build dict, 4 jobs ran on engine #0$"):
            self.rc[:].map(times_ten, range(7)).get_dict()
        lv = self.rc.load_balanced_view()
        with self.assertRaisesRegex(ValueError, r"^Cannot build dict, \d jobs ran on engine #\d$"):
            lv.map_async(square, range(6)).get_dict()
        with self.assertRaisesRegex(ValueError, r"^Cannot build dict, \d jobs ran on engine #\d$"):
            lv.map(times_ten, range(7), chunksize=3).get_dict()

    def test_joined_values_raise_value_error(self):
        dv = self.rc[:]
        dv.scatter("part", list(range(4)), block=True)
        with self.assertRaisesRegex(ValueError, "^Cannot build dict, the values of this gather are not one per task$"):
            dv.gather("part").get_dict()


class ElapsedTests(BlockedEnginesTestCase):
    name = "pytest-elapsed"

    def assert_elapsed_stays(self, result):
        first = result.elapsed
        time.sleep(0.3)  # time passes: an ended result's elapsed must not grow with it
        self.assertEqual(result.elapsed, first)

    def test_elapsed_of_an_aborted_or_cancelled_result_stays_fixed(self):
        lv = self.rc.load_balanced_view()
        self.occupy_both_engines(lv)
        aborted = lv.apply_async(square, 3)
        cancelled = lv.map_async(square, range(3))
        aborted.abort()
        self.assertTrue(cancelled.cancel())
        self.assertTrue(self.rc.wait([aborted, cancelled], timeout=60))
        self.assert_elapsed_stays(aborted)
        self.assert_elapsed_stays(cancelled)

    def test_elapsed_of_a_finished_result_nobody_read_is_to_its_completion(self):
        with pxsh.Client(cluster=self.cluster) as rc:  # no reader thread: the reply waits in the socket
            result = rc.load_balanced_view().apply_async(square, 2)
            time.sleep(0.5)
            self.assert_elapsed_stays(result)
            self.assertEqual(result.elapsed, max(0.0, result.timings[0][2] / 1e9 - result.submitted))


class RunningTests(BlockedEnginesTestCase):
    name = "pytest-running"

    def test_running_is_true_once_a_task_started_until_it_ended(self):
        lv = self.rc.load_balanced_view()
        blockers = self.occupy_both_engines(lv)
        queued = lv.apply_async(square, 3)
        self.assertEqual([b.running() for b in blockers], [True, True])
        self.assertFalse(queued.running())
        self.release()
        self.assertEqual(queued.result(timeout=60), 9)
        self.assertEqual([b.result(timeout=60) for b in blockers], [0, 1])
        self.assertEqual([r.running() for r in blockers + [queued]], [False] * 3)


class WaitTests(BlockedEnginesTestCase):
    name = "pytest-wait"

    def test_wait_interactive_prints_the_progress_until_ready(self):
        mapped = self.rc.load_balanced_view().map_async(square, range(4))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            self.assertIsNone(mapped.wait_interactive(interval=0.05))
        self.assertTrue(mapped.ready())
        line = r"map: [0-4]/4 tasks done, \d+\.\d s\n"
        self.assertRegex(printed.getvalue(), rf"^(?:{line})*map: 4/4 tasks done, \d+\.\d s\n$")

    def test_wait_interactive_returns_after_its_timeout(self):
        lv = self.rc.load_balanced_view()
        self.occupy_both_engines(lv)
        queued = lv.apply_async(square, 3)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            queued.wait_interactive(interval=0.05, timeout=0.2)
        self.assertFalse(queued.ready())
        self.assertRegex(printed.getvalue(), r"^apply: 0/1 tasks done, 0\.\d s\n")

    def test_wait_and_abort_take_msg_ids(self):
        lv = self.rc.load_balanced_view()
        blockers = self.occupy_both_engines(lv)
        queued = lv.map_async(square, range(3))
        self.assertFalse(self.rc.wait(blockers[0].msg_ids, timeout=0.1))
        self.rc.abort(queued.msg_ids[1:])
        self.release()
        self.assertTrue(self.rc.wait(blockers[0].msg_ids[0], timeout=60))
        self.assertTrue(self.rc.wait([queued.msg_ids[0], blockers[1]], timeout=60))
        with self.assertRaisesRegex(pxsh.CompositeError, "TaskAborted") as raised:
            queued.get(timeout=60)
        self.assertEqual(len(raised.exception.elist), 2)

    def test_jobs_of_another_type_are_refused(self):
        for jobs in ("abc", 1.5, [True]):
            with self.assertRaisesRegex(TypeError, "^jobs are AsyncResults or msg ids"):
                self.rc.wait(jobs)
            with self.assertRaisesRegex(TypeError, "^jobs are AsyncResults or msg ids"):
                self.rc.abort(jobs)


class StoppedClusterMessageTests(ClusterTestCase):
    name = "pytest-stopmsg"

    def test_a_call_after_the_cluster_was_stopped_says_so(self):
        lv = self.rc.load_balanced_view()
        self.assertEqual(lv.apply_sync(square, 2), 4)
        stopped = pxsh_command("cluster", "stop", "--name", self.cluster)
        self.assertEqual(stopped.returncode, 0, stopped.stderr)
        # Nothing read the controller's end of the connection: the call's send finds it closed.
        with self.assertRaisesRegex(pxsh.ClusterError, f"^the cluster '{self.cluster}' was stopped"):
            lv.apply_async(square, 2).get(timeout=60)


class KilledControllerTests(ClusterTestCase):
    name = "pytest-killed"

    def test_a_killed_controller_is_said_to_be_gone_not_stopped(self):
        with open(os.path.join(os.path.dirname(self.rc._socket_path), "cluster.json")) as handle:
            pid = json.load(handle)["pid"]
        engines = [row.pid for row in self.rc._engines.values()]
        waiting = self.rc.load_balanced_view().apply_async(time.sleep, 60)
        gone = (rf"^the controller of cluster '{self.cluster}' \(pid {pid}\) is gone without having stopped the "
                rf"cluster; `pxsh cluster stop --name {self.cluster}` removes what it left$")
        # A stopped controller still takes connections (the kernel queues them) but does not answer:
        # list_clusters leaves it out, and a client that attaches waits in its handshake.
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(lambda: _wait_until_gone(pid, 0) or os.kill(pid, signal.SIGKILL))
        attaching = {}

        def attach():
            try:
                pxsh.Client(cluster=self.cluster, timeout=120)
            except BaseException as exc:
                attaching["error"] = exc
        thread = threading.Thread(target=attach, daemon=True)
        thread.start()
        self.assertNotIn(self.cluster, pxsh.list_clusters())
        wait_until_in_handshake(thread)
        os.kill(pid, signal.SIGKILL)
        thread.join(60)
        self.assertIsInstance(attaching.get("error"), pxsh.ClusterError)
        self.assertRegex(str(attaching["error"]), gone)
        with self.assertRaisesRegex(pxsh.ClusterError, gone):
            waiting.get(timeout=60)
        with self.assertRaisesRegex(pxsh.ClusterError, gone):
            self.rc.load_balanced_view().apply_async(square, 2)
        with self.assertRaisesRegex(pxsh.ClusterError, gone):
            pxsh.Client(cluster=self.cluster)
        self.assertNotIn(self.cluster, pxsh.list_clusters())
        # Its engines end by themselves once their controller is gone.
        self.assertEqual([engine for engine in engines if not _wait_until_gone(engine, 60)], [])


def wait_until_in_handshake(thread):
    """Until `thread` has connected and sent its hello, and waits for the controller's welcome."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident)
        while frame is not None and frame.f_code.co_name != "_connect":
            frame = frame.f_back
        if frame is not None and "decoder" in frame.f_locals:
            return
        time.sleep(0.01)
    raise AssertionError("the client did not reach its handshake")
