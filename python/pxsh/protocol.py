"""pxsh frames: the wire format between clients, the controller and engines.

The format is written down in ``docs/PROTOCOL.md``; ``PxWire`` is the Swift
side of it, and both are tested against the example frames there.

A frame is ``u32 length`` (of everything after it), a header ``u8 kind,
u8 op, u16 flags, i32 engine, u64 id, u32 segment count``, and for each
segment ``u32 length`` and its bytes. All integers are little-endian.
"""

import struct
from typing import List, NamedTuple, Optional, Sequence, Tuple

PROTOCOL_VERSION = 1
MAGIC = "pxsh"

# Message kinds (MessageKind in PxWire/Frame.swift).
HELLO = 1
WELCOME = 2
REFUSED = 3
SUBMIT = 10
ACCEPTED = 11
TASK = 12
REPLY = 13
STREAM = 14
INTERRUPT = 15
OUTPUT_READ = 16
CONTROL = 20
CONTROL_REPLY = 21
EVENT = 22
ANSWER = 23

KINDS = frozenset((HELLO, WELCOME, REFUSED, SUBMIT, ACCEPTED, TASK, REPLY, STREAM,
                   INTERRUPT, OUTPUT_READ, CONTROL, CONTROL_REPLY, EVENT, ANSWER))

# Frame flags (FrameFlags).
FAILED = 1 << 0
NOT_RUN = 1 << 1
BALANCED = 1 << 2
RESTARTING = 1 << 3
OUTPUT_PENDING = 1 << 4
ONE_ANSWER = 1 << 7  # on a direct submit or a call: answer it in one ANSWER frame once all its tasks replied

# Engine numbers (EngineNumber).
HOME = -1
NO_ENGINE = -2

# Engine runtime ops (EngineOp); the argument and reply segments are in
# Sources/PxEngine/Runtime/pxsh_runtime.py.
OP_EXECUTE = 1
OP_EXPORT = 2
OP_IMPORT = 3
OP_APPLY = 6
OP_MAP_CHUNK = 9
OP_CALL = 13
OP_STARMAP = 14

# Control ops (ControlOp).
CTL_ENGINES = 1
CTL_INTERRUPT = 2
CTL_RESTART = 3
CTL_ADD = 4
CTL_REMOVE = 5
CTL_ABORT = 6
CTL_STATUS = 7
CTL_SHUTDOWN = 8
CTL_INTERRUPT_TASKS = 9

# Output streams (OutputStream).
STDOUT = 1
STDERR = 2

# Cluster events (ClusterEvent.Code).
EVENT_ENGINE_DIED = 1
EVENT_ENGINE_STARTED = 2
EVENT_TASK_RETRIED = 3
EVENT_NOTICE = 4
EVENT_ENGINE_REMOVED = 5

_HEADER = struct.Struct("<IBBHiQI")
HEADER_SIZE = _HEADER.size  # 24: the length prefix and the header
_U32 = struct.Struct("<I")
_NO_RETRIES = 0xFFFFFFFF


class ProtocolError(Exception):
    """A byte stream that is not a valid sequence of frames."""


class Frame(NamedTuple):
    """A frame. The decoder leaves the segments of a REPLY or ANSWER frame uncut: they are its bytes
    after the header, cut by segments_of() or frames_in() when read (a blocking execute reads none)."""

    kind: int
    op: int = 0
    flags: int = 0
    engine: int = NO_ENGINE
    id: int = 0
    segments: Sequence[bytes] = ()


def encode(frame: Frame) -> bytes:
    """The wire form of a frame."""
    parts = [b""]
    size = HEADER_SIZE - 4
    pack = _U32.pack
    for segment in frame.segments:
        # bytes, bytearray, or the flat unsigned-byte memoryview of a pickle buffer: len() is its size
        n = len(segment)
        parts.append(pack(n))
        parts.append(segment)
        size += 4 + n
    parts[0] = _HEADER.pack(size, frame.kind, frame.op, frame.flags, frame.engine,
                            frame.id, len(frame.segments))
    return b"".join(parts)


