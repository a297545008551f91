"""When a wait for a reply polls before it sleeps (pxsh.client._Spin), without processes."""

import os
import select
import socket
import struct
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pxsh import client, protocol, serialize  # noqa: E402


def spin_on(runnable_tasks: int, cpus: int = 2, last_wait: float = 100e-6) -> client._Spin:
    """A _Spin that has seen one reply after `last_wait` s, with `runnable_tasks` on `cpus` CPUs."""
    spin = client._Spin()
    spin._cpus = cpus
    spin._runnable = lambda: runnable_tasks
    spin.ended(last_wait, spun=False, caught=False)
    return spin


class SpinTests(unittest.TestCase):
    def test_a_machine_with_a_spare_cpu_spins_twice_as_long_as_the_last_wait(self):
        self.assertAlmostEqual(spin_on(runnable_tasks=2, last_wait=100e-6).budget(), 200e-6)

    def test_never_longer_than_longest(self):
        self.assertEqual(spin_on(runnable_tasks=1, last_wait=2.0).budget(), client._Spin.LONGEST)

    def test_a_busy_machine_does_not_spin(self):
        self.assertEqual(spin_on(runnable_tasks=3).budget(), 0)

    def test_the_load_is_read_again_after_a_while_not_after_every_reply(self):
        spin = spin_on(runnable_tasks=1)
        spin._runnable = lambda: 9
        spin.ended(100e-6, spun=False, caught=False)
        self.assertGreater(spin.budget(), 0)  # sampled less than _SAMPLE_EVERY ago
        spin._next_sample = 0.0
        spin.ended(100e-6, spun=False, caught=False)
        self.assertEqual(spin.budget(), 0)

    def test_spins_that_miss_their_reply_back_off_and_one_that_catches_it_ends_that(self):
        spin = spin_on(runnable_tasks=1)
        pattern = []
        for _ in range(5):
            spin.ended(300e-6, spun=True, caught=False)
            skipped = 0
            while not spin.budget():
                skipped += 1
            pattern.append(skipped)
        self.assertEqual(pattern, [1, 2, 4, 8, 16])
        spin.ended(100e-6, spun=True, caught=True)
        self.assertGreater(spin.budget(), 0)
        for _ in range(20):
            spin.ended(300e-6, spun=True, caught=False)
        self.assertEqual(spin._skip, client._Spin._BACKOFF_LIMIT)
        self.assertEqual((spin.spins, spin.caught), (26, 1))

    def test_only_a_wait_for_fewer_tasks_than_cpus_spins(self):
        spin = spin_on(runnable_tasks=1, cpus=2)
        self.assertEqual([spin.pays_for(tasks) for tasks in (1, 2, 4)], [True, False, False])

    def test_pxsh_no_spin_turns_it_off(self):
        os.environ["PXSH_NO_SPIN"] = "1"
        try:
            spin = client._Spin()
        finally:
            del os.environ["PXSH_NO_SPIN"]
        spin.ended(100e-6, spun=False, caught=False)
        self.assertEqual(spin.budget(), 0)

    def test_without_proc_loadavg_it_never_spins(self):
        spin = client._Spin()
        spin._loadavg = None
        spin.ended(100e-6, spun=False, caught=False)
        self.assertEqual(spin.budget(), 0)


class WhoSpinsTests(unittest.TestCase):
    """A client on one end of a socket pair; the test plays the controller on the other."""

    def setUp(self):
        self.ours, self.controller = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.client = client.Client(_lazy=True, _socket_path="/nonexistent")
        self.client._sock = self.ours
        self.client._poller = select.poll()
        self.client._poller.register(self.ours, select.POLLIN)
        self.client._engines[0] = protocol.EngineRow(0, 0, 1, "idle", 0, 0, 0)
        self.addCleanup(self.controller.close)
        self.addCleanup(self.client.close)
        self.spins = []
        saved = client.Client._poll_briefly
        client.Client._poll_briefly = lambda client_, seconds: self.spins.append(threading.get_ident()) or False
        self.addCleanup(setattr, client.Client, "_poll_briefly", saved)
        saved_spin, client._SPIN = client._SPIN, spin_on(runnable_tasks=1)
        self.addCleanup(setattr, client, "_SPIN", saved_spin)

    def reply_to_the_next_call(self, value):
        request, task = self.client._next_request, 100 + self.client._next_request
        accepted = protocol.Frame(protocol.ACCEPTED, 0, 0, protocol.NO_ENGINE, request, [struct.pack("<QI", task, 1)])
        reply = protocol.Frame(protocol.REPLY, protocol.OP_APPLY, 0, 0, task,
                               [struct.pack("<QQ", 1, 2), b"ok", *serialize.dump(value)])
        return lambda: self.controller.sendall(protocol.encode(accepted) + protocol.encode(reply))

    def test_a_thread_that_waits_on_its_result_spins_and_the_reader_thread_never_does(self):
        view = self.client.load_balanced_view()
        send = self.reply_to_the_next_call(7)
        result = view.apply_async(abs, -7)
        threading.Timer(0.05, send).start()
        self.assertEqual(result.get(timeout=10), 7)
        self.assertEqual(self.spins, [threading.get_ident()])

        send = self.reply_to_the_next_call(8)
        result = view.apply_async(abs, -8)
        done = threading.Event()
        result.add_done_callback(lambda _: done.set())  # from now on the reader thread reads
        client._SPIN._skip = 0
        send()
        self.assertTrue(done.wait(10))
        self.assertEqual(result.get(timeout=10), 8)
        self.assertEqual(self.spins, [threading.get_ident()])


if __name__ == "__main__":
    unittest.main()
