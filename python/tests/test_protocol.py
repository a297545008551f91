"""The Python frames against the example frames of docs/PROTOCOL.md (the Swift tests read the same)."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pxsh import protocol  # noqa: E402

DOCUMENT = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "PROTOCOL.md")


def examples():
    with open(DOCUMENT) as handle:
        text = handle.read()
    found = []
    for block in re.findall(r"```frame\n(.*?)```", text, re.S):
        fields = {}
        for line in block.strip().splitlines():
            for key, value in re.findall(r"(\w+)=(\S+(?: \S+)*?)(?= \w+=|$)", line):
                fields[key] = value
        segments = [b"" if s == "-" else bytes.fromhex(s) for s in fields["segments"].split()]
        frame = protocol.Frame(int(fields["kind"]), int(fields["op"]), int(fields["flags"]),
                               int(fields["engine"]), int(fields["id"]), segments)
        found.append((frame, bytes.fromhex(fields["bytes"])))
    return found


class ExampleFrameTests(unittest.TestCase):
    def test_the_document_has_examples(self):
        self.assertGreaterEqual(len(examples()), 10)

    def test_encoding_gives_the_documented_bytes(self):
        for frame, data in examples():
            with self.subTest(kind=frame.kind, id=frame.id):
                self.assertEqual(protocol.encode(frame).hex(), data.hex())

    def test_decoding_the_bytes_gives_the_fields(self):
        for frame, data in examples():
            with self.subTest(kind=frame.kind, id=frame.id):
                decoder = protocol.FrameDecoder()
                decoder.feed(data)
                (decoded,) = decoder.frames()
                self.assertEqual(decoded._replace(segments=list(protocol.segments_of(decoded))),
                                 frame._replace(segments=list(frame.segments)))

    def test_frames_arrive_in_pieces(self):
        stream = b"".join(data for _, data in examples())
        decoder = protocol.FrameDecoder()
        decoded = []
        for start in range(0, len(stream), 7):
            decoder.feed(stream[start:start + 7])
            decoded += decoder.frames()
        self.assertEqual([f.kind for f in decoded], [f.kind for f, _ in examples()])

    def test_frames_read_in_pieces_decode_alike(self):
        stream = b"".join(data for _, data in examples())
        for size in (1, 7, 24, 100, len(stream)):
            with self.subTest(size=size):
                decoder = protocol.FrameDecoder()
                decoded = []
                for start in range(0, len(stream), size):
                    decoded += decoder.decode(memoryview(stream)[start:start + size])
                self.assertEqual([(f.kind, f.id, list(protocol.segments_of(f))) for f in decoded],
                                 [(f.kind, f.id, list(f.segments)) for f, _ in examples()])

    def test_a_bad_stream_is_an_error(self):
        decoder = protocol.FrameDecoder()
        decoder.feed(b"\x14\x00\x00\x00" + bytes([99]) + bytes(19))
        with self.assertRaisesRegex(protocol.ProtocolError, "unknown message kind 99"):
            decoder.frames()
        decoder = protocol.FrameDecoder(maximum_frame_size=64)
        decoder.feed(b"\xff\x00\x00\x00")
        with self.assertRaisesRegex(protocol.ProtocolError, "exceeds the limit"):
            decoder.frames()

    def test_submission_header(self):
        frame = protocol.submission(protocol.OP_STARMAP, 5, balanced=True, retries=None,
                                    shared=[b"1", b"F"], per_task=[[b"1", b"A"], [b"1", b"B"]])
        self.assertEqual(frame.flags, protocol.BALANCED)
        self.assertEqual(frame.segments[0].hex(), "ffffffff" "00000000" "02000000" "02000000" "02000000" "02000000")
        self.assertEqual(list(frame.segments[1:]), [b"1", b"F", b"1", b"A", b"1", b"B"])

    def test_the_one_pass_submission_encoder_gives_the_frame_builders_bytes(self):
        cases = [
            dict(op=protocol.OP_EXECUTE, targets=[0, 1, 2, 3], balanced=False, retries=None, shared=[b"pass"],
                 per_task=[]),
            dict(op=protocol.OP_EXECUTE, targets=[1], balanced=False, retries=None, shared=[b"x = 1"],
                 per_task=[], one_answer=True),
            # One segment: the frame up to it is packed in one go, whatever holds the segment.
            dict(op=protocol.OP_IMPORT, targets=[0, 2], balanced=False, retries=1, shared=[memoryview(b"pickle")],
                 per_task=[]),
            dict(op=protocol.OP_IMPORT, targets=[0, 2], balanced=False, retries=1, shared=[bytearray(b"pickle")],
                 per_task=[], one_answer=True),
            dict(op=protocol.OP_EXECUTE, targets=[0], balanced=False, retries=None, shared=[b""], per_task=[]),
            dict(op=protocol.OP_IMPORT, targets=[2, 5], balanced=False, retries=None, shared=[],
                 per_task=[[b"1", b"A"], [b"1", b"BB"]]),
            dict(op=protocol.OP_CALL, targets=[], balanced=True, retries=3, shared=[],
                 per_task=[[b"1", b"F", b"1", b"X"]]),
            dict(op=protocol.OP_CALL, targets=[], balanced=True, retries=0, shared=[],
                 per_task=[[b"1", b"F", b"1", b"X"]], one_answer=True),
            dict(op=protocol.OP_STARMAP, targets=[1], balanced=True, retries=0, shared=[b"1", b"F"],
                 per_task=[[b"1", b"A"], [], [b"2", b"P", bytearray(b"buf")]]),
        ]
        # The header kept for the last direct request must not serve one that differs from it.
        targets = [3, 4]
        cases += [dict(op=protocol.OP_EXECUTE, targets=targets, balanced=False, retries=None, shared=[b"a"],
                       per_task=[], one_answer=True),
                  dict(op=protocol.OP_EXPORT, targets=targets, balanced=False, retries=None, shared=[b"a", b""],
                       per_task=[], one_answer=True),
                  dict(op=protocol.OP_EXPORT, targets=targets, balanced=False, retries=2, shared=[b"a", b""],
                       per_task=[]),
                  dict(op=protocol.OP_EXPORT, targets=[3], balanced=False, retries=2, shared=[b"a", b""],
                       per_task=[])]
        # Nor the one kept for the last call.
        cases += [dict(op=protocol.OP_CALL, targets=targets, balanced=True, retries=0, shared=[],
                       per_task=[[b"1", b"F", b"1", b"X"]], one_answer=True),
                  dict(op=protocol.OP_CALL, targets=(), balanced=True, retries=0, shared=[],
                       per_task=[[b"1", b"F", b"1", b"X"]], one_answer=True),
                  dict(op=protocol.OP_CALL, targets=(), balanced=True, retries=None, shared=[],
                       per_task=[[b"1", b"F", b"1", b"X"]], one_answer=True),
                  dict(op=protocol.OP_CALL, targets=(), balanced=True, retries=None, shared=[],
                       per_task=[[b"1", b"F", b"2", b"X", b"buf"]], one_answer=True)]
        for case in cases:
            with self.subTest(**{k: v for k, v in case.items() if k in ("op", "targets")}):
                one_answer = case.get("one_answer", False)
                built = protocol.encode(protocol.submission(case["op"], 9, targets=case["targets"],
                                                            balanced=case["balanced"], retries=case["retries"],
                                                            shared=case["shared"], per_task=case["per_task"],
                                                            one_answer=one_answer))
                one_pass = protocol.encode_submission(case["op"], 9, case["targets"], case["balanced"],
                                                      case["retries"], case["shared"], case["per_task"], one_answer)
                self.assertEqual(one_pass.hex(), built.hex())
        # A list of targets changed in place after a request went to it is read again.
        for op, shared, per_task in ((protocol.OP_EXECUTE, [b"pass"], []), (protocol.OP_CALL, [], [[b"1", b"F"]])):
            with self.subTest(op=op):
                targets = [1]
                for _ in range(2):
                    built = protocol.encode(protocol.submission(op, 9, targets=list(targets), retries=0,
                                                                shared=shared, per_task=per_task))
                    one_pass = protocol.encode_submission(op, 9, targets, False, 0, shared, per_task)
                    self.assertEqual(one_pass.hex(), built.hex())
                    targets.append(2)

    def test_an_answer_holds_frames_back_to_back_and_a_garbled_one_is_an_error(self):
        inner = [protocol.Frame(protocol.ACCEPTED, 0, 0, -2, 4, [bytes(12)]),
                 protocol.Frame(protocol.STREAM, 1, 0, 0, 7, [b"hi\n"])]
        answer = protocol.encode(protocol.Frame(protocol.ANSWER, 0, 0, -2, 4,
                                                [protocol.encode(f)[4:] for f in inner]))
        self.assertEqual(answer[protocol.HEADER_SIZE:], b"".join(protocol.encode(f) for f in inner))
        (frame,) = protocol.FrameDecoder().decode(answer)
        self.assertEqual([(f.kind, f.id, list(f.segments)) for f in protocol.frames_in(frame)],
                         [(f.kind, f.id, list(f.segments)) for f in inner])
        with self.assertRaisesRegex(protocol.ProtocolError, "answer"):
            protocol.frames_in(frame._replace(segments=frame.segments[:-1]))

    def test_the_reply_of_a_whole_answer_of_one_task_is_taken_without_parsing_the_answer(self):
        (answer,) = [frame for frame, _ in examples() if frame.kind == protocol.ANSWER]
        (decoded,) = protocol.FrameDecoder().decode(protocol.encode(answer))
        self.assertEqual(protocol.whole_answer(decoded, 1), 7)
        reply = protocol.only_reply(decoded)
        (_, expected) = protocol.frames_in(decoded)
        self.assertEqual(reply._replace(segments=list(protocol.segments_of(reply))),
                         expected._replace(segments=list(protocol.segments_of(expected))))
        # Its second frame no reply, or lengths that do not add up: None, and the answer is read frame by frame.
        stream = protocol.Frame(protocol.STREAM, 1, 0, 0, 7, [b"hi\n"])
        accepted = protocol.Frame(protocol.ACCEPTED, 0, 0, -2, 1, [bytes(12)])
        for frames in ([accepted, stream], [accepted]):
            other = protocol.encode(protocol.Frame(protocol.ANSWER, 0, 0, -2, 1, [protocol.encode(f)[4:] for f in frames]))
            (decoded,) = protocol.FrameDecoder().decode(other)
            self.assertIsNone(protocol.only_reply(decoded))
        body = decoded.segments
        self.assertIsNone(protocol.only_reply(decoded._replace(segments=body[:4] + b"\xff\x00\x00\x00" + body[8:])))

    def test_a_waiting_thread_s_whole_answer_is_read_from_the_bytes_it_read(self):
        (answer,) = [frame for frame, _ in examples() if frame.kind == protocol.ANSWER]
        data = protocol.encode(answer)
        (decoded,) = protocol.FrameDecoder().decode(data)
        decoder = protocol.FrameDecoder()
        self.assertEqual(decoder.whole_answer(memoryview(data), len(data), answer.id, 1), (decoded, 7))
        # Anything else is None, and decode() reads it: another request or number of tasks, more or
        # fewer bytes, a failed answer, one whose first frame is no ACCEPTED, a frame count beyond
        # what its length can hold, bytes held back from an earlier read.
        self.assertIsNone(decoder.whole_answer(data, len(data), answer.id + 1, 1))
        self.assertIsNone(decoder.whole_answer(data, len(data), answer.id, 2))
        self.assertIsNone(decoder.whole_answer(data + bytes(4), len(data) + 4, answer.id, 1))
        self.assertIsNone(decoder.whole_answer(data, len(data) - 1, answer.id, 1))
        failed = protocol.encode(answer._replace(flags=answer.flags | protocol.FAILED))
        self.assertIsNone(decoder.whole_answer(failed, len(failed), answer.id, 1))
        inner = [f._replace(segments=list(protocol.segments_of(f))) for f in protocol.frames_in(decoded)]
        swapped = protocol.encode(answer._replace(segments=[protocol.encode(f)[4:] for f in reversed(inner)]))
        self.assertIsNone(decoder.whole_answer(swapped, len(swapped), answer.id, 1))
        overcounted = data[:protocol.HEADER_SIZE - 4] + (1000).to_bytes(4, "little") + data[protocol.HEADER_SIZE:]
        self.assertIsNone(decoder.whole_answer(overcounted, len(overcounted), answer.id, 999))
        decoder.feed(data[:5])
        self.assertIsNone(decoder.whole_answer(data, len(data), answer.id, 1))

    def test_a_frame_whose_segments_overrun_it_is_an_error(self):
        for kind in (protocol.REPLY, protocol.STREAM):
            with self.subTest(kind=kind):
                good = protocol.encode(protocol.Frame(kind, 1, 0, 0, 7, [b"ab", b"cd"]))
                # The second segment's length claims more bytes than the frame holds, then a frame follows.
                bad = good[:-6] + b"\x09\x00\x00\x00" + good[-2:] + good
                decoder = protocol.FrameDecoder()
                decoder.feed(bad)
                with self.assertRaisesRegex(protocol.ProtocolError, "do not match"):
                    # A reply's segments are cut when it is read: the error comes then.
                    [protocol.segments_of(frame) for frame in decoder.frames()]
                decoder = protocol.FrameDecoder()
                decoder.feed(good + good[:30])
                self.assertEqual([f.id for f in decoder.frames()], [7])
                decoder.feed(good[30:])
                self.assertEqual([list(protocol.segments_of(f)) for f in decoder.frames()], [[b"ab", b"cd"]])



class EngineRowTests(unittest.TestCase):
    def test_rows_with_and_without_host_and_fixed(self):
        row = protocol.EngineRow.parse(b"4 4 8 busy 1 1 -1 127.0.0.1 fixed")
        self.assertEqual((row.host, row.can_restart), ("127.0.0.1", False))
        self.assertTrue(protocol.EngineRow.parse(b"4 4 8 busy 1 1 -1 127.0.0.1").can_restart)
        self.assertEqual(protocol.EngineRow.parse(b"4 4 8 busy 1 1 -1").host, "local")
        self.assertIsNone(protocol.EngineRow.parse(b"4 4 8 busy 1 1 -1 h other"))


if __name__ == "__main__":
    unittest.main()
