import PxClient
import PxPlatform
import PxRepl

#if canImport(Glibc)
import Glibc
#endif

/// Measures pxsh through its Swift client API, as a program driving a cluster would use it.
///
/// Every timed call is the public API call that a REPL command makes (`Cluster.start`, `DirectView.execute`,
/// `LoadBalancedView.map` + `collect`, `push`, `pull`, `scatter`, `gather`), so the figures include everything a
/// user waits for. Each series starts with an untimed warm-up, and each result is checked once, outside the
/// timed region: a fast wrong answer is not a figure.
///
/// A failing measurement does not end the run: its rows get an ``Omission`` that says why.
final class PxshSuite {
    let plan: BenchPlan
    /// The python the engines run, as `--python` takes it.
    let python: String
    /// The python that runs the peers' script (`--compare`), for the ratios taken side by side with a peer;
    /// nil without `--compare`.
    let peerPython: String?
    private let progress: (Measurement) -> Void
    private var outcome = SuiteOutcome()

    init(plan: BenchPlan, python: String, peerPython: String?, progress: @escaping (Measurement) -> Void) {
        self.plan = plan
        self.python = python
        self.peerPython = peerPython
        self.progress = progress
    }

    /// Runs every measurement, one cluster at a time.
    func run() -> SuiteOutcome {
        outcome = SuiteOutcome()
        attempt(plan.coldStartEngineCounts.map(MeasureCatalog.coldStart(engines:))) { try measureColdStarts() }
        attempt([MeasureCatalog.commandLine]) { try measureCommandLine() }
        attempt([MeasureCatalog.pythonStart, MeasureCatalog.barePythonStart]) { try measurePythonStart() }
        attempt([MeasureCatalog.coldStartMPI(engines: MeasureCatalog.coldStartMPIEngines)]) {
            try measureColdStartsWithMPI()
        }
        attempt(
            plan.roundTripEngineCounts.map(MeasureCatalog.roundTrip(engines:)) + [
                MeasureCatalog.pythonExecute, MeasureCatalog.pythonExecuteRatio,
            ]
        ) {
            try measureRoundTrips()
        }
        attempt([MeasureCatalog.roundTripOverTCP(engines: MeasureCatalog.roundTripOverTCPEngines)]) {
            try measureRoundTripOverTCP()
        }
        attempt(dataMeasureIDs) { try withCluster(engines: plan.engines) { try measureDataCluster($0) } }
        return outcome
    }

    // MARK: - Cold start

    /// `Cluster.start` to a first result from every engine, then an untimed shutdown.
    private func measureColdStarts() throws {
        // The first start ever also probes the python and reads the binaries from disk.
        _ = try coldStart(engines: plan.coldStartEngineCounts[0])
        for count in plan.coldStartEngineCounts where plan.includes(MeasureCatalog.coldStart(engines: count)) {
            let runs = try (0..<plan.coldStartRuns).map { _ in try coldStart(engines: count) }
            record(
                MeasureCatalog.coldStart(engines: count),
                "Cluster.start(engines: n) + view().execute(\"pass\")",
                runs
            )
        }
    }

    /// The same with the engines as one `mpiexec -n N` job that joins over TCP on the loopback
    /// address (mpiexec beside the python, else on PATH).
    private func measureColdStartsWithMPI() throws {
        let count = MeasureCatalog.coldStartMPIEngines
        let measureID = MeasureCatalog.coldStartMPI(engines: count)
        guard plan.includes(measureID) else { return }
        _ = try coldStart(engines: count, launcher: "mpi")
        let runs = try (0..<plan.coldStartRuns).map { _ in try coldStart(engines: count, launcher: "mpi") }
        record(measureID, "Cluster.start(engines: n, --launcher mpi) + view().execute(\"pass\")", runs)
    }

    private func coldStart(engines count: Int, launcher: String? = nil) throws -> Double {
        let stopwatch = Stopwatch()
        let cluster =
            try launcher.map {
                try Cluster.start(
                    engines: count,
                    python: python,
                    tcp: TCPEndpoint(),
                    controllerArguments: ["--launcher", $0]
                )
            } ?? Cluster.start(engines: count, python: python)
        defer { cluster.shutdown() }
        let result = try cluster.view().execute("pass")
        try cluster.finish(result)
        let seconds = stopwatch.seconds
        guard result.tasks.count == count else {
            throw BenchError.wrongResult("\(result.tasks.count) of \(count) engines answered")
        }
        return seconds
    }

