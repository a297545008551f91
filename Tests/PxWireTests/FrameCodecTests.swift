import Testing

@testable import PxWire

@Suite struct FrameCodecTests {
    static let samples: [Frame] = [
        Frame(kind: .hello),
        Frame(kind: .task, op: EngineOp.execute.rawValue, engine: 3, id: 42, segments: [Bytes(text: "print(rank)")]),
        Frame(
            kind: .reply,
            op: 1,
            flags: [.failed],
            engine: -1,
            id: .max,
            segments: [[], [0, 255, 10], Bytes(text: "é")]
        ),
        Frame(kind: .stream, op: 2, engine: 0, id: 7, segments: [Bytes(repeating: 0x41, count: 70_000)]),
    ]

    @Test(arguments: samples)
    func roundTripsWhole(_ frame: Frame) throws {
        var decoder = FrameDecoder()
        decoder.feed(FrameEncoder.encode(frame))
        #expect(try decoder.nextFrame() == frame)
        #expect(try decoder.nextFrame() == nil)
        #expect(decoder.bufferedByteCount == 0)
    }

    /// A large record is received into room of its own, its last segment is that room (not a
    /// copy), and the room goes once the frame is taken; what came after it in a read still follows.
    @Test(arguments: [1 << 16, 1_000_003])
    func largeFramesDecodeInChunks(chunkSize: Int) throws {
        let large = Bytes((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        let frames = [
            Frame(kind: .reply, engine: 1, id: 2, segments: [Bytes(text: "ok"), large]),
            Frame(kind: .heartbeat),
            Frame(kind: .reply, engine: 1, id: 3, segments: [large, Bytes(text: "small last")]),
            Frame(kind: .stream, segments: [Bytes(text: "after")]),
        ]
        let stream = frames.flatMap { FrameEncoder.encode($0) }
        var decoder = FrameDecoder()
        var decoded: [Frame] = []
        for start in stride(from: 0, to: stream.count, by: chunkSize) {
            decoder.feed(stream[start..<min(start + chunkSize, stream.count)])
            while let frame = try decoder.nextFrame() { decoded.append(frame) }
        }
        #expect(decoded == frames)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func decodesByteByByte() throws {
        var stream = Bytes()
        for frame in Self.samples { FrameEncoder.encode(frame, into: &stream) }
        var decoder = FrameDecoder()
        var decoded: [Frame] = []
        for byte in stream {
            decoder.feed([byte])
            while let frame = try decoder.nextFrame() { decoded.append(frame) }
        }
        #expect(decoded == Self.samples)
    }

    @Test(arguments: [1, 2, 3, 5, 8, 13, 99])
    func decodesRandomChunks(seed: UInt64) throws {
        var generator = SplitMix(seed: seed)
        var stream = Bytes()
        var expected: [Frame] = []
        for _ in 0..<50 {
            let frame = Self.samples[Int(generator.next() % UInt64(Self.samples.count))]
            expected.append(frame)
            FrameEncoder.encode(frame, into: &stream)
        }
        var decoder = FrameDecoder()
        var decoded: [Frame] = []
        var offset = 0
        while offset < stream.count {
            let size = min(stream.count - offset, 1 + Int(generator.next() % 5_000))
            decoder.feed(stream[offset..<offset + size])
            offset += size
            while let frame = try decoder.nextFrame() { decoded.append(frame) }
        }
        #expect(decoded == expected)
    }

    @Test func waitsForTruncatedFrames() throws {
        let bytes = FrameEncoder.encode(Self.samples[1])
        for cut in 0..<bytes.count {
            var decoder = FrameDecoder()
            decoder.feed(bytes[0..<cut])
            #expect(try decoder.nextFrame() == nil)
        }
    }

    @Test func rejectsOversizedFramesFromTheLengthAlone() {
        var decoder = FrameDecoder(maximumFrameSize: 1_024)
        var prefix = Bytes()
        prefix.appendLittleEndian(UInt32(10_000))
        decoder.feed(prefix)
        #expect(throws: FrameError.oversized(length: 10_004, limit: 1_024)) { try decoder.nextFrame() }
    }

    @Test func rejectsAFrameTooShortForItsHeader() {
        var decoder = FrameDecoder()
        decoder.feed([3, 0, 0, 0, 1, 2, 3])
        #expect(throws: FrameError.truncatedHeader(length: 3)) { try decoder.nextFrame() }
    }

    @Test func rejectsUnknownKinds() {
        var bytes = FrameEncoder.encode(Frame(kind: .hello))
        bytes[4] = 250
        var decoder = FrameDecoder()
        decoder.feed(bytes)
        #expect(throws: FrameError.unknownKind(250)) { try decoder.nextFrame() }
    }

    @Test func rejectsSegmentsThatOverrunTheFrame() {
        var bytes = FrameEncoder.encode(Frame(kind: .task, segments: [[1, 2, 3]]))
        bytes[24] = 200  // The segment claims 200 bytes inside a frame that holds 3.
        var decoder = FrameDecoder()
        decoder.feed(bytes)
        #expect(throws: FrameError.malformedSegments) { try decoder.nextFrame() }
    }

    @Test func rejectsAHostileSegmentCount() {
        var bytes = FrameEncoder.encode(Frame(kind: .task))
        bytes[20] = 0xFF
        bytes[21] = 0xFF
        bytes[22] = 0xFF
        bytes[23] = 0x7F
        var decoder = FrameDecoder()
        decoder.feed(bytes)
        #expect(throws: FrameError.malformedSegments) { try decoder.nextFrame() }
    }

    @Test(arguments: [11, 12, 13, 14])
    func garbageNeverCrashesTheDecoder(seed: UInt64) {
        var generator = SplitMix(seed: seed)
        for _ in 0..<2_000 {
            var decoder = FrameDecoder(maximumFrameSize: 1 << 16)
            let garbage = (0..<Int(generator.next() % 200)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            decoder.feed(garbage)
            // Either frames, a need for more bytes, or an error: never a crash or a hang.
            for _ in 0..<10 {
                guard let frame = try? decoder.nextFrame() else { break }
                #expect(frame.encodedSize <= 1 << 16)
            }
        }
    }
}

@Suite struct MessageTests {
    @Test func submissionRoundTrips() {
        let direct = Submission(op: .execute, targets: [0, 2, 3], shared: [Bytes(text: "x = 1")])
        let scattered = Submission(
            op: .import,
            targets: [0, 1],
            shared: [Bytes(text: "2")],
            perTask: [[[1]], [[2], [3]]]
        )
        let balanced = Submission(
            op: .mapChunk,
            isBalanced: true,
            retries: 3,
            shared: [Bytes(text: "f")],
            perTask: [[[1]], [[2]], []]
        )
        let packedAtHome = Submission(
            op: .apply,
            isBalanced: true,
            isPackedAtHome: true,
            perTask: [[Bytes(text: "divmod"), Bytes(text: "17, 5")]]
        )
        var storedAtHome = packedAtHome
        storedAtHome.storedAtHome = ["_", "q", "_pxsh_values_3"]
        var oneAnswer = direct
        oneAnswer.isAnsweredInOneFrame = true
        let oneCall = Submission(op: .call, isBalanced: true, isAnsweredInOneFrame: true, perTask: [[[1]]])
        for submission in [direct, scattered, balanced, packedAtHome, storedAtHome, oneAnswer, oneCall] {
            #expect(Submission(submission.frame(requestID: 9)) == submission)
        }
        #expect(oneAnswer.frame(requestID: 9).flags == [.oneAnswer])
        #expect(oneCall.frame(requestID: 9).flags == [.balanced, .oneAnswer])
        #expect(storedAtHome.frame(requestID: 9).flags == [.balanced, .packedAtHome, .storedAtHome])
        #expect(balanced.arguments(ofTask: 1) == [Bytes(text: "f"), [2]])
        #expect(direct.taskCount == 3)
    }

    @Test func malformedSubmissionsAreRejected() {
        var frame = Submission(op: .execute, targets: [0], shared: [[1]]).frame(requestID: 1)
        frame.segments.removeLast()
        #expect(Submission(frame) == nil)
        #expect(Submission(Frame(kind: .submit, op: 1, segments: [[1, 2]])) == nil)
        #expect(Submission(Frame(kind: .submit, op: 200, segments: [])) == nil)
        // A direct submission needs one set of per-task segments per target.
        #expect(Submission(Submission(op: .import, targets: [0, 1], perTask: [[[1]]]).frame(requestID: 1)) == nil)
        // A call packed at home is a load-balanced apply of a function text and an argument text.
        for wrong in [
            Submission(op: .apply, isPackedAtHome: true, perTask: [[[1], [2]]]),
            Submission(op: .call, isBalanced: true, isPackedAtHome: true, perTask: [[[1], [2]]]),
            Submission(op: .apply, isBalanced: true, isPackedAtHome: true, perTask: [[[1]]]),
            // A value stored at home: one call packed there.
            Submission(op: .apply, isBalanced: true, storedAtHome: ["_"], perTask: [[[1], [2]]]),
            // A load-balanced request is answered in one frame only when it is one task.
            Submission(op: .call, isBalanced: true, isAnsweredInOneFrame: true, perTask: [[[1]], [[2]]]),
            Submission(
                op: .apply,
                isBalanced: true,
                isPackedAtHome: true,
                storedAtHome: ["_"],
                perTask: [[[1], [2]]] + [[[1], [2]]]
            ),
        ] {
            #expect(Submission(wrong.frame(requestID: 1)) == nil)
        }
    }

    /// An answer's segments are its frames without their length prefixes: its body is those frames.
    @Test func answerRoundTripsAndIsItsFramesBackToBack() throws {
        let frames = [
            Accepted(first: 7, count: 2).frame(requestID: 3),
            Frame(kind: .stream, op: 1, engine: 0, id: 7, segments: [Bytes(text: "hi\n")]),
            Frame(kind: .reply, op: 1, engine: 0, id: 7, segments: [TaskTiming(started: 1, completed: 2).segment]),
            Frame(kind: .reply, op: 1, flags: .failed, engine: 1, id: 8, segments: [[0], Bytes(text: "error")]),
        ]
        let answer = Answer(requestID: 3, frames: frames)
        let frame = answer.frame
        #expect(frame.kind == .answer && frame.id == 3 && frame.flags == .failed)
        #expect(Answer(frame) == answer)
        let encoded = FrameEncoder.encode(frame)
        #expect(encoded.count == answer.encodedSize)
        #expect(Array(encoded[Frame.headerSize...]) == frames.flatMap { FrameEncoder.encode($0) })
        #expect(Answer(requestID: 3, frames: Array(frames.prefix(3))).frame.flags == [])
        var garbled = frame
        garbled.segments[1].removeLast()
        #expect(Answer(garbled) == nil)
    }

    @Test func helloNamesTheRoleAndVersion() {
        let hello = Hello(role: .engine, fields: ["3", "3", "1234"])
        #expect(Hello(hello.frame) == hello)
        #expect(
            Hello(Frame(kind: .hello, segments: [Bytes(text: "http"), Bytes(text: "1"), Bytes(text: "client")])) == nil
        )
    }

    @Test func eventsRoundTrip() {
        let row = EngineStatus(id: 2, rank: 2, pid: 99, state: .busy, since: 123, queued: 4, residentBytes: 25_000_000)
        for event in [
            ClusterEvent.engineDied(engine: 2, rank: 2, cause: "signal 9 (SIGKILL)", isRestarting: true),
            .engineDied(engine: 1, rank: 1, cause: "exit status 1", isRestarting: false), .engineStarted(row),
            .taskRetried(task: 77, engine: 1), .notice("hello"),
            .engineDied(engine: 3, rank: 3, cause: "no heartbeat for 6 s", isRestarting: false, host: "10.1.0.2"),
            .engineStarted(
                EngineStatus(
                    id: 3,
                    rank: 3,
                    pid: 7,
                    state: .idle,
                    since: 1,
                    queued: 0,
                    residentBytes: -1,
                    host: "10.1.0.2"
                )
            ),
            // A rank of an mpiexec job: it cannot be restarted.
            .engineStarted(
                EngineStatus(
                    id: 4,
                    rank: 4,
                    pid: 8,
                    state: .busy,
                    since: 1,
                    queued: 1,
                    residentBytes: -1,
                    host: "127.0.0.1",
                    canRestart: false
                )
            ),
        ] {
            #expect(ClusterEvent(event.frame) == event)
        }
        #expect(EngineStatus(line: "4 4 8 busy 1 1 -1 127.0.0.1 fixed")?.canRestart == false)
        #expect(EngineStatus(line: "4 4 8 busy 1 1 -1 127.0.0.1")?.canRestart == true)
        #expect(EngineStatus(line: "4 4 8 busy 1 1 -1 127.0.0.1 other") == nil)
    }
}

/// A small deterministic generator, so random tests are reproducible.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Frame: CustomTestStringConvertible {
    public var testDescription: String { "\(kind) op \(op) id \(id) with \(segments.count) segments" }
}
