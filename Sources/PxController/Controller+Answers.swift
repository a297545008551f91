import PxPlatform
import PxWire

// MARK: - Answers to a request in one write

/// What a client is sent for a request, held back so that it arrives in one write and wakes the client
/// once: the `accepted` frame, and for a direct request the replies (and output) of all its tasks.
///
/// A round trip on 4 engines used to wake the client about 4.5 times (the acceptance, then replies
/// as engines finished one by one); each wake-up across CPUs costs tens of microseconds. A batch goes
/// out when its last reply is in, when a load-balanced request's first frame arrives, or after
/// ``Controller/answerHoldNanoseconds`` at the latest, so long tasks show their progress as before.
/// A client that asked for it (``FrameFlags/oneAnswer``) gets a complete batch as one frame.
struct HeldAnswer {
    let owner: Peer
    var frames: [Frame]
    /// Whether a complete batch goes as one ``Answer`` frame.
    let isOneFrame: Bool
    /// Replies still to come before the batch goes out; 0 for a load-balanced request, whose
    /// `accepted` frame goes out with the first reply of any of its tasks, unless it is answered in
    /// one frame (a call): then a batch that expires first is not a whole answer.
    var awaitedReplies: Int
    /// Monotonic nanoseconds when the request was accepted.
    let since: UInt64
}

extension Controller {
    /// The longest a request's answer is held back.
    static let answerHoldNanoseconds: UInt64 = 2_000_000

    /// The largest answer sent as one frame: nesting copies the frames once more, and beyond this
    /// size the cost of a frame more at the client no longer matters.
    static let oneAnswerSizeLimit = 1 << 16

    /// Answers `accepted` to a request of `count` tasks from `first`, held until its tasks answer.
    /// `inOneFrame`: once all of its replies are in, as one ``Answer`` frame.
    func accept(
        _ accepted: Frame,
        first: UInt64,
        count: Int,
        isBalanced: Bool,
        inOneFrame: Bool,
        from peer: Peer
    ) {
        guard count > 0 else { return peer.connection.enqueue(accepted) }
        heldAnswers[first] = HeldAnswer(
            owner: peer,
            frames: [accepted],
            isOneFrame: inOneFrame,  // direct, or balanced of one task: Submission.isWellFormed
            awaitedReplies: isBalanced && !inOneFrame ? 0 : count,
            since: Clock.monotonicNanoseconds
        )
    }

    /// Sends a task's reply or output to its client, in its request's batch while that is held.
    func send(_ frame: Frame, of record: TaskRecord, isReply: Bool) {
        guard var held = heldAnswers[record.request] else { return record.owner.connection.enqueue(frame) }
        held.frames.append(frame)
        if isReply && held.awaitedReplies > 0 { held.awaitedReplies -= 1 }
        heldAnswers[record.request] = held
        if isReply && held.awaitedReplies == 0 { releaseAnswer(record.request) }
    }

    /// Sends the held frames of the request whose first task is `request`.
    func releaseAnswer(_ request: UInt64) {
        guard let held = heldAnswers.removeValue(forKey: request) else { return }
        guard !held.owner.isClosed else { return }
        if held.isOneFrame && held.awaitedReplies == 0, let accepted = held.frames.first {
            let answer = Answer(requestID: accepted.id, frames: held.frames)
            if answer.encodedSize <= Controller.oneAnswerSizeLimit {
                return held.owner.connection.enqueue(answer.frame)
            }
        }
        for frame in held.frames { held.owner.connection.enqueue(frame) }
    }

    /// Sends the answers held for longer than ``answerHoldNanoseconds``.
    func releaseExpiredAnswers() {
        guard !heldAnswers.isEmpty else { return }
        let now = Clock.monotonicNanoseconds
        for (request, held) in heldAnswers where now &- held.since >= Controller.answerHoldNanoseconds {
            releaseAnswer(request)
        }
    }

    /// Drops what was held for a client that went away.
    func dropAnswers(of peer: Peer) {
        heldAnswers = heldAnswers.filter { $0.value.owner !== peer }
    }
}