    /// `pxsh -n 4 -c '%px pass'`: the whole process, from exec to exit, as a user at a shell waits for it.
    private func measureCommandLine() throws {
        let arguments = ["-n", "4", "--python", python, "--no-color", "-c", "%px pass"]
        let runs = try wholeProcessRuns(ProcessSpawner.currentExecutable, arguments, name: "pxsh")
        record(MeasureCatalog.commandLine, "pxsh -n 4 -c '%px pass' (the whole process)", runs)
    }

    /// Python's own start with the engines' interpreter (itself, not a launcher such as pyenv's shim),
    /// which no cold start can beat: `python -c pass` imports `site` (and runs its `.pth` files) as
    /// an engine's start does, `python -I -S -c pass` is the bare interpreter.
    private func measurePythonStart() throws {
        let executable = try PythonInstallation.locate(python).executable
        for (id, arguments) in [
            (MeasureCatalog.pythonStart, ["-c", "pass"]), (MeasureCatalog.barePythonStart, ["-I", "-S", "-c", "pass"]),
        ] where plan.includes(id) {
            let runs = try wholeProcessRuns(executable, arguments, name: executable)
            record(id, "\(executable) \(arguments.joined(separator: " ")) (the whole process)", runs)
        }
    }

    /// Seconds from spawn to exit of `executable` with `arguments`, once untimed and then per cold-start
    /// run; a run that does not exit with status 0 is an error.
    private func wholeProcessRuns(_ executable: String, _ arguments: [String], name: String) throws -> [Double] {
        func once() throws -> Double {
            let devNull = try FileDescriptor.open("/dev/null", flags: O_RDWR)
            defer { devNull.close() }
            let stopwatch = Stopwatch()
            let pid = try ProcessSpawner.spawn(
                executable,
                arguments: arguments,
                output: devNull,
                standardInput: devNull
            )
            let termination = ProcessSpawner.wait(pid)
            let seconds = stopwatch.seconds
            guard termination == .exited(0) else {
                throw BenchError.wrongResult(
                    "\(name) \(arguments.joined(separator: " ")) ended with \(termination.map { "\($0)" } ?? "?")"
                )
            }
            return seconds
        }
        _ = try once()
        return try (0..<plan.coldStartRuns).map { _ in try once() }
    }

    // MARK: - Round trip

    /// One blocking `execute("pass")` at a time on the first n engines of one cluster.
    private func measureRoundTrips() throws {
        let largest = plan.roundTripEngineCounts.max() ?? 1
        try withCluster(engines: largest) { cluster in
            let engines = cluster.liveEngineIDs
            guard engines.count == largest else {
                throw BenchError.wrongResult("\(engines.count) of \(largest) engines started")
            }
            let besideExecute = MeasureCatalog.pythonExecuteEngines
            for count in plan.roundTripEngineCounts
            where count != besideExecute && plan.includes(MeasureCatalog.roundTrip(engines: count)) {
                let view = cluster.view(Array(engines.prefix(count)))
                _ = try roundTrips(cluster, view, calls: 0, warmup: plan.roundTripWarmupCalls)
                let runs = try roundTrips(cluster, view, calls: plan.roundTripCalls)
                record(MeasureCatalog.roundTrip(engines: count), Self.roundTripSetting, runs)
            }
            if plan.roundTripEngineCounts.contains(besideExecute) {
                try measureExecuteBesideRoundTrip(cluster, view: cluster.view(Array(engines.prefix(besideExecute))))
            }
        }
    }

    static let roundTripSetting = "DirectView.execute(\"pass\") + Cluster.finish"

