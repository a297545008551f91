import CCryptoBoringSSL
@preconcurrency import Crypto
import Foundation
import PxWire

/// Why a sealed stream was rejected. Any of these closes the connection, and is logged.
public enum SealError: Error, Equatable, CustomStringConvertible {
    /// The MAC does not match: the record was altered, or made without the session key.
    case badMAC(sequence: UInt64)
    /// A record with a valid MAC came out of order: replayed, reordered or dropped.
    case outOfSequence(expected: UInt64, got: UInt64)
    /// The record announces more than the limit.
    case oversized(length: Int, limit: Int)
    /// The record is too short to hold a sequence number, a frame and a MAC.
    case truncated(length: Int)
    /// The authenticated content is not one valid frame.
    case malformedFrame(FrameError)

    public var description: String {
        switch self {
        case .badMAC(let sequence): "frame \(sequence) has a bad MAC (altered, or not made with the cluster's key)"
        case .outOfSequence(let expected, let got): "frame \(got) came when \(expected) was due (replayed or reordered)"
        case .oversized(let length, let limit): "sealed frame of \(length) bytes exceeds the limit of \(limit)"
        case .truncated(let length): "sealed frame of \(length) bytes is too short"
        case .malformedFrame(let error): "sealed frame: \(error)"
        }
    }
}

/// The wire form of a frame on an authenticated connection:
/// `u32 length | u64 sequence | frame (its own wire form) | HMAC-SHA256(session key, sequence | frame)`.
///
/// Sequence numbers start at 0 on each direction of each connection, and the session keys are new
/// for each connection (``KeyExchange``), so a frame copied from another connection or an earlier
/// point of this one never opens.
public enum SealedRecord {
    public static let macCount = SHA256.byteCount
    /// Bytes a sealed record adds to a frame: its length, its sequence number and its MAC.
    public static let overhead = 4 + 8 + macCount
}

/// Seals the frames one side sends. One per connection; not to be shared between threads.
public struct FrameSealer: Sendable {
    private let authenticator: FrameAuthenticator
    /// The sequence number of the next frame.
    public private(set) var sequence: UInt64 = 0

    init(key: SymmetricKey) { self.authenticator = FrameAuthenticator(key: key) }

    /// Appends the sealed form of `frame` to `buffer`.
    public mutating func seal(_ frame: Frame, into buffer: inout Bytes) {
        let start = buffer.count
        buffer.appendLittleEndian(UInt32(0))
        buffer.appendLittleEndian(sequence)
        FrameEncoder.encode(frame, into: &buffer)
        let macStart = buffer.count
        buffer.append(contentsOf: SealedRecord.emptyMAC)
        buffer.withUnsafeMutableBufferPointer { record in
            authenticator.authenticate(
                UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: record[(start + 4)..<macStart])),
                into: record.baseAddress! + macStart
            )
        }
        let length = UInt32(truncatingIfNeeded: buffer.count - start - 4)
        withUnsafeBytes(of: length.littleEndian) { raw in
            for index in 0..<4 { buffer[start + index] = raw[index] }
        }
        sequence &+= 1
    }

    /// Appends the sealed form of `frame` to `buffer`, except the bytes of each segment of
    /// `largeSegmentSize` or more, which go to `passLarge` as in
    /// ``FrameEncoder/encode(_:into:largeSegmentSize:passingLarge:)``; the MAC covers them all.
    public mutating func seal(
        _ frame: Frame,
        into buffer: inout Bytes,
        largeSegmentSize: Int,
        passingLarge passLarge: (inout Bytes, Bytes) -> Void
    ) {
        buffer.appendLittleEndian(UInt32(truncatingIfNeeded: 8 + frame.encodedSize + SealedRecord.macCount))
        var macFrom = buffer.count
        buffer.appendLittleEndian(sequence)
        authenticator.begin()
        FrameEncoder.encode(frame, into: &buffer, largeSegmentSize: largeSegmentSize) { buffer, segment in
            buffer.withUnsafeBytes { authenticator.update(UnsafeRawBufferPointer(rebasing: $0[macFrom...])) }
            segment.withUnsafeBytes { authenticator.update($0) }
            passLarge(&buffer, segment)
            macFrom = buffer.count
        }
        buffer.withUnsafeBytes { authenticator.update(UnsafeRawBufferPointer(rebasing: $0[macFrom...])) }
        let macStart = buffer.count
        buffer.append(contentsOf: SealedRecord.emptyMAC)
        buffer.withUnsafeMutableBufferPointer { authenticator.finish(into: $0.baseAddress! + macStart) }
        sequence &+= 1
    }

    /// The sealed form of `frame`.
    public mutating func seal(_ frame: Frame) -> Bytes {
        var buffer = Bytes()
        seal(frame, into: &buffer)
        return buffer
    }
}

/// Opens the sealed frames one side receives, fed in chunks of any size.
///
/// A record's length is checked before it is buffered, its MAC before anything in it is read, and
/// its sequence number after that. Frames are read in place, where they were received.
public struct FrameOpener: Sendable {
    private let authenticator: FrameAuthenticator
    /// The largest record accepted, length prefix included.
    public var maximumFrameSize: Int
    /// The sequence number the next record must carry.
    public private(set) var sequence: UInt64 = 0
    private var records = RecordBuffer()

    init(key: SymmetricKey, maximumFrameSize: Int) {
        self.authenticator = FrameAuthenticator(key: key)
        self.maximumFrameSize = maximumFrameSize
    }

