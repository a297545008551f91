import PxClient
import PxText

// MARK: - Tables: %jobs, %engines, %who, %pull

extension Renderer {
    /// One line of `%jobs`.
    public struct JobRow: Equatable, Sendable {
        public var id: String
        public var kind: String
        public var targets: String
        public var state: String
        public var done: Int
        public var total: Int
        public var elapsed: Double

        public init(id: String, kind: String, targets: String, state: String, done: Int, total: Int, elapsed: Double) {
            self.id = id
            self.kind = kind
            self.targets = targets
            self.state = state
            self.done = done
            self.total = total
            self.elapsed = elapsed
        }

        public init(_ result: AsyncResult) {
            let engines = result.engines
            self.init(
                id: result.name ?? "#\(result.number)",
                kind: result.label,
                targets: result.kind == .map || engines.isEmpty ? "balanced" : EngineRanges.format(engines),
                state: result.state.rawValue,
                done: result.completedCount,
                total: result.tasks.count,
                elapsed: result.elapsed
            )
        }
    }

    public func jobs(_ rows: [JobRow]) -> String {
        guard !rows.isEmpty else { return "no AsyncResults yet\n" }
        return table(
            header: ["job", "kind", "targets", "state", "progress", "elapsed"],
            rows: rows.map {
                [
                    $0.id, $0.kind, $0.targets, stateText($0.state), "\($0.done)/\($0.total)",
                    Renderer.seconds($0.elapsed),
                ]
            },
            rightAligned: [4, 5]
        )
    }

    public func engines(_ rows: [EngineStatus], now: UInt64) -> String {
        table(
            header: ["id", "rank", "pid", "state", "queued", "memory", "host"],
            rows: rows.map { row in
                var state = row.state.rawValue
                if row.state == .busy && now > row.since {
                    state += " " + Renderer.seconds(Double(now - row.since) / 1e9)
                }
                return [
                    row.id < 0 ? "home" : String(row.id), row.id < 0 ? "-" : String(row.rank), String(row.pid),
                    stateText(state), String(row.queued),
                    row.residentBytes < 0 ? "-" : Renderer.megabytes(row.residentBytes), row.host,
                ]
            },
            rightAligned: [0, 1, 2, 4, 5]
        )
    }

    /// `%who`: each engine's variables side by side.
    public func who(_ columns: [(engine: Int32, variables: [(name: String, type: String, summary: String)])]) -> String
    {
        let names = Array(Set(columns.flatMap { $0.variables.map(\.name) })).sorted()
        guard !names.isEmpty else { return "no variables on the engines\n" }
        let cellWidth = max(10, (width - 14) / max(1, columns.count) - 2)
        let rows = names.map { name in
            [name]
                + columns.map { column in
                    guard let variable = column.variables.first(where: { $0.name == name }) else { return "" }
                    return Renderer.cut("\(variable.type) \(variable.summary)", to: cellWidth)
                }
        }
        return table(header: ["name"] + columns.map { "engine \($0.engine)" }, rows: rows, rightAligned: [])
    }

    /// `%pull`: each engine's values; identical ones merge.
    public func pulled(_ values: [(engine: Int32, reprs: [String])], names: [String]) -> String {
        let outputs = values.map { value in
            EngineOutput(
                engine: value.engine,
                stdout: zip(names, value.reprs).map { assignment($0, $1) }.joined().dropLast().description
            )
        }
        return merge(outputs).map { group in
            let prefix = style.engine(group.engines[0], "[\(EngineRanges.format(group.engines))]")
            let body = group.output.stdout
            return prefix + (body.contains("\n") ? "\n" : " ") + body + "\n"
        }.joined()
    }

    /// `name = repr`; a multi-line repr starts on its own line so its rows stay aligned.
    public func assignment(_ name: String, _ repr: String) -> String {
        "\(name) =" + (repr.contains("\n") ? "\n" : " ") + repr + "\n"
    }

    // MARK: - Helpers

    func table(header: [String], rows: [[String]], rightAligned: Set<Int>) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { visibleCount($0[column]) }.max() ?? 0 }
        func line(_ cells: [String], isHeader: Bool) -> String {
            let text = cells.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: max(0, widths[column] - visibleCount(cell)))
                return rightAligned.contains(column) ? padding + cell : cell + padding
            }.joined(separator: "  ")
            let trimmed = String(text.reversed().drop { $0 == " " }.reversed())
            return (isHeader ? style.bold(trimmed) : trimmed) + "\n"
        }
        return line(header, isHeader: true) + rows.map { line($0, isHeader: false) }.joined()
    }

    private func stateText(_ state: String) -> String {
        if state.hasPrefix("failed") || state.hasPrefix("dead") { return style.error(state) }
        return state
    }

    /// Characters that take a column: ANSI escapes take none.
    func visibleCount(_ text: String) -> Int {
        var count = 0
        var inEscape = false
        for scalar in text.unicodeScalars {
            if inEscape {
                if scalar == "m" { inEscape = false }
            } else if scalar == "\u{1B}" {
                inEscape = true
            } else {
                count += 1
            }
        }
        return count
    }

    static func cut(_ text: String, to width: Int) -> String {
        text.count <= width ? text : String(text.prefix(max(0, width - 1))) + "…"
    }

    /// "0.52 s", "12.3 ms", "2 min 05 s"
    public static func seconds(_ value: Double) -> String {
        if value < 0.001 { return "\(Int((value * 1e6).rounded())) µs" }
        if value < 1 { return NumberFormat.fixed(value * 1000, decimals: value < 0.01 ? 2 : 1) + " ms" }
        if value < 120 { return NumberFormat.fixed(value, decimals: 2) + " s" }
        let total = Int(value.rounded())
        return "\(total / 60) min \(total % 60 < 10 ? "0" : "")\(total % 60) s"
    }

    static func megabytes(_ bytes: Int64) -> String {
        NumberFormat.fixed(Double(bytes) / 1_048_576, decimals: 1) + " MB"
    }
}