class FrameDecoder:
    """Turns a byte stream, fed in chunks of any size, into frames."""

    def __init__(self, maximum_frame_size: int = 1 << 31):
        self.maximum_frame_size = maximum_frame_size
        self._buffer = bytearray()
        self._start = 0

    def feed(self, data) -> None:
        if self._start and self._start == len(self._buffer):
            del self._buffer[:]
            self._start = 0
        elif self._start >= 1 << 16:
            del self._buffer[:self._start]
            self._start = 0
        self._buffer += data

    def frames(self) -> List[Frame]:
        """The whole frames received so far, in order."""
        start = self._start
        end_of_data = len(self._buffer)
        if end_of_data - start < 4:
            return []
        first = _U32.unpack_from(self._buffer, start)[0]
        if first + 4 <= self.maximum_frame_size and first >= HEADER_SIZE - 4 and end_of_data - start < first + 4:
            return []  # a large frame still arriving is not copied again for every chunk
        # One copy of what arrived: slicing bytes gives each segment with one more, where a
        # bytearray slice would copy twice.
        buffer = bytes(self._buffer) if start == 0 else bytes(memoryview(self._buffer)[start:])
        out, used = self._parse(buffer)
        self._start = start + used
        return out

    def whole_answer(self, data, size: int, request: int, tasks: int) -> Optional[Tuple[Frame, int]]:
        """The ANSWER frame to `request` and its first task id, if data[:size] is exactly that frame
        and it holds only its ACCEPTED and `tasks` replies, none failed (whole_answer's checks, read
        with one unpack), with nothing held back from earlier reads: the usual read of a thread that
        waits for its answer. None for anything else, which decode() then takes."""
        if size < _ANSWER_START_SIZE or self._start != len(self._buffer):
            return None
        length, kind, op, flags, engine, ident, frames, first_kind, first = _unpack_answer_start(data)
        if length + 4 != size or kind != ANSWER or ident != request or flags & FAILED or frames != tasks + 1 \
                or first_kind != ACCEPTED or frames > (length - 20) >> 2 or size > self.maximum_frame_size:
            return None
        return _new_tuple(Frame, (kind, op, flags, engine, ident, bytes(data[HEADER_SIZE - 4:size]))), first

    def decode(self, data) -> List[Frame]:
        """feed(data), then frames(). With nothing held back from earlier reads (the usual case) the
        frames are read from one copy of data, not from a copy of the buffer it was appended to."""
        if self._start != len(self._buffer):
            self.feed(data)
            return self.frames()
        buffer = bytes(data)
        if len(buffer) > HEADER_SIZE:
            # The usual read of a waiting client: exactly one reply or answer, taken without _parse's loop.
            length, kind, op, flags, engine, ident, count = _HEADER.unpack_from(buffer)
            if length + 4 == len(buffer) and (kind == ANSWER or kind == REPLY) and count <= (length - 20) >> 2 \
                    and length + 4 <= self.maximum_frame_size:
                return [tuple.__new__(Frame, (kind, op, flags, engine, ident, buffer[HEADER_SIZE - 4:]))]
        out, used = self._parse(buffer)
        del self._buffer[:]
        self._start = 0
        if used < len(buffer):
            self._buffer += memoryview(buffer)[used:]
        return out

    def _parse(self, buffer: bytes) -> Tuple[List[Frame], int]:
        """The whole frames at the start of buffer, and the bytes they take."""
        out: List[Frame] = []
        start, end_of_data = 0, len(buffer)
        unpack_u32 = _U32.unpack_from
        unpack_header = _HEADER.unpack_from
        make = tuple.__new__
        append = out.append
        limit = self.maximum_frame_size
        kinds = KINDS
        while end_of_data - start >= 4:
            length, kind, op, flags, engine, ident, count = unpack_header(buffer, start) \
                if end_of_data - start >= HEADER_SIZE else (unpack_u32(buffer, start)[0], 0, 0, 0, 0, 0, 0)
            if length + 4 > limit:
                raise ProtocolError(f"frame of {length + 4} bytes exceeds the limit of {limit}")
            if length < HEADER_SIZE - 4:
                raise ProtocolError(f"frame of {length} bytes is too short for a header")
            end = start + 4 + length
            if end > end_of_data:
                break
            if kind not in kinds:
                raise ProtocolError(f"unknown message kind {kind}")
            position = start + HEADER_SIZE
            if count > (length - 20) >> 2:
                raise ProtocolError("frame segments do not match the frame length")
            # A reply's or an answer's segments stay uncut until read: its bytes from the count on.
            segments = buffer[position - 4:end] if kind == REPLY or kind == ANSWER \
                else _cut(buffer, position, end, count)
            append(make(Frame, (kind, op, flags, engine, ident, segments)))
            start = end
        return out, start


