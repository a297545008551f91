import PxClient
import PxText

// MARK: - %timeline

extension Renderer {
    /// One task on the timeline: its engine and its start and end, in real-time nanoseconds.
    public struct TimelineTask: Equatable, Sendable {
        public var engine: Int32
        public var started: UInt64
        public var completed: UInt64
        public var failed: Bool

        public init(engine: Int32, started: UInt64, completed: UInt64, failed: Bool = false) {
            self.engine = engine
            self.started = started
            self.completed = completed
            self.failed = failed
        }

        public static func of(_ result: AsyncResult) -> [TimelineTask] {
            result.tasks.compactMap { task in
                guard let engine = task.engine, let started = task.started, let completed = task.completed, started > 0
                else { return nil }
                return TimelineTask(engine: engine, started: started, completed: completed, failed: task.isFailed)
            }
        }
    }

    /// A per-engine Gantt chart scaled to the width, with wall time, serial time and speed-up.
    ///
    /// Each task is a bar; consecutive tasks on an engine alternate between `█` and `▓` so that
    /// their boundaries show. Failed tasks are drawn with `✗`.
    public func timeline(_ tasks: [TimelineTask], title: String) -> String {
        guard let start = tasks.map(\.started).min(), let end = tasks.map(\.completed).max(), end > start else {
            return "\(title): no finished tasks to draw\n"
        }
        let engines = Array(Set(tasks.map(\.engine))).sorted()
        let labelWidth = max(8, engines.map { "engine \($0)".count }.max() ?? 0)
        let columns = max(10, width - labelWidth - 3)
        let span = Double(end - start)
        func column(_ time: UInt64) -> Int { min(columns - 1, Int(Double(time - start) / span * Double(columns))) }

        var text = style.bold(title) + "\n"
        for engine in engines {
            var bar = Array(repeating: "·", count: columns)
            let own = tasks.filter { $0.engine == engine }.sorted { $0.started < $1.started }
            for (index, task) in own.enumerated() {
                let first = column(task.started)
                let last = max(first, column(task.completed) - (task.completed < end ? 1 : 0))
                let mark = task.failed ? "✗" : index % 2 == 0 ? "█" : "▓"
                for position in first...last { bar[position] = mark }
            }
            let label = "engine \(engine)".padded(to: labelWidth)
            text += style.engine(engine, label) + " │" + bar.joined() + "\n"
        }
        let wall = span / 1e9
        let serial = tasks.reduce(0.0) { $0 + Double($1.completed - $1.started) / 1e9 }
        text += String(repeating: " ", count: labelWidth) + " └" + String(repeating: "─", count: columns) + "\n"
        text +=
            String(repeating: " ", count: labelWidth + 2) + "0"
            + String(repeating: " ", count: max(1, columns - 1 - Renderer.seconds(wall).count)) + Renderer.seconds(wall)
            + "\n"
        text +=
            "\(Renderer.count(tasks.count, "task")) on \(Renderer.count(engines.count, "engine")): wall \(Renderer.seconds(wall)), "
            + "serial \(Renderer.seconds(serial)), speed-up \(NumberFormat.fixed(serial / wall, decimals: 2))x\n"
        return text
    }
}