    /// `%px pass` through the Swift API and `px[:].execute('pass', block=True)` from Python at the prompt, on
    /// the same 4 engines in alternating blocks (``InterleavedBlocks``): both rows keep every sample, and the
    /// ratio row is the median of the pairs' ratios.
    private func measureExecuteBesideRoundTrip(_ cluster: Cluster, view: DirectView) throws {
        let roundTripID = MeasureCatalog.roundTrip(engines: MeasureCatalog.pythonExecuteEngines)
        let ratioID = MeasureCatalog.pythonExecuteRatio
        var sides: Set<InterleavedBlocks.Side> = []
        if plan.includes(roundTripID) || plan.includes(ratioID) { sides.insert(.reference) }
        if plan.includes(MeasureCatalog.pythonExecute) || plan.includes(ratioID) { sides.insert(.subject) }
        guard !sides.isEmpty else { return }
        try local(
            cluster,
            """
            import time as _bench_time
            def _bench_execute(calls, warmup):
                view = px[:]
                assert len(view) == \(view.targets.count)
                for _ in range(warmup):
                    view.execute("pass", block=True)
                samples = []
                for _ in range(calls):
                    start = _bench_time.perf_counter()
                    view.execute("pass", block=True)
                    samples.append(_bench_time.perf_counter() - start)
                return samples
            """
        )
        let warmup = plan.roundTripWarmupCalls
        if sides.contains(.reference) { _ = try roundTrips(cluster, view, calls: 0, warmup: warmup) }
        if sides.contains(.subject) { try local(cluster, "_bench_execute(0, \(warmup))") }
        let calls = plan.blockSize(splitting: plan.roundTripCalls)
        let leadIn = plan.blockLeadInCalls
        let blocks = try InterleavedBlocks.measure(pairs: plan.interleavedPairs, sides: sides) { side in
            switch side {
            case .reference: try roundTrips(cluster, view, calls: calls, warmup: leadIn)
            case .subject: try pythonSamples(cluster, "_bench_execute(\(calls), \(leadIn))", count: calls)
            }
        }
        record(roundTripID, Self.roundTripSetting, blocks.samples(of: .reference))
        record(
            MeasureCatalog.pythonExecute,
            "px[:].execute(\"pass\", block=True) at the prompt",
            blocks.samples(of: .subject)
        )
        record(ratioID, pairsSetting("px[:].execute('pass')", "%px pass (the Swift API)", calls: calls), blocks.ratios)
    }

    /// How a ratio row was measured, for the report's list of settings.
    private func pairsSetting(_ subject: String, _ reference: String, calls: Int) -> String {
        "\(subject) ÷ \(reference): each block's median over that of the other's block beside it, "
            + "\(plan.interleavedPairs) pairs of \(calls) calls (each block after \(plan.blockLeadInCalls) untimed), "
            + "alternating which runs first"
    }

    /// The seconds of each of `calls` blocking `execute("pass")` on `view`, after `warmup` untimed ones.
    private func roundTrips(_ cluster: Cluster, _ view: DirectView, calls: Int, warmup: Int = 0) throws -> [Double] {
        for _ in 0..<warmup { try cluster.finish(try view.execute("pass")) }
        var runs: [Double] = []
        runs.reserveCapacity(calls)
        for _ in 0..<calls {
            let stopwatch = Stopwatch()
            try cluster.finish(try view.execute("pass"))
            runs.append(stopwatch.seconds)
        }
        return runs
    }

