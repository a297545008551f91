import PxWire

extension BenchReport {
    /// The version of the JSON layout below; bump it when a key changes meaning or goes away.
    public static let schema = "pxsh-bench/1"

    /// The report as one JSON object (`pxsh bench --json`).
    ///
    /// Every key is always present, so that scripts need no existence checks: a system that did not produce a
    /// figure has null numbers and a `note` saying why. Units are the base units named by `unit` (seconds, bytes,
    /// GB/s = 10⁹ bytes/s). Layout:
    ///
    ///     { "schema", "date", "quick", "elapsed_s", "machine": {...}, "python": {...}, "peer_python",
    ///       "systems": { "pxsh": {"ran", "version", "note"}, "ipyparallel": ..., "multiprocessing": ... },
    ///       "plan": {...},
    ///       "measures": { "cold_start.n4": { "title", "unit", "better", "target", "meets_target",
    ///                                         "pxsh": CELL, "ipyparallel": CELL, "multiprocessing": CELL,
    ///                                         "pxsh_advantage": {"ipyparallel", "multiprocessing"} }, ... } }
    ///
    /// where CELL is `{"median", "p90", "min", "max", "mean", "runs", "setting", "note"}`.
    public var json: JSONValue {
        .object([
            ("schema", .string(BenchReport.schema)),
            ("date", .string(date)),
            ("quick", .bool(isQuick)),
            ("elapsed_s", .finite(elapsedSeconds)),
            ("machine", machineJSON),
            ("python", .object([("executable", .string(python.executable)), ("version", .string(python.version))])),
            ("peer_python", peerPython.map(JSONValue.string) ?? .null),
            ("systems", .object(BenchSystem.allCases.map { ($0.rawValue, systemJSON($0)) })),
            ("plan", planJSON),
            ("measures", .object(measures.map { ($0.id, measureJSON($0)) })),
        ])
    }

    // MARK: - Parts

    private var machineJSON: JSONValue {
        .object([
            ("cpu_model", .string(machine.cpuModel)),
            ("cpus", .integer(machine.cpuCount)),
            ("memory_bytes", machine.memoryBytes >= 0 ? .integer(Int(machine.memoryBytes)) : .null),
            ("kernel", .string(machine.kernel)),
            ("hostname", .string(machine.hostname)),
        ])
    }

    private func systemJSON(_ system: BenchSystem) -> JSONValue {
        let outcome = outcomes[system]
        let note: String? =
            if outcome == nil { "not run (add --compare)" } else { outcome?.unavailableReason }
        return .object([
            ("ran", .bool(outcome != nil && outcome?.unavailableReason == nil)),
            ("version", outcome?.version.map(JSONValue.string) ?? .null),
            ("note", note.map(JSONValue.string) ?? .null),
        ])
    }

    private var planJSON: JSONValue {
        func integers(_ values: [Int]) -> JSONValue { .array(values.map(JSONValue.integer)) }
        return .object([
            ("cold_start_engines", integers(plan.coldStartEngineCounts)),
            ("cold_start_runs", .integer(plan.coldStartRuns)),
            ("round_trip_engines", integers(plan.roundTripEngineCounts)),
            ("round_trip_calls", .integer(plan.roundTripCalls)),
            ("interleaved_pairs", .integer(plan.interleavedPairs)),
            ("block_lead_in_calls", .integer(plan.blockLeadInCalls)),
            ("engines", .integer(plan.engines)),
            ("chunk_one_tasks", .integer(plan.chunkOneTasks)),
            ("chunk_one_tasks_ipyparallel", .integer(plan.chunkOneTasksForIpyparallel)),
            ("auto_chunk_items", .integer(plan.autoChunkItems)),
            ("auto_chunk_size", .integer(plan.autoChunkSize)),
            ("map_runs", .integer(plan.mapRuns)),
            ("transfer_bytes", integers(plan.transferSizes)),
            ("transfer_runs", .integer(plan.transferRuns)),
            ("scatter_items", .integer(plan.scatterItems)),
            ("scatter_runs", .integer(plan.scatterRuns)),
            ("call_count", .integer(plan.callCount)),
            ("script_runs", .integer(plan.scriptRuns)),
        ])
    }

    private func measureJSON(_ measure: Measure) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("title", .string(measure.title)),
            ("unit", .string(measure.unit.rawValue)),
            ("better", .string(measure.unit.isHigherBetter ? "higher" : "lower")),
            ("target", .finite(target(of: measure))),
            ("meets_target", meetsTarget(measure).map(JSONValue.bool) ?? .null),
        ]
        members += BenchSystem.allCases.map { ($0.rawValue, cellJSON(measure, $0)) }
        members.append(
            ("pxsh_advantage", .object(BenchSystem.peers.map { ($0.rawValue, .finite(advantage(measure, over: $0))) }))
        )
        return .object(members)
    }

    private func cellJSON(_ measure: Measure, _ system: BenchSystem) -> JSONValue {
        let summary = measurement(measure.id, system)?.summary
        let note: String? =
            if summary != nil { nil } else if let omission = omission(measure.id, system) {
                (omission.isFailure ? "failed: " : "") + omission.reason
            } else if let outcome = outcomes[system] {
                outcome.unavailableReason ?? "not measured"
            } else { "not run" }
        return .object([
            ("median", .finite(summary?.median)),
            ("p90", .finite(summary?.p90)),
            ("min", .finite(summary?.minimum)),
            ("max", .finite(summary?.maximum)),
            ("mean", .finite(summary?.mean)),
            ("runs", summary.map { .integer($0.count) } ?? .integer(0)),
            ("setting", measurement(measure.id, system).map { .string($0.setting) } ?? .null),
            ("note", note.map(JSONValue.string) ?? .null),
        ])
    }
}
