/// The benchmark's rows, in the order they are measured and shown, with the targets of issues 5, 11 and 12.
public enum MeasureCatalog {
    // MARK: - Identifiers shared with the peers' script

    public static func coldStart(engines: Int) -> String { "cold_start.n\(engines)" }
    /// `pxsh -n 4 -c '%px pass'`, the whole process.
    public static let commandLine = "cli.n4"
    /// `python -c pass`: Python's own start with `site`, as an engine starts it; every cold start
    /// includes it (pxsh only).
    public static let pythonStart = "python_start.site"
    /// `python -I -S -c pass`: the bare interpreter's start (pxsh only).
    public static let barePythonStart = "python_start.bare"
    /// One `%apply abs 1`, per line of a session file; the peers' one submit and its result.
    public static let call = "call"
    /// One plain local line, per line of a session file.
    public static let localLine = "local_line"
    /// From Python at the prompt (`px`): one `lv.apply_async(abs, 1).get()`.
    public static let pythonCall = "py_call"
    /// `py_call` over concurrent.futures' `call`, from blocks of each run alternately (with `--compare` only).
    public static let pythonCallRatio = "py_call_ratio"
    /// From Python at the prompt: many `lv.apply_async(abs, i)`, then every `get()`.
    public static let pythonSubmissions = "py_apply_async"
    /// From Python at the prompt: `px[:].execute('pass', block=True)` on 4 engines.
    public static let pythonExecute = "py_execute.n4"
    /// `py_execute.n4` over `px_pass.n4`, from blocks of each run alternately on the same engines.
    public static let pythonExecuteRatio = "py_execute_ratio.n4"
    static let pythonExecuteEngines = 4
    public static func roundTrip(engines: Int) -> String { "px_pass.n\(engines)" }
    /// The round trip to engines that joined over TCP on the loopback address (pxsh only).
    public static func roundTripOverTCP(engines: Int) -> String { "px_pass_tcp.n\(engines)" }
    static let roundTripOverTCPEngines = 4
    /// Cold start with the engines as one `mpiexec -n N` job (pxsh only).
    public static func coldStartMPI(engines: Int) -> String { "cold_start_mpi.n\(engines)" }
    static let coldStartMPIEngines = 4
    public static let mapChunkOne = "map.chunk1"
    public static let mapAuto = "map.auto"
    public static func push(bytes: Int) -> String { "push.\(bytes / 1_000_000)MB" }
    public static func pull(bytes: Int) -> String { "pull.\(bytes / 1_000_000)MB" }
    public static let scatterRange = "scatter.range"
    public static let gatherRange = "gather.range"
    public static let scatterList = "scatter.list"
    public static let gatherList = "gather.list"
    public static let engineMemory = "rss.engine"
    public static let clusterMemory = "pss.cluster"

    // MARK: - Targets (issue 12 for cold start, calls, lines and %px; issue 5 for the others)

    static let coldStartTarget = (engines: 4, seconds: 0.04)
    static let roundTripTarget = (engines: 4, seconds: 100e-6)
    static let localLineTarget = 100e-6
    // Issue 11: Python's calls, also against concurrent.futures', submissions per second, execute against %px.
    // The relative targets judge ratios measured side by side (InterleavedBlocks), not two rows' medians.
    static let pythonCallTarget = 150e-6
    static let pythonCallRatioTarget = 0.5
    static let pythonSubmissionsTarget = 30_000.0
    static let pythonExecuteRatioTarget = 1.2
    static let callTarget = Measure.RelativeTarget(system: .concurrentFutures, measureID: call, factor: 0.5)
    static let commandLineTarget = Measure.RelativeTarget(
        system: .multiprocessing,
        measureID: coldStart(engines: 4),
        factor: 8
    )
    static let chunkOneTarget = 50_000.0
    static let autoChunkTarget = 1_000_000.0
    static let transferTarget = (bytes: 100_000_000, gigabytesPerSecond: 2.0)
    static let engineMemoryTarget = 25e6

    /// The rows of a run with `plan`: every measure its selection includes.
    public static func measures(for plan: BenchPlan) -> [Measure] {
        allMeasures(for: plan).filter { plan.includes($0.id) }
    }