    /// The same round trip to engines that joined with `pxsh engine --connection-file -` over TCP on
    /// the loopback address: every frame sealed (HMAC-SHA256 and a sequence number).
    private func measureRoundTripOverTCP() throws {
        let count = MeasureCatalog.roundTripOverTCPEngines
        let measureID = MeasureCatalog.roundTripOverTCP(engines: count)
        guard plan.includes(measureID) else { return }
        let cluster = try Cluster.start(engines: 0, python: python, tcp: TCPEndpoint())
        defer { cluster.shutdown() }
        guard let connection = cluster.connectionFile else {
            throw BenchError.unavailable("the cluster wrote no connection file")
        }
        // One process for the host's engines, as a person adding engines on a host starts them (and
        // as the ssh launcher does): Python starts once and the engines are forked from it.
        let input = try FileDescriptor.pipe()
        let devNull = try FileDescriptor.open("/dev/null", flags: O_WRONLY)
        defer { devNull.close() }
        let pid = try ProcessSpawner.spawn(
            Cluster.executable,
            arguments: ["engine", "--connection-file", "-", "-n", String(count), "--python", python],
            output: devNull,
            standardInput: input.read
        )
        defer {
            // They leave when the controller closes their connections, and then so does their parent.
            cluster.shutdown()
            _ = ProcessSpawner.wait(pid, milliseconds: 10_000)
        }
        input.read.close()
        try input.write.writeAll(connection)
        input.write.close()
        var engines: [Int32] = []
        let deadline = Clock.monotonicNanoseconds + 120_000_000_000
        while engines.count < count {
            guard Clock.monotonicNanoseconds < deadline else {
                throw BenchError.wrongResult("\(engines.count) of \(count) TCP engines joined within 120 s")
            }
            usleep(20_000)
            let rows = try cluster.control(.engines).compactMap { EngineStatus(line: $0.text) }
            engines = rows.filter { $0.id >= 0 && $0.state == .idle && $0.host != "local" }.map(\.id)
        }
        let view = cluster.view(engines)
        let runs = try roundTrips(cluster, view, calls: plan.roundTripCalls, warmup: plan.roundTripWarmupCalls)
        record(measureID, Self.roundTripSetting + ", engines over TCP", runs)
    }

    // MARK: - Memory, maps and data, on one cluster

    private var dataMeasureIDs: [String] {
        [
            MeasureCatalog.engineMemory, MeasureCatalog.clusterMemory, MeasureCatalog.call, MeasureCatalog.pythonCall,
            MeasureCatalog.pythonCallRatio, MeasureCatalog.pythonSubmissions, MeasureCatalog.localLine,
            MeasureCatalog.mapChunkOne, MeasureCatalog.mapAuto,
        ]
            + plan.transferSizes.flatMap { [MeasureCatalog.push(bytes: $0), MeasureCatalog.pull(bytes: $0)] }
            + [
                MeasureCatalog.scatterRange, MeasureCatalog.gatherRange, MeasureCatalog.scatterList,
                MeasureCatalog.gatherList,
            ]
    }

    private func measureDataCluster(_ cluster: Cluster) throws {
        try cluster.finish(try cluster.view().execute("pass"))
        // Memory first, while the engines are as idle as a fresh session's.
        attempt([MeasureCatalog.engineMemory, MeasureCatalog.clusterMemory]) { try measureMemory(cluster) }
        attempt([MeasureCatalog.call]) {
            try measureScript(cluster, MeasureCatalog.call, line: "%apply abs 1", check: "assert _ == 1, 'call'")
        }
        attempt([MeasureCatalog.pythonCall, MeasureCatalog.pythonSubmissions]) { try measurePython(cluster) }
        attempt([MeasureCatalog.pythonCallRatio]) { try measureCallBesidePeer(cluster) }
        attempt([MeasureCatalog.localLine]) {
            try measureScript(cluster, MeasureCatalog.localLine, line: "x = 1", check: "assert x == 1, 'line'")
        }
        attempt([MeasureCatalog.mapChunkOne, MeasureCatalog.mapAuto]) { try measureMaps(cluster) }
        for size in plan.transferSizes {
            attempt([MeasureCatalog.push(bytes: size), MeasureCatalog.pull(bytes: size)]) {
                try measureTransfers(cluster, bytes: size)
            }
        }
        attempt([MeasureCatalog.scatterRange, MeasureCatalog.gatherRange]) {
            try measureScatterGather(
                cluster,
                kind: "range",
                name: "_bench_range",
                expression: "range(\(plan.scatterItems))"
            )
        }
        attempt([MeasureCatalog.scatterList, MeasureCatalog.gatherList]) {
            try local(cluster, "_bench_list = list(range(\(plan.scatterItems)))")
            try measureScatterGather(cluster, kind: "list", name: "_bench_list", expression: "")
        }
    }

