import Crypto
import PxWire
import Testing

@testable import PxSecurity

@Suite struct SealedFramesTests {
    let keys: (engine: SessionKeys, controller: SessionKeys) = {
        let key = ClusterKey.random()
        var engine = KeyExchange.Initiator(key: key, cluster: "c")
        var controller = KeyExchange.Responder(key: key, cluster: "c")
        guard case .reply(let challenge) = try! controller.receive(engine.hello),
            case .accepted(let verdict, let controllerKeys) = try! controller.receive(
                try! engine.respond(to: challenge)
            )
        else { fatalError("exchange failed") }
        return (try! engine.finish(verdict), controllerKeys)
    }()

    let frames = [
        Frame(kind: .heartbeat),
        Frame(kind: .reply, op: 1, flags: .failed, engine: 2, id: 77, segments: [[], Bytes(text: "ok")]),
        Frame(kind: .stream, op: 1, engine: 0, id: 5, segments: [Bytes(repeating: 0x41, count: 70_000)]),
    ]

    func sealed(_ frames: [Frame]) -> Bytes {
        var sealer = keys.engine.makeSealer()
        var stream = Bytes()
        for frame in frames { sealer.seal(frame, into: &stream) }
        return stream
    }

    @Test func framesOpenInOrderFedByteByByte() throws {
        var opener = keys.controller.makeOpener()
        var opened: [Frame] = []
        for byte in sealed(frames) {
            opener.feed([byte])
            while let frame = try opener.nextFrame() { opened.append(frame) }
        }
        #expect(opened == frames)
        #expect(opener.sequence == 3)
    }

    @Test func largeSegmentsPassedAsTheyAreSealTheSameBytes() throws {
        var sealer = keys.engine.makeSealer()
        var pieces: [Bytes] = []
        var stream = Bytes()
        for frame in frames {
            sealer.seal(frame, into: &stream, largeSegmentSize: 1000) { encoded, segment in
                pieces += [encoded, segment]
                encoded = []
            }
        }
        #expect(pieces.count == 2)
        #expect(pieces.joined() + stream == sealed(frames))
    }

