/// Which engines a command addresses: `all`, `0,2`, `0-3`, `0-2,5`, `1:3`, `::2` or `-1`.
///
/// Integers are engine ids; `A-B` is the ids A to B inclusive, the form output labels use
/// (`[stdout:0-3]`); a negative integer counts from the end of the engine list, and slices apply
/// to the list of live engine ids, as in ipyparallel.
public enum TargetSpec: Equatable, Sendable, CustomStringConvertible {
    case all
    case ids([Int])
    case slice(start: Int?, stop: Int?, step: Int?)

    /// Parses a target spec; nil when it is not one.
    public init?(_ text: String) {
        let text = text.trimmingSpaces
        if text == "all" {
            self = .all
        } else if text.contains(":") {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 3 else { return nil }
            func bound(_ index: Int) -> Int?? {
                guard index < parts.count, !parts[index].isEmpty else { return .some(nil) }
                return Int(parts[index]).map { .some($0) } ?? nil
            }
            guard let start = bound(0), let stop = bound(1), let step = bound(2), step != 0 else { return nil }
            self = .slice(start: start, stop: stop, step: step)
        } else {
            var ids: [Int] = []
            for part in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingSpaces }) {
                if let id = Int(part) {
                    ids.append(id)
                } else if let dash = part.dropFirst().firstIndex(of: "-"), let low = Int(part[..<dash]),
                    let high = Int(part[part.index(after: dash)...]), low >= 0, low <= high
                {
                    // `0-3`, as in the labels `[stdout:0-3]`.
                    ids += Array(low...high)
                } else {
                    return nil
                }
            }
            guard !ids.isEmpty else { return nil }
            self = .ids(ids)
        }
    }

    public var description: String {
        switch self {
        case .all: "all"
        case .ids(let ids): ids.map(String.init).joined(separator: ",")
        case .slice(let start, let stop, let step):
            "\(start.map(String.init) ?? ""):\(stop.map(String.init) ?? "")" + (step.map { ":\($0)" } ?? "")
        }
    }

    /// The engine ids this spec means, given the live engines in id order.
    ///
    /// - Throws: ``TargetError`` for an id that is not an engine, or a spec that selects none.
    public func resolve(among engines: [Int32]) throws -> [Int32] {
        let selected: [Int32]
        switch self {
        case .all:
            selected = engines
        case .ids(let ids):
            selected = try ids.map { id in
                if id < 0 {
                    guard -id <= engines.count else { throw TargetError.noSuchEngine(id, engines) }
                    return engines[engines.count + id]
                }
                guard engines.contains(Int32(id)) else { throw TargetError.noSuchEngine(id, engines) }
                return Int32(id)
            }
        case .slice(let start, let stop, let step):
            selected = TargetSpec.slice(engines, start: start, stop: stop, step: step ?? 1)
        }
        guard !selected.isEmpty else { throw TargetError.noEngines(self) }
        return selected
    }

    /// Python's slice semantics.
    static func slice(_ items: [Int32], start: Int?, stop: Int?, step: Int) -> [Int32] {
        let count = items.count
        func clamp(_ value: Int?, _ defaultValue: Int, lower: Int, upper: Int) -> Int {
            guard var value else { return defaultValue }
            if value < 0 { value += count }
            return Swift.min(Swift.max(value, lower), upper)
        }
        var result: [Int32] = []
        if step > 0 {
            var index = clamp(start, 0, lower: 0, upper: count)
            let end = clamp(stop, count, lower: 0, upper: count)
            while index < end {
                result.append(items[index])
                index += step
            }
        } else {
            var index = clamp(start, count - 1, lower: -1, upper: count - 1)
            let end = clamp(stop, -1, lower: -1, upper: count - 1)
            while index > end {
                result.append(items[index])
                index += step
            }
        }
        return result
    }
}

/// A target spec that names no engine.
public enum TargetError: Error, Equatable, CustomStringConvertible {
    case noSuchEngine(Int, [Int32])
    case noEngines(TargetSpec)

    public var description: String {
        switch self {
        case .noSuchEngine(let id, let engines):
            "no engine \(id) (the engines are \(EngineRanges.format(engines)))"
        case .noEngines(let spec):
            "the targets '\(spec)' select no engine"
        }
    }
}

/// Compact engine lists: `0-3`, `0,2`, `0-2,5`.
public enum EngineRanges {
    /// "engine 3" or "engines 0-2,5": the word agrees with the count.
    public static func named(_ engines: [Int32]) -> String {
        (Set(engines).count == 1 ? "engine " : "engines ") + format(engines)
    }

    /// "its" or "their", for the engines ``named(_:)`` names.
    public static func possessive(_ engines: [Int32]) -> String {
        Set(engines).count == 1 ? "its" : "their"
    }

    /// "it" or "them", for the engines ``named(_:)`` names.
    public static func pronoun(_ engines: [Int32]) -> String {
        Set(engines).count == 1 ? "it" : "them"
    }

    public static func format(_ engines: [Int32]) -> String {
        let sorted = Array(Set(engines)).sorted()
        guard !sorted.isEmpty else { return "none" }
        var parts: [String] = []
        var start = sorted[0]
        var previous = sorted[0]
        for engine in sorted.dropFirst() + [Int32.max] {
            if engine == previous + 1 {
                previous = engine
                continue
            }
            parts.append(
                start == previous ? "\(start)" : previous == start + 1 ? "\(start),\(previous)" : "\(start)-\(previous)"
            )
            start = engine
            previous = engine
        }
        return parts.joined(separator: ",")
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
