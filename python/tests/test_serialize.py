"""Value blobs: the shortcut for a call's plain arguments gives what the general path gives."""

import os
import pickle
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pxsh import asyncresult, protocol, serialize  # noqa: E402


class DumpArgumentsTests(unittest.TestCase):
    def test_a_call_s_arguments_dump_as_the_general_path_dumps_them(self):
        import numpy
        cases = [((), {}), ((1, "a", None, 2.5, b"x"), {}), ((1,), {"key": "v"}), ((1,), {"key": [1, 2]}),
                 (([1, 2], (3, 4)), {}), ((lambda x: x,), {}), ((numpy.arange(4),), {}), (tuple(range(65)), {})]
        for args, kwargs in cases:
            with self.subTest(args=args[:3], kwargs=kwargs):
                blob = serialize.dump_arguments(args, kwargs)
                general = serialize.dump((args, kwargs))
                self.assertEqual(len(blob), len(general))
                loaded, _ = serialize.load(blob)
                self.assertEqual(repr(loaded[1]), repr(kwargs))
                self.assertEqual(len(loaded[0]), len(args))
                if serialize._is_plain((args, kwargs)):
                    self.assertEqual(blob, general)
                    self.assertEqual(pickle.loads(blob[1]), (args, kwargs))


if __name__ == "__main__":
    unittest.main()


class ReplyReadingTests(unittest.TestCase):
    """A reply whose value is one pickle is read without cutting its segments (AsyncResult._read_reply):
    each reply is read both ways and must give the same task."""

    def read(self, segments, shortcut):
        import threading

        class Client:  # what an AsyncResult asks of its client while it reads a reply
            _task_condition = threading.Condition()

        decode = asyncresult._load_value if shortcut else (lambda blob: asyncresult._load_value(blob))
        result = asyncresult.AsyncResult(Client(), label="apply", method="apply", engines=[0], decode=decode)
        (frame,) = protocol.FrameDecoder().decode(protocol.encode(protocol.Frame(protocol.REPLY, 13, 0, 0, 7, segments)))
        task = result._tasks[0]
        result._read_reply(task, frame)
        return (task.started, task.completed, [bytes(s) for s in task.reply], repr(task.value), repr(task.error))

    def test_the_shortcut_reads_a_reply_as_the_segments_do(self):
        import numpy
        timing = (1234).to_bytes(8, "little") + (5678).to_bytes(8, "little")
        shared = serialize.SHARED_MEMORY_MAGIC + b"no-such-file"
        replies = [[timing, b"ok", *serialize.dump(v)] for v in (1, "text", [1, 2], None, numpy.arange(3))]
        replies += [[timing, b"ok", b"1", pickle.dumps(ValueError) + b"junk"],  # a pickle that fails to load
                    [timing, b"ok", b"1", shared],  # a shared-memory file's name, not a pickle
                    [timing, b"error", b"ValueError", b"bad", b""],
                    [timing, b"ok", b"1", b"\x80"]]  # a pickle cut short
        for segments in replies:
            with self.subTest(segments=[bytes(s)[:20] for s in segments]):
                self.assertEqual(self.read(segments, shortcut=True), self.read(segments, shortcut=False))
        self.assertEqual(self.read(replies[0], shortcut=True)[:4], (1234, 5678, [b"ok", b"1", pickle.dumps(1, 5)], "1"))