    @Test func largeFramesOpenFedInChunks() throws {
        let large = Bytes((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        let frames =
            [Frame(kind: .reply, id: 1, segments: [Bytes(text: "ok"), large])] + frames + [
                Frame(kind: .task, id: 2, segments: [large, Bytes(text: "small last")])
            ]
        let stream = sealed(frames)
        var opener = keys.controller.makeOpener()
        var opened: [Frame] = []
        for start in stride(from: 0, to: stream.count, by: 1 << 18) {
            opener.feed(stream[start..<min(start + (1 << 18), stream.count)])
            while let frame = try opener.nextFrame() { opened.append(frame) }
        }
        #expect(opened == frames)
        #expect(opener.bufferedByteCount == 0)
    }

    @Test func anyAlteredByteIsRejected() throws {
        let stream = sealed([frames[1]])
        // Every byte after the length prefix is covered by the MAC (or is the MAC).
        for index in 4..<stream.count {
            var tampered = stream
            tampered[index] ^= 0x01
            var opener = keys.controller.makeOpener()
            opener.feed(tampered)
            expectError(SealError.self) { try opener.nextFrame() }
        }
    }

    @Test func aReplayedFrameIsRejected() throws {
        let one = sealed([frames[0]])
        var opener = keys.controller.makeOpener()
        opener.feed(one + one)
        #expect(try opener.nextFrame() == frames[0])
        expectError(SealError.outOfSequence(expected: 1, got: 0)) { try opener.nextFrame() }
    }

    @Test func reorderedFramesAreRejected() throws {
        var sealer = keys.engine.makeSealer()
        let first = sealer.seal(frames[0])
        let second = sealer.seal(frames[1])
        var opener = keys.controller.makeOpener()
        opener.feed(second + first)
        expectError(SealError.outOfSequence(expected: 0, got: 1)) { try opener.nextFrame() }
    }

    @Test func aFrameSealedForTheOtherDirectionIsRejected() throws {
        // Reflection: what the controller sent cannot be played back to it as the engine's.
        var controllerSealer = keys.controller.makeSealer()
        var opener = keys.controller.makeOpener()
        opener.feed(controllerSealer.seal(frames[0]))
        expectError(SealError.badMAC(sequence: 0)) { try opener.nextFrame() }
    }

    @Test func plainFramesAreNotAccepted() throws {
        var opener = keys.controller.makeOpener()
        opener.feed(FrameEncoder.encode(Frame(kind: .hello, segments: [Bytes(repeating: 1, count: 64)])))
        expectError(SealError.self) { try opener.nextFrame() }
    }

    @Test func oversizedAndTruncatedLengthsAreRejectedFromTheirPrefix() throws {
        var opener = keys.controller.makeOpener(maximumFrameSize: 1_000)
        opener.feed(sealed([frames[2]]).prefix(4))
        expectError(SealError.oversized(length: 70_000 + 4 + 24 + 8 + 32 + 4 + 4 - 4, limit: 1_000)) {
            try opener.nextFrame()
        }
        var short = keys.controller.makeOpener()
        short.feed([10, 0, 0, 0])
        expectError(SealError.truncated(length: 10)) { try short.nextFrame() }
    }

    @Test func aPartialFrameWaitsForTheRest() throws {
        let stream = sealed([frames[1]])
        var opener = keys.controller.makeOpener()
        opener.feed(stream.dropLast())
        #expect(try opener.nextFrame() == nil)
        opener.feed(stream.suffix(1))
        #expect(try opener.nextFrame() == frames[1])
    }

    @Test func aReaderSwitchesToSealedFramesMidStream() throws {
        var reader = FrameReader(maximumFrameSize: KeyExchange.preAuthenticationFrameLimit)
        let plain = Frame(kind: .authAccepted)
        reader.feed(FrameEncoder.encode(plain) + sealed([frames[0], frames[1]]))
        #expect(try reader.nextFrame() == plain)
        reader.seal(with: keys.controller.makeOpener())
        reader.maximumFrameSize = 1 << 31
        #expect(try reader.nextFrame() == frames[0])
        #expect(try reader.nextFrame() == frames[1])
        #expect(try reader.nextFrame() == nil)
    }

    @Test func aPlainReaderCapsFramesBeforeAuthentication() throws {
        var reader = FrameReader(maximumFrameSize: KeyExchange.preAuthenticationFrameLimit)
        reader.feed(FrameEncoder.encode(Frame(kind: .authHello, segments: [Bytes(repeating: 0, count: 600)])))
        expectError(FrameError.self) { try reader.nextFrame() }
    }

    @Test func aRecordsMACIsHMACSHA256OfItsSequenceNumberAndFrame() throws {
        // The same MACs as swift-crypto's HMAC<SHA256>, record after record (each starts afresh
        // from the session key), for frames of one SHA-256 block and of many.
        let key = SymmetricKey(size: .bits256)
        var sealer = FrameSealer(key: key)
        for (index, frame) in (frames + frames).enumerated() {
            let record = sealer.seal(frame)
            let macStart = record.count - SealedRecord.macCount
            #expect(record.readLittleEndian(UInt64.self, at: 4) == UInt64(index))
            let expected = HMAC<SHA256>.authenticationCode(for: record[4..<macStart], using: key)
            #expect(Bytes(expected) == Bytes(record[macStart...]))
        }
    }

    @Test func theMACMatchesRFC4231() {
        // RFC 4231, test cases 2 (a key shorter than a block) and 6 (longer: it is hashed first).
        let cases: [(key: Bytes, data: Bytes, mac: String)] = [
            (
                Bytes(text: "Jefe"), Bytes(text: "what do ya want for nothing?"),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            ),
            (
                Bytes(repeating: 0xaa, count: 131),
                Bytes(text: "Test Using Larger Than Block-Size Key - Hash Key First"),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
            ),
        ]
        for (key, data, mac) in cases {
            let authenticator = FrameAuthenticator(key: SymmetricKey(data: key))
            for _ in 0..<2 {
                var computed = Bytes(repeating: 0, count: SealedRecord.macCount)
                data.withUnsafeBytes { bytes in
                    computed.withUnsafeMutableBufferPointer { authenticator.authenticate(bytes, into: $0.baseAddress!) }
                }
                #expect(computed.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() == mac)
                #expect(
                    data.withUnsafeBytes { bytes in
                        computed.withUnsafeBytes { authenticator.isAuthentic(bytes, mac: $0) }
                    }
                )
            }
        }
    }
}