    /// The RSS of each engine, and the PSS of the cluster's processes without the home engine (the local
    /// namespace, which a peer's client process plays), read from `/proc`. The sum uses PSS because engines
    /// share libpython's pages, as a peer's forked processes share theirs.
    private func measureMemory(_ cluster: Cluster) throws {
        let rows = try cluster.engines()
        let engines = rows.filter { $0.id != EngineNumber.home && $0.state != .dead }
        let engineBytes = engines.map { Double(ProcessTable.residentBytes(of: $0.pid) ?? $0.residentBytes) }
        guard !engineBytes.isEmpty, engineBytes.allSatisfy({ $0 > 0 }) else {
            throw BenchError.unavailable("the engines' memory is unknown on this system")
        }
        record(MeasureCatalog.engineMemory, "an engine process after start and one execute", engineBytes)
        let homePIDs = Set(rows.filter { $0.id == EngineNumber.home }.map(\.pid))
        let clusterProcesses = ProcessTable.descendants(of: getpid()).filter { !homePIDs.contains($0) }
        let clusterBytes = clusterProcesses.compactMap(ProcessTable.proportionalBytes(of:)).reduce(0, +)
        record(
            MeasureCatalog.clusterMemory,
            "PSS of the controller and engines (not the home engine)",
            [Double(clusterBytes)]
        )
    }

    /// Calls from Python at the prompt (`px`, in the home engine), timed there with `time.perf_counter`.
    private func measurePython(_ cluster: Cluster) throws {
        if plan.includes(MeasureCatalog.pythonCall) {
            let samples = try pythonSamples(
                cluster,
                """
                import time as _bench_time
                def _bench_calls(calls, runs):
                    view = px.load_balanced_view()
                    for _ in range(50):
                        view.apply_async(abs, 1).get()
                    samples = []
                    for _ in range(runs):
                        start = _bench_time.perf_counter()
                        for _ in range(calls):
                            view.apply_async(abs, 1).get()
                        samples.append((_bench_time.perf_counter() - start) / calls)
                    assert view.apply_async(abs, -1).get() == 1
                    return samples
                _bench_calls(\(plan.callCount), \(plan.scriptRuns))
                """,
                count: plan.scriptRuns
            )
            record(MeasureCatalog.pythonCall, "lv.apply_async(abs, 1).get() at the prompt", samples)
        }
        if plan.includes(MeasureCatalog.pythonSubmissions) {
            let count = plan.pythonSubmissionCount
            let samples = try pythonSamples(
                cluster,
                """
                import time as _bench_time
                def _bench_submissions(count, runs):
                    view = px.load_balanced_view()
                    samples = []
                    for _ in range(runs + 1):
                        start = _bench_time.perf_counter()
                        results = [view.apply_async(abs, -i) for i in range(count)]
                        values = [result.get() for result in results]
                        samples.append(count / (_bench_time.perf_counter() - start))
                        assert values == list(range(count))
                    return samples[1:]
                _bench_submissions(\(count), \(plan.mapRuns))
                """,
                count: plan.mapRuns
            )
            record(
                MeasureCatalog.pythonSubmissions,
                "[lv.apply_async(abs, -i) for i in range(\(count))], then each get()",
                samples
            )
        }
    }

    /// Python's call at the prompt and concurrent.futures' `submit(abs, 1).result()` (in the peers' script, its
    /// executor kept warm between blocks) in alternating blocks (``InterleavedBlocks``); with `--compare` only.
    private func measureCallBesidePeer(_ cluster: Cluster) throws {
        guard let peerPython else {
            throw BenchError.unavailable("with --compare only: concurrent.futures' blocks run between pxsh's")
        }
        try local(
            cluster,
            """
            import time as _bench_time
            def _bench_call(calls, warmup):
                view = px.load_balanced_view()
                for _ in range(warmup):
                    view.apply_async(abs, 1).get()
                samples = []
                for _ in range(calls):
                    start = _bench_time.perf_counter()
                    view.apply_async(abs, 1).get()
                    samples.append(_bench_time.perf_counter() - start)
                assert view.apply_async(abs, -1).get() == 1
                return samples
            """
        )
        try local(cluster, "_bench_call(0, \(plan.roundTripWarmupCalls))")
        let calls = plan.blockSize(splitting: plan.callCount)
        let leadIn = plan.blockLeadInCalls
        let blocks = try PeerCallBlocks.with(.concurrentFutures, plan: plan, python: peerPython) { peer in
            try InterleavedBlocks.measure(pairs: plan.interleavedPairs, sides: [.subject, .reference]) { side in
                switch side {
                case .subject: try pythonSamples(cluster, "_bench_call(\(calls), \(leadIn))", count: calls)
                case .reference: try peer.block(calls: calls, leadIn: leadIn)
                }
            }
        }
        let setting = pairsSetting(
            "lv.apply_async(abs, 1).get()",
            "concurrent.futures' submit(abs, 1).result()",
            calls: calls
        )
        record(MeasureCatalog.pythonCallRatio, setting, blocks.ratios)
    }

