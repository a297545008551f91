import PxText

extension BenchReport {
    /// The report as a table for a terminal (`pxsh bench`), ending with a newline.
    ///
    /// One row per measure: pxsh's median with its spread (p90 for latencies, min–max otherwise), the target
    /// and whether it is met, then each peer's median and how many times better pxsh is ("pxsh ×").
    public var text: String {
        var lines: [String] = []
        lines.append(
            "pxsh bench\(isQuick ? " --quick" : "") · \(date) · \(machine.cpuModel) · \(machine.cpuCount) CPUs · "
                + "\(NumberFormat.significant(Double(machine.memoryBytes) / 1e9)) GB · \(machine.kernel)"
        )
        lines.append("engines: \(python.executable) (Python \(python.version))")
        for peer in BenchSystem.peers {
            guard let outcome = outcomes[peer] else { continue }
            let state = outcome.unavailableReason.map { "not measured: \($0)" } ?? (outcome.version ?? "?")
            lines.append("\(peer.displayName): \(state)")
        }
        lines.append("")
        lines.append(table)
        lines.append("")
        lines.append(
            "Medians of repeated runs, with (min–max) or (p90). pxsh × = how many times faster (or leaner) pxsh is. "
                + "GB/s = 10^9 bytes/s moved to or from all engines; MB = 10^6 bytes. "
                + "A ratio \"side by side\" is the median (min–max) of the ratios of blocks of the two run alternately."
        )
        let peersRan = BenchSystem.peers.contains { outcomes[$0] != nil && outcomes[$0]?.unavailableReason == nil }
        if peersRan { lines += settingsLines }
        let failures = BenchSystem.allCases.flatMap { outcomes[$0]?.omissions.filter(\.isFailure) ?? [] }
        if !failures.isEmpty {
            lines.append("")
            lines.append("Failed:")
            for failure in failures {
                lines.append("  \(failure.system.displayName) \(failure.measureID): \(failure.reason)")
            }
        }
        lines.append("")
        lines.append("(\(NumberFormat.duration(elapsedSeconds)) in all; --json for every statistic)")
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Parts

    private var table: String {
        var table = TextTable()
        var heading = ["measure", "pxsh", "", "target"]
        let peers = BenchSystem.peers.filter { outcomes[$0] != nil }
        for peer in peers { heading += [peer.displayName, "pxsh ×"] }
        table.append(heading)
        for measure in measures {
            var row = [measure.title]
            if let pxsh = measurement(measure.id, .pxsh) {
                let summary = pxsh.summary
                let spread =
                    measure.reportsP90
                    ? "(p90 \(NumberFormat.value(summary.p90, unit: measure.unit)))"
                    : summary.count > 1
                        ? "(\(bare(summary.minimum, measure))–\(bare(summary.maximum, measure)))" : ""
                row += [NumberFormat.value(summary.median, unit: measure.unit), spread]
            } else {
                row += [cellNote(measure.id, .pxsh), ""]
            }
            row.append(targetCell(measure))
            for peer in peers {
                if let other = measurement(measure.id, peer) {
                    row.append(NumberFormat.value(other.summary.median, unit: measure.unit))
                    row.append(advantage(measure, over: peer).map(NumberFormat.ratio) ?? "")
                } else {
                    row += [cellNote(measure.id, peer), ""]
                }
            }
            table.append(row)
        }
        return table.rendered()
    }

    /// A value for a (min–max) range: rates drop the unit name that the median beside them shows.
    private func bare(_ value: Double, _ measure: Measure) -> String {
        switch measure.unit {
        case .tasksPerSecond, .itemsPerSecond: NumberFormat.rate(value)
        case .gigabytesPerSecond, .ratio: NumberFormat.significant(value)
        case .seconds, .bytes: NumberFormat.value(value, unit: measure.unit)
        }
    }

    private func targetCell(_ measure: Measure) -> String {
        let comparison = measure.unit.isHigherBetter ? "≥ " : "≤ "
        guard let target = target(of: measure) else {
            guard let relative = measure.relativeTarget else { return "" }
            return comparison + "\(Self.factor(relative.factor))× \(relative.system.displayName)"
        }
        var bound =
            comparison
            + (measure.unit == .ratio ? "\(Self.factor(target))×" : NumberFormat.value(target, unit: measure.unit))
        if let relative = measure.relativeTarget {
            bound += " (\(Self.factor(relative.factor))× \(relative.system.displayName))"
        }
        guard let met = meetsTarget(measure) else { return bound }
        return bound + (met ? " ✓" : " ✗")
    }

    /// A factor as people write it: 8, 0.5.
    private static func factor(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    private func cellNote(_ measureID: String, _ system: BenchSystem) -> String {
        guard let omission = omission(measureID, system) else { return "—" }
        return omission.isFailure ? "failed" : "n/a"
    }

    /// One line per distinct way a system did the work, naming the rows it did it for.
    private var settingsLines: [String] {
        var lines = ["", "How each system did the work:"]
        for system in systems {
            var order: [String] = []
            var rows: [String: [String]] = [:]
            for measure in measures {
                guard let setting = measurement(measure.id, system)?.setting else { continue }
                if rows[setting] == nil { order.append(setting) }
                rows[setting, default: []].append(measure.id)
            }
            for setting in order {
                lines.append("  \(system.displayName) [\(rows[setting]!.joined(separator: ", "))]: \(setting)")
            }
        }
        return lines
    }
}
