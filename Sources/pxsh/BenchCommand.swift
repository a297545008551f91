import ArgumentParser
import PxBench
import PxClient
import PxPlatform

/// `pxsh bench`: pxsh's speed, and with `--compare` its peers' beside it.
///
/// Exit codes: 0 when every measurement was made, 1 when one failed (the table says which and why),
/// 2 for a usage error, an unusable python or a failed `--install-peers`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract:
            "Measure pxsh's speed, optionally beside ipyparallel, multiprocessing, concurrent.futures, loky and dask.",
        discussion: """
            Measures, each as the median, min and max of repeated runs (and the p90 of latencies): \
            cold start of 2, 4 and 8 engines to a first %px result; `pxsh -n 4 -c '%px pass'` as a whole \
            process; Python's own start, the floor of any cold start (`python -c pass` with site, as engines \
            start, and `python -I -S -c pass`); one `%apply abs 1` and one plain local line `x = 1`, each per line of a session file run \
            as `pxsh run` runs it; from Python at the prompt (px): one lv.apply_async(abs, 1).get(), 10 \
            times as many apply_async then their gets, and px[:].execute('pass', block=True) on 4 engines; \
            the %px pass round trip on 1, 2 and 4 engines, and on 4 engines that joined over TCP on the loopback \
            address as a person adds engines on a host (one `pxsh engine --connection-file - -n 4`, which \
            forks them from one Python start); load-balanced map of a trivial function with chunksize 1 and \
            with auto chunks; push and \
            pull of 1, 10 and 100 MB numpy arrays (GB/s over all engines); scatter and gather of \
            range(10**6) and of a list of 10**6 ints; the memory of an idle engine and of the cluster. \
            Targets are marked ✓ (met) or ✗ (missed); some are relative to a peer measured in the same run \
            (one call: half of concurrent.futures' submit().result(); the whole `pxsh -c`: 8 times \
            multiprocessing's cold start).

            Two targets are ratios, and each is a row of its own, measured side by side: Python's execute over \
            %px pass on the same 4 engines (py_execute_ratio.n4, at most 1.2), and with --compare Python's call \
            over concurrent.futures' submit().result() (py_call_ratio, at most 0.5; the peers' script keeps its \
            executor warm between blocks). The two sides run in alternating blocks, 10 pairs with --quick and \
            20 without, which side goes first alternating; the row is the median of the pairs' ratios (each \
            block's median over that of the other side's block beside it), with their min and max. A machine \
            whose speed drifts moves both blocks of a pair alike, where two medians taken minutes apart would \
            differ by the drift. The execute and %px pass rows keep every sample of their blocks.

            --compare runs the same work, where it applies, with ipyparallel, multiprocessing.Pool, \
            concurrent.futures.ProcessPoolExecutor, loky and dask.distributed (LocalCluster with processes, \
            one thread each) in --peer-python (default: the engines' python) and shows how many times faster \
            pxsh is; the exact call each peer made is printed under the table. Broadcast (%px pass) is \
            dask's client.run; 100 MB to every engine (push) is dask's scatter(broadcast=True). A peer that \
            python cannot import is reported and skipped: nothing is installed unless you ask. To install \
            ipyparallel, loky and dask.distributed into a scratch venv (made with --system-site-packages, so \
            that it shares the engines' numpy) and compare in one go:

              pxsh bench --install-peers /tmp/pxsh-peers --compare --quick

            which does what these do:

              python3 -m venv --system-site-packages /tmp/pxsh-peers
              /tmp/pxsh-peers/bin/python -m pip install ipyparallel loky distributed
              pxsh bench --compare --quick --peer-python /tmp/pxsh-peers/bin/python

            ipyparallel and dask listen on loopback ports only. Progress goes to stderr, the table (or --json's \
            object) to stdout. Exit status: 0, 1 if a measurement failed, 2 for a usage error. Compare \
            medians from a quiet machine.
            """
    )

    @Flag(help: "Print one JSON object instead of the table.") var json = false
    @Flag(help: "Fewer repetitions: pxsh's part takes well under a minute.") var quick = false
    @Flag(help: "Also measure ipyparallel, multiprocessing, concurrent.futures, loky and dask, with the ratios.")
    var compare = false
    @Option(
        name: .short,
        parsing: .unconditional,
        help: "Engines for the map, push/pull, scatter/gather and memory measures."
    ) var n = 2
    @Option(help: "The python the engines run (a venv's python works).") var python = "python3"
    @Option(help: "The python that runs the peers (default: the engines' python).") var peerPython: String?
    @Option(
        help: ArgumentHelp(
            "Run only these measures: identifiers or their prefixes, comma-separated (see --json's keys).",
            valueName: "cold_start,px_pass.n4,map,push,..."
        )
    )
    var only: String?
    @Option(
        help: ArgumentHelp(
            "Create a venv at DIR and pip install ipyparallel, loky and distributed, then use it for --compare.",
            valueName: "DIR"
        )
    )
    var installPeers: String?

    func validate() throws {
        guard (1...64).contains(n) else { throw ValidationError("-n \(n): the number of engines must be 1 to 64") }
        if let only, MeasureCatalog.measures(for: selectionPlan(only)).isEmpty {
            throw ValidationError("--only \(only) selects no measure")
        }
        if installPeers != nil && peerPython != nil {
            throw ValidationError("--install-peers chooses the peer python itself; drop --peer-python")
        }
    }

    func run() throws {
        var peerPython = peerPython
        if let installPeers {
            do {
                let base = try PythonInstallation.locate(python).executable
                peerPython = try PeerInstaller.install(into: installPeers, python: base, log: Self.log)
            } catch {
                Self.log("pxsh bench: \(error)")
                throw ExitCode(2)
            }
            Self.log("installed; compare with: pxsh bench --compare --peer-python \(peerPython ?? "")")
            guard compare else { return }
        }

        var plan = quick ? BenchPlan.quick : BenchPlan.full
        plan.engines = n
        plan.selection = only.map { $0.split(separator: ",").map(String.init) } ?? []
        let options = BenchOptions(
            plan: plan,
            isQuick: quick,
            python: python,
            compare: compare,
            peerPython: peerPython
        )
        let report: BenchReport
        do {
            report = try BenchRunner.run(options, log: Self.log)
        } catch {
            Self.log("pxsh bench: \(error)")
            throw ExitCode(2)
        }
        try FileDescriptor.standardOutput.writeAll(json ? report.json.text + "\n" : "\n" + report.text)
        if report.hasFailures { throw ExitCode(1) }
    }

    private func selectionPlan(_ only: String) -> BenchPlan {
        var plan = BenchPlan.quick
        plan.selection = only.split(separator: ",").map(String.init)
        return plan
    }

    /// Progress and diagnostics go to stderr, so that stdout holds only the report.
    private static func log(_ line: String) {
        try? FileDescriptor.standardError.writeAll(line + "\n")
    }
}