    /// Runs `code` at the prompt (the home engine); its last expression is a list of `count` samples.
    ///
    /// The list comes back as its repr, which the prompt cuts at 4096 characters (about 170 samples): a
    /// series longer than that is measured in blocks.
    private func pythonSamples(_ cluster: Cluster, _ code: String, count: Int) throws -> [Double] {
        let result = try cluster.executeLocally(code)
        try cluster.finish(result)
        guard let repr = result.tasks.first?.executeReply?.resultRepr, repr.hasPrefix("["), repr.hasSuffix("]") else {
            throw BenchError.wrongResult("the Python measurement gave no samples")
        }
        let samples = repr.dropFirst().dropLast().split(separator: ",").compactMap {
            Double(String($0.filter { !$0.isWhitespace }))
        }
        guard samples.count == count else {
            throw BenchError.wrongResult("the Python measurement gave \(samples.count) of \(count) samples")
        }
        return samples
    }

    /// A session file of `line` repeated, run as `pxsh run` runs one (a ``ScriptRunner`` over a ``Session``):
    /// each sample is the time of a run divided by its lines. `check` runs locally afterwards.
    private func measureScript(_ cluster: Cluster, _ measureID: String, line: String, check: String) throws {
        let session = Session(cluster: cluster, renderer: Renderer(), write: { _ in })
        let runner = ScriptRunner(session: session, stopsAtFirstFailure: true)
        let lines = Array(repeating: line, count: plan.callCount)
        func once() throws -> Double {
            let seconds = Stopwatch.time { runner.run(lines: lines) }.seconds
            if session.hasFailed { throw BenchError.wrongResult("'\(line)' failed in a session") }
            return seconds / Double(lines.count)
        }
        _ = try once()
        let runs = try (0..<plan.scriptRuns).map { _ in try once() }
        try local(cluster, check)
        record(measureID, "\(plan.callCount) lines '\(line)' through ScriptRunner (pxsh run), per line", runs)
    }

    /// `map` of a lambda over a range, collected into a local list, with chunksize 1 and auto.
    private func measureMaps(_ cluster: Cluster) throws {
        try local(cluster, "_bench_f = lambda x: x")
        let balanced = cluster.loadBalanced()
        func map(_ items: Int, _ chunkSize: LoadBalancedView.ChunkSize) throws {
            let result = try balanced.map(
                function: "_bench_f",
                sequence: "range(\(items))",
                chunkSize: chunkSize,
                valuesComeHome: .items
            )
            try cluster.wait(for: result)
            _ = try balanced.collect(result, into: ["_bench_out"])
        }
        try map(100, .fixed(1))
        for (id, items, chunkSize, setting) in [
            (
                MeasureCatalog.mapChunkOne, plan.chunkOneTasks, LoadBalancedView.ChunkSize.fixed(1),
                "chunkSize: .fixed(1)"
            ),
            (MeasureCatalog.mapAuto, plan.autoChunkItems, .auto, "chunkSize: .auto (\(plan.autoChunkSize) items)"),
        ] where plan.includes(id) {
            let runs = try (0..<plan.mapRuns).map { _ in
                Double(items) / (try Stopwatch.time { try map(items, chunkSize) }).seconds
            }
            try local(cluster, "assert _bench_out == list(range(\(items))), 'map'")
            record(id, "LoadBalancedView.map(f, range(\(items)), \(setting)) + collect", runs)
        }
        try local(cluster, "del _bench_out")
    }