def segments_of(frame: Frame) -> Sequence[bytes]:
    """A frame's segments: for a decoded REPLY frame, cut from its bytes now."""
    body = frame.segments
    if type(body) is not bytes:
        return body
    return _cut(body, 4, len(body), _U32.unpack_from(body, 0)[0])


def frames_in(answer: Frame) -> List[Frame]:
    """The frames an ANSWER frame holds: the request's ACCEPTED, then its tasks' output and replies.

    Each of its segments is a frame without its length prefix (the segment's own length), so its
    body after the segment count is those frames back to back.
    """
    body = answer.segments
    count = _U32.unpack_from(body, 0)[0] if len(body) >= 4 else -1
    frames, used = FrameDecoder()._parse(body[4:])
    if len(frames) != count or used != len(body) - 4:
        raise ProtocolError("an answer's frames do not match its length")
    return frames


def whole_answer(answer: Frame, tasks: int) -> Optional[int]:
    """The first task id of an ANSWER frame that holds only its ACCEPTED and `tasks` replies, none
    failed (no output: a client may take it without reading it); None for any other answer."""
    body = answer.segments
    if answer.flags & FAILED or _U32.unpack_from(body, 0)[0] != tasks + 1 or body[_FIRST_KIND_AT] != ACCEPTED:
        return None
    return _U64.unpack_from(body, _FIRST_ID_AT)[0]


def only_reply(answer: Frame) -> Optional[Frame]:
    """The reply in a whole answer of one task (whole_answer(answer, 1) is its first task id), as the
    decoder gives a REPLY frame (its segments uncut); None if its second frame is no REPLY or the
    lengths do not add up."""
    body = answer.segments
    at = 8 + _U32.unpack_from(body, 4)[0]  # after the count, the ACCEPTED's length and the ACCEPTED
    if at + HEADER_SIZE > len(body):
        return None
    length, kind, op, flags, engine, ident, count = _HEADER.unpack_from(body, at)
    if kind != REPLY or at + 4 + length != len(body) or length < HEADER_SIZE - 4 or count > (length - 20) >> 2:
        return None
    return tuple.__new__(Frame, (kind, op, flags, engine, ident, body[at + HEADER_SIZE - 4:]))


# In an ANSWER's body (from its segment count on): the kind of its first frame, the ACCEPTED, after
# the count, that frame's length and the rest of its header; and that frame's first task id.
_FIRST_KIND_AT = 8
_FIRST_ID_AT = 32
# An ANSWER frame up to its first task id: its header, then (as above) its first frame's kind and id.
_ANSWER_START = struct.Struct(f"<IBBHiQI{_FIRST_KIND_AT - 4}xB{_FIRST_ID_AT - _FIRST_KIND_AT - 1}xQ")
_ANSWER_START_SIZE = _ANSWER_START.size
_unpack_answer_start = _ANSWER_START.unpack_from
_new_tuple = tuple.__new__  # a Frame without namedtuple's __new__, which checks its arguments
_U64 = struct.Struct("<Q")