    private static func allMeasures(for plan: BenchPlan) -> [Measure] {
        var measures: [Measure] = []
        for count in plan.coldStartEngineCounts {
            measures.append(
                Measure(
                    id: coldStart(engines: count),
                    title: "cold start, \(count) engines",
                    unit: .seconds,
                    target: count == coldStartTarget.engines ? coldStartTarget.seconds : nil
                )
            )
        }
        measures.append(
            Measure(
                id: commandLine,
                title: "pxsh -n 4 -c '%px pass', whole",
                unit: .seconds,
                relativeTarget: commandLineTarget
            )
        )
        measures.append(Measure(id: pythonStart, title: "python -c pass (Python's own start)", unit: .seconds))
        measures.append(Measure(id: barePythonStart, title: "python -I -S -c pass (bare interpreter)", unit: .seconds))
        measures.append(
            Measure(id: call, title: "one call (%apply abs 1)", unit: .seconds, relativeTarget: callTarget)
        )
        measures.append(
            Measure(id: localLine, title: "local line (x = 1)", unit: .seconds, target: localLineTarget)
        )
        measures.append(
            Measure(
                id: pythonCall,
                title: "Python: lv.apply_async(abs, 1).get()",
                unit: .seconds,
                reportsP90: true,
                target: pythonCallTarget
            )
        )
        measures.append(
            Measure(
                id: pythonCallRatio,
                title: "Python call ÷ concurrent.futures' call, side by side",
                unit: .ratio,
                target: pythonCallRatioTarget
            )
        )
        measures.append(
            Measure(
                id: pythonSubmissions,
                title: "Python: \(plan.pythonSubmissionCount) apply_async, then get, \(plan.engines) engines",
                unit: .tasksPerSecond,
                target: pythonSubmissionsTarget
            )
        )
        measures.append(
            Measure(
                id: pythonExecute,
                title: "Python: px[:].execute('pass', block=True), 4 engines",
                unit: .seconds
            )
        )
        measures.append(
            Measure(
                id: pythonExecuteRatio,
                title: "Python execute ÷ %px pass, 4 engines, side by side",
                unit: .ratio,
                target: pythonExecuteRatioTarget
            )
        )
        measures.append(
            Measure(
                id: coldStartMPI(engines: coldStartMPIEngines),
                title: "cold start, \(coldStartMPIEngines) engines, --launcher mpi",
                unit: .seconds
            )
        )
        for count in plan.roundTripEngineCounts {
            measures.append(
                Measure(
                    id: roundTrip(engines: count),
                    title: "%px pass, \(count) engine\(count == 1 ? "" : "s")",
                    unit: .seconds,
                    reportsP90: true,
                    target: count == roundTripTarget.engines ? roundTripTarget.seconds : nil
                )
            )
        }
        measures.append(
            Measure(
                id: roundTripOverTCP(engines: roundTripOverTCPEngines),
                title: "%px pass, \(roundTripOverTCPEngines) engines over TCP (loopback)",
                unit: .seconds,
                reportsP90: true
            )
        )
        measures.append(
            Measure(
                id: mapChunkOne,
                title: "map, chunksize 1, \(plan.engines) engines",
                unit: .tasksPerSecond,
                target: chunkOneTarget
            )
        )
        measures.append(
            Measure(
                id: mapAuto,
                title: "map, auto chunks, \(plan.engines) engines",
                unit: .itemsPerSecond,
                target: autoChunkTarget
            )
        )
        for (name, identifier) in [("push", push(bytes:)), ("pull", pull(bytes:))] {
            for size in plan.transferSizes {
                measures.append(
                    Measure(
                        id: identifier(size),
                        title: "\(name) \(size / 1_000_000) MB to \(plan.engines) engines",
                        unit: .gigabytesPerSecond,
                        target: size == transferTarget.bytes ? transferTarget.gigabytesPerSecond : nil
                    )
                )
            }
        }
        let items = plan.scatterItems == 1_000_000 ? "10**6" : String(plan.scatterItems)
        measures += [
            Measure(id: scatterRange, title: "scatter range(\(items))", unit: .seconds),
            Measure(id: gatherRange, title: "gather range(\(items))", unit: .seconds),
            Measure(id: scatterList, title: "scatter list of \(items) ints", unit: .seconds),
            Measure(id: gatherList, title: "gather list of \(items) ints", unit: .seconds),
            Measure(id: engineMemory, title: "idle engine RSS", unit: .bytes, target: engineMemoryTarget),
            Measure(id: clusterMemory, title: "cluster PSS, \(plan.engines) engines", unit: .bytes),
        ]
        return measures
    }
}