    /// Push of a local numpy array to every engine, and pull of it back; bytes moved to or from all targets.
    private func measureTransfers(_ cluster: Cluster, bytes size: Int) throws {
        do {
            try local(cluster, "import numpy\n_bench_array = numpy.ones(\(size / 8))")
        } catch let error as RemoteError where error.name == "ModuleNotFoundError" {
            throw BenchError.unavailable("numpy is not importable by the engines' python")
        }
        let view = cluster.view()
        let moved = Double(size * view.targets.count)
        let push = { try view.push([(name: "_bench_array", expression: "")]) }
        try push()
        let pushRuns = try (0..<plan.transferRuns).map { _ in moved / (try Stopwatch.time(push)).seconds / 1e9 }
        try cluster.finish(try view.execute("assert _bench_array.nbytes == \(size), 'push'"))
        record(MeasureCatalog.push(bytes: size), "DirectView.push([(\"a\", \"\")])", pushRuns)

        // Pull stores a list with one array per engine in the local `_bench_array`.
        let pull = { _ = try view.pull(["_bench_array"]) }
        try pull()
        let pullRuns = try (0..<plan.transferRuns).map { _ in moved / (try Stopwatch.time(pull)).seconds / 1e9 }
        try local(cluster, "assert [a.nbytes for a in _bench_array] == [\(size)] * \(view.targets.count), 'pull'")
        record(MeasureCatalog.pull(bytes: size), "DirectView.pull([\"a\"])", pullRuns)
        try local(cluster, "del _bench_array")
        try cluster.finish(try view.execute("del _bench_array"))
    }

    /// Scatter of a local sequence (the variable `name`, or `expression`) over the engines, and gather back.
    private func measureScatterGather(_ cluster: Cluster, kind: String, name: String, expression: String) throws {
        let view = cluster.view()
        let scatter = { try view.scatter(name, expression: expression) }
        try scatter()
        let scatterRuns = try (0..<plan.scatterRuns).map { _ in try Stopwatch.time(scatter).seconds }
        record(
            kind == "range" ? MeasureCatalog.scatterRange : MeasureCatalog.scatterList,
            "DirectView.scatter(\"x\"\(expression.isEmpty ? "" : ", expression: \"\(expression)\""))",
            scatterRuns
        )

        let gather = { _ = try view.gather(name) }
        try gather()
        let gatherRuns = try (0..<plan.scatterRuns).map { _ in try Stopwatch.time(gather).seconds }
        try local(cluster, "assert list(\(name)) == list(range(\(plan.scatterItems))), 'gather'")
        record(
            kind == "range" ? MeasureCatalog.gatherRange : MeasureCatalog.gatherList,
            "DirectView.gather(\"x\")",
            gatherRuns
        )
        try local(cluster, "del \(name)")
        try cluster.finish(try view.execute("del \(name)"))
    }

    // MARK: - Helpers

    /// Runs `body` with a private cluster of `count` engines, shut down afterwards whatever happens.
    private func withCluster<Result>(engines count: Int, _ body: (Cluster) throws -> Result) throws -> Result {
        let cluster = try Cluster.start(engines: count, python: python)
        defer { cluster.shutdown() }
        return try body(cluster)
    }

    /// Runs setup or checking code in the local namespace (the home engine).
    private func local(_ cluster: Cluster, _ code: String) throws {
        try cluster.finish(try cluster.executeLocally(code))
    }

    private func record(_ measureID: String, _ setting: String, _ samples: [Double]) {
        guard plan.includes(measureID), let summary = Summary(samples) else { return }
        let measurement = Measurement(measureID: measureID, system: .pxsh, setting: setting, summary: summary)
        outcome.measurements.append(measurement)
        progress(measurement)
    }

    /// Runs one measurement; if it throws, the rows it had not recorded yet say why.
    private func attempt(_ measureIDs: [String], _ body: () throws -> Void) {
        let measureIDs = measureIDs.filter(plan.includes)
        guard !measureIDs.isEmpty else { return }
        do {
            try body()
        } catch {
            let done = Set(outcome.measurements.map(\.measureID) + outcome.omissions.map(\.measureID))
            let isFailure = (error as? BenchError)?.isUnavailable != true
            for id in measureIDs where !done.contains(id) {
                outcome.omissions.append(
                    Omission(measureID: id, system: .pxsh, reason: "\(error)", isFailure: isFailure)
                )
            }
        }
    }
}
