/// Two measures taken side by side, for a target that is their ratio: pairs of blocks, one block of each side
/// run back to back.
///
/// On a shared VM the machine's speed drifts over seconds and minutes, so the ratio of two medians taken one
/// after the other measures the drift as much as the code. Here a pair's two blocks run within milliseconds of
/// each other, and which side goes first alternates from pair to pair (A B, B A, A B, ...), so that a steady
/// drift falls on both sides alike. Each pair gives one ratio, the median of its subject block over the median
/// of its reference block; the ratios' median is the figure, and their min and max its spread.
public struct InterleavedBlocks: Equatable, Sendable {
    public enum Side: Hashable, Sendable {
        /// The measure that is judged, e.g. Python's `execute`.
        case subject
        /// The measure it is judged against, e.g. `%px pass`.
        case reference
    }

    /// One block to run: which pair, which side.
    public struct Step: Equatable, Sendable {
        public var pair: Int
        public var side: Side

        public init(pair: Int, side: Side) {
            self.pair = pair
            self.side = side
        }
    }

    public let pairs: Int
    /// Each side's blocks by pair; nil until recorded.
    private var blocks: [Side: [[Double]?]]

    public init(pairs: Int) {
        self.pairs = pairs
        blocks = [.subject: Array(repeating: nil, count: pairs), .reference: Array(repeating: nil, count: pairs)]
    }

    /// Runs the blocks of `sides` in ``steps(for:)``'s order, `block` timing each, and keeps their samples.
    public static func measure(
        pairs: Int,
        sides: Set<Side>,
        block: (Side) throws -> [Double]
    ) rethrows -> InterleavedBlocks {
        var blocks = InterleavedBlocks(pairs: pairs)
        for step in blocks.steps(for: sides) { blocks.record(try block(step.side), at: step) }
        return blocks
    }

    /// The blocks of `sides` in the order to run them: the reference first in even pairs, the subject first in
    /// odd ones. With one side only, its blocks simply follow each other.
    public func steps(for sides: Set<Side> = [.subject, .reference]) -> [Step] {
        (0..<pairs).flatMap { pair in
            let order: [Side] = pair.isMultiple(of: 2) ? [.reference, .subject] : [.subject, .reference]
            return order.filter(sides.contains).map { Step(pair: pair, side: $0) }
        }
    }

    /// Keeps the timed samples of one block.
    public mutating func record(_ samples: [Double], at step: Step) {
        blocks[step.side]?[step.pair] = samples
    }

    /// Every sample of `side`, all blocks together, as if measured in one series.
    public func samples(of side: Side) -> [Double] {
        (blocks[side] ?? []).flatMap { $0 ?? [] }
    }

    /// Per pair with both blocks recorded: the median of the subject's block over the median of the reference's.
    public var ratios: [Double] {
        (0..<pairs).compactMap { pair in
            guard let subject = blocks[.subject]?[pair].flatMap(Summary.init),
                let reference = blocks[.reference]?[pair].flatMap(Summary.init),
                reference.median > 0
            else { return nil }
            return subject.median / reference.median
        }
    }
}