def _cut(buffer: bytes, position: int, end: int, count: int) -> List[bytes]:
    """The `count` length-prefixed segments of buffer[position:end]; ProtocolError unless they fill it."""
    unpack_u32 = _U32.unpack_from
    segments = []
    for _ in range(count):
        # A length prefix past the frame's end is caught below: position then passes end.
        n = unpack_u32(buffer, position)[0] if position + 4 <= end else end
        position += 4
        segments.append(buffer[position:position + n])
        position += n
    if position != end:
        raise ProtocolError("frame segments do not match the frame length")
    return segments


# --------------------------------------------------------------------------
# Messages

def hello(pid: int) -> Frame:
    """A client's handshake: ["pxsh", version, "client", pid]."""
    texts = [MAGIC, str(PROTOCOL_VERSION), "client", str(pid)]
    return Frame(HELLO, segments=[t.encode() for t in texts])


def submission(op: int, request_id: int, *, targets: Sequence[int] = (), balanced: bool = False,
               retries: Optional[int] = None, shared: Sequence[bytes] = (),
               per_task: Sequence[Sequence[bytes]] = (), one_answer: bool = False) -> Frame:
    """A submit frame: run `op` on targets, or load-balanced with one task per `per_task` entry.

    Every task gets the `shared` segments followed by its own. `one_answer` (direct, or balanced of
    one task): the whole answer comes as one ANSWER frame.
    """
    header = [struct.pack("<II", _NO_RETRIES if retries is None else max(0, retries), len(targets))]
    if targets:
        header.append(struct.pack(f"<{len(targets)}i", *targets))
    header.append(struct.pack("<II", len(shared), len(per_task)))
    if per_task:
        header.append(struct.pack(f"<{len(per_task)}I", *map(len, per_task)))
    segments = [b"".join(header), *shared]
    for task in per_task:
        segments += task
    flags = (BALANCED if balanced else 0) | (ONE_ANSWER if one_answer else 0)
    return Frame(SUBMIT, op, flags, NO_ENGINE, request_id, segments)


def encode_submission(op: int, request_id: int, targets: Sequence[int], balanced: bool,
                      retries: Optional[int], shared: Sequence[bytes], per_task: Sequence[Sequence[bytes]],
                      one_answer: bool = False) -> bytes:
    """encode(submission(...)), built in one pass: every call and every execute takes this path."""
    retries = _NO_RETRIES if retries is None else max(0, retries)
    # A direct request, or a call: a view sends the same kind to the same engines each time, so the
    # submit header segment of the last one of each (with its length) is kept.
    if not per_task:
        last = _last_headers[0]
        if last[0] != targets or last[1] != len(shared) or last[2] != retries:
            last = _last_headers[0] = _submit_header(targets, retries, shared, per_task)
        if len(shared) == 1:  # an execute's code: the frame up to its last segment in one pack
            segment = shared[0]
            n = len(segment)  # bytes, bytearray, or a pickle buffer's flat unsigned-byte memoryview
            flags = (BALANCED if balanced else 0) | (ONE_ANSWER if one_answer else 0)
            return last[4].pack(last[5] + n, SUBMIT, op, flags, NO_ENGINE, request_id, 2, last[3], n) + segment
    elif len(per_task) == 1 and not shared:
        last = _last_headers[1]
        if last[0] != targets or last[1] != len(per_task[0]) or last[2] != retries:
            last = _last_headers[1] = _submit_header(targets, retries, shared, per_task)
    else:
        last = _submit_header(targets, retries, shared, per_task)
    header = last[3]
    parts = [b"", header]
    size = HEADER_SIZE - 4 + len(header)
    pack = _U32.pack
    append = parts.append
    for segment in shared:
        n = len(segment)  # bytes, bytearray, or a pickle buffer's flat unsigned-byte memoryview
        append(pack(n))
        append(segment)
        size += 4 + n
    segment_count = 1 + len(shared)
    for group in per_task:
        segment_count += len(group)
        for segment in group:
            n = len(segment)
            append(pack(n))
            append(segment)
            size += 4 + n
    flags = (BALANCED if balanced else 0) | (ONE_ANSWER if one_answer else 0)
    parts[0] = _HEADER.pack(size, SUBMIT, op, flags, NO_ENGINE, request_id, segment_count)
    return b"".join(parts)


