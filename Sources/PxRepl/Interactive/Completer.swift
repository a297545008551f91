import PxClient

/// Tab completion: magics and their flags, and names from the local namespace or, after `%px`
/// (and under `%autopx`), from the engines.
struct Completer {
    unowned let session: Session

    /// The start of the token being completed (a character offset in `line`) and its replacements.
    func complete(_ line: String) -> (start: Int, candidates: [String]) {
        let trimmed = line.drop { $0 == " " }
        let leading = line.count - trimmed.count
        if trimmed.hasPrefix("%") {
            guard let space = trimmed.firstIndex(of: " ") else {
                let names = MagicCatalog.all.map(\.name).filter { $0.hasPrefix(trimmed) }
                return (leading, names)
            }
            let magic = String(trimmed[..<space])
            let tokenStart = line.lastIndex(of: " ").map { line.distance(from: line.startIndex, to: $0) + 1 } ?? 0
            let token = String(line.dropFirst(tokenStart))
            if token.hasPrefix("-"), let entry = MagicCatalog.named(magic) {
                let flags = entry.flags.flatMap { flag in
                    flag.flag.split(separator: ",").map { String($0.trimmingSpaces.split(separator: " ").first ?? "") }
                }
                return (tokenStart, Array(Set(flags.filter { $0.hasPrefix(token) })).sorted())
            }
            if magic == "%px" || magic == "%%px" {
                let codeStart = line.distance(from: line.startIndex, to: space) + leading + 1
                return remote(String(line.dropFirst(codeStart)), offset: codeStart)
            }
            return local(line)
        }
        return session.isAutopx ? remote(line, offset: 0) : local(line)
    }

    private func local(_ text: String) -> (start: Int, candidates: [String]) {
        ask(EngineNumber.home, text, offset: 0)
    }

    private func remote(_ text: String, offset: Int) -> (start: Int, candidates: [String]) {
        guard let engine = session.cluster.liveEngineIDs.first else { return (0, []) }
        return ask(engine, text, offset: offset)
    }

    private func ask(_ engine: Int32, _ text: String, offset: Int) -> (start: Int, candidates: [String]) {
        // A busy engine answers only after its current task: do not freeze the prompt for it.
        let completion = session.cluster.complete(text, on: engine, timeout: 0.5)
        guard completion != .none else { return (0, []) }
        return (offset + completion.start, completion.matches)
    }
}