    /// Bytes received but not yet part of a whole record.
    public var bufferedByteCount: Int { records.count }

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 { records.feed(bytes) }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) { records.feed(bytes) }

    /// The next whole frame, or nil when more bytes are needed.
    ///
    /// - Throws: ``SealError``; the opener must not be used after that.
    public mutating func nextFrame() throws(SealError) -> Frame? {
        guard let length = records.nextLength else { return nil }
        guard length + 4 <= maximumFrameSize else { throw .oversized(length: length + 4, limit: maximumFrameSize) }
        guard length >= 8 + Frame.headerSize + SealedRecord.macCount else { throw .truncated(length: length) }
        guard records.hasWholeRecord(ofLength: length) else {
            records.reserveRecord(ofLength: length)
            return nil
        }

        let start = records.nextRecordStart
        let macStart = start + length - SealedRecord.macCount
        let recordSequence = records.bytes.readLittleEndian(UInt64.self, at: start)
        let isAuthentic = records.bytes.withUnsafeBytes { raw in
            authenticator.isAuthentic(
                UnsafeRawBufferPointer(rebasing: raw[start..<macStart]),
                mac: UnsafeRawBufferPointer(rebasing: raw[macStart..<(macStart + SealedRecord.macCount)])
            )
        }
        guard isAuthentic else { throw .badMAC(sequence: recordSequence) }
        guard recordSequence == sequence else { throw .outOfSequence(expected: sequence, got: recordSequence) }

        // The frame inside has its own length prefix, which must fill the record.
        let frameStart = start + 8
        guard Int(records.bytes.readLittleEndian(UInt32.self, at: frameStart)) == macStart - frameStart - 4 else {
            throw .malformedFrame(.malformedSegments)
        }
        let frame: Frame
        do throws(FrameError) {
            if var record = records.takeLargeRecord(ofLength: length) {
                frame = try FrameDecoder.frame(taking: &record, from: frameStart + 4, to: macStart)
            } else {
                frame = try FrameDecoder.frame(in: records.bytes, from: frameStart + 4, to: macStart)
                records.consumeRecord(ofLength: length)
            }
        } catch {
            throw .malformedFrame(error)
        }
        sequence &+= 1
        return frame
    }
}

extension SealedRecord {
    /// Room for a record's MAC, filled in place.
    static let emptyMAC = Bytes(repeating: 0, count: macCount)
}

/// HMAC-SHA256 under one session key, for the records of one direction of one connection.
///
/// It is BoringSSL's HMAC, from the copy of BoringSSL that swift-crypto builds (its
/// `CCryptoBoringSSL` module), the same construction and the same MACs as swift-crypto's
/// `HMAC<SHA256>` (a test checks one against the other). The key's pads are hashed once, when the
/// connection is sealed; each record then costs the SHA-256 blocks of its own bytes and nothing
/// else: no allocation, and none of the generic code around swift-crypto's `HMAC`, which made a
/// frame's MAC cost 2-3 times its hashing. Not to be used by two threads at once (the sealer and
/// the opener that hold it are not).
final class FrameAuthenticator: @unchecked Sendable {
    private let context: UnsafeMutablePointer<HMAC_CTX>

    init(key: SymmetricKey) {
        context = .allocate(capacity: 1)
        CCryptoBoringSSL_HMAC_CTX_init(context)
        let isKeyed = key.withUnsafeBytes { raw in
            CCryptoBoringSSL_HMAC_Init_ex(context, raw.baseAddress, raw.count, CCryptoBoringSSL_EVP_sha256(), nil)
        }
        // It fails only when memory runs out.
        precondition(isKeyed == 1, "HMAC-SHA256 could not be keyed")
    }

    deinit {
        CCryptoBoringSSL_HMAC_CTX_cleanse(context)
        context.deallocate()
    }

    /// Writes the MAC of `bytes` to the ``SealedRecord/macCount`` bytes at `mac`.
    func authenticate(_ bytes: UnsafeRawBufferPointer, into mac: UnsafeMutablePointer<UInt8>) {
        begin()
        update(bytes)
        finish(into: mac)
    }

    /// Starts a MAC of bytes given in pieces (``update(_:)``, then ``finish(into:)``).
    func begin() {
        // No key and no digest: start again from the key's inner pad, hashed when it was keyed.
        let isStarted = CCryptoBoringSSL_HMAC_Init_ex(context, nil, 0, nil, nil) == 1
        precondition(isStarted, "HMAC-SHA256 failed")
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        let isUpdated = CCryptoBoringSSL_HMAC_Update(context, bytes.baseAddress, bytes.count) == 1
        precondition(isUpdated, "HMAC-SHA256 failed")
    }

    /// Writes the MAC of the pieces given since ``begin()`` to the ``SealedRecord/macCount`` bytes at `mac`.
    func finish(into mac: UnsafeMutablePointer<UInt8>) {
        var count: UInt32 = 0
        let isDone = CCryptoBoringSSL_HMAC_Final(context, mac, &count) == 1
        precondition(isDone && count == SealedRecord.macCount, "HMAC-SHA256 failed")
    }

    /// Whether `mac` is the MAC of `bytes`, compared in constant time.
    func isAuthentic(_ bytes: UnsafeRawBufferPointer, mac: UnsafeRawBufferPointer) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: SealedRecord.macCount) { expected in
            authenticate(bytes, into: expected.baseAddress!)
            return mac.count == SealedRecord.macCount
                && CCryptoBoringSSL_CRYPTO_memcmp(expected.baseAddress, mac.baseAddress, SealedRecord.macCount) == 0
        }
    }
}