def _submit_header(targets: Sequence[int], retries: int, shared: Sequence[bytes],
                   per_task: Sequence[Sequence[bytes]]) -> tuple:
    """(a copy of targets, the shared or the one task's segment count, retries, the submission's header
    segment with its length prefix, and for a direct request of one segment the Struct of the frame
    up to that segment and the frame's length without it)."""
    header = _U32_PAIR.pack(retries, len(targets)) + struct.pack(f"<{len(targets)}i", *targets) \
        + _U32_PAIR.pack(len(shared), len(per_task)) + struct.pack(f"<{len(per_task)}I", *map(len, per_task))
    count = len(per_task[0]) if len(per_task) == 1 and not shared else len(shared)
    segment = _U32.pack(len(header)) + header
    # A direct request of one segment: the frame's header, this segment and the next one's length.
    start = struct.Struct(f"<IBBHiQI{len(segment)}sI") if count == 1 and not per_task else None
    return (targets if type(targets) is tuple else list(targets), count, retries, segment, start,
            HEADER_SIZE + len(segment))


# _submit_header() of the last direct request, and of the last call
_last_headers: List[tuple] = [((), -1, -1, b"", None, 0), ((), -1, -1, b"", None, 0)]
_U32_PAIR = struct.Struct("<II")


def accepted(frame: Frame) -> Tuple[int, int]:
    """(first task id, count) of an accepted frame."""
    return struct.unpack_from("<QI", frame.segments[0])


def timing(segment: bytes) -> Tuple[int, int]:
    """(started, completed) in real-time nanoseconds: the first segment of every reply."""
    return struct.unpack_from("<QQ", segment)


def control(op: int, request_id: int, *, engines: Sequence[int] = (), tasks: Sequence[int] = (),
            argument: Optional[str] = None) -> Frame:
    ids = struct.pack(f"<{len(engines)}i", *engines) + struct.pack(f"<{len(tasks)}Q", *tasks)
    segments = [ids] if argument is None else [ids, argument.encode()]
    return Frame(CONTROL, op, 0, NO_ENGINE, request_id, segments)


def id_list(segment: bytes, fmt: str = "i") -> List[int]:
    size = struct.calcsize(fmt)
    n = len(segment) // size
    return list(struct.unpack_from(f"<{n}{fmt}", segment)) if n else []


class EngineRow(NamedTuple):
    """One engine as the controller sees it: a line of `%engines`."""

    id: int
    rank: int
    pid: int
    state: str  # starting, idle, busy, dead
    since: int
    queued: int
    resident_bytes: int
    host: str = "local"  # "local", or the address of an engine that joined over TCP
    can_restart: bool = True  # False for a rank of an mpiexec or srun job, or an engine that joined by hand

    @classmethod
    def parse(cls, line: bytes) -> Optional["EngineRow"]:
        fields = line.decode(errors="replace").split(" ")
        if not (len(fields) in (7, 8) or (len(fields) == 9 and fields[8] == "fixed")):
            return None
        if fields[3] not in ("starting", "idle", "busy", "dead"):
            return None
        try:
            return cls(int(fields[0]), int(fields[1]), int(fields[2]), fields[3],
                       int(fields[4]), int(fields[5]), int(fields[6]),
                       fields[7] if len(fields) >= 8 else "local", len(fields) < 9)
        except ValueError:
            return None
