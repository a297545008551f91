import PxWire
import Testing

extension EndToEnd {
    /// `pxsh bench` measuring issue 11's ratios side by side, on real clusters (and with `--compare`, the real
    /// concurrent.futures in the peers' script). Only the shape of the report is checked, never a figure.
    @Suite struct Bench {
        /// The pxsh cell of `measure` in a `--json` report.
        static func pxshCell(_ report: JSONValue, _ measure: String) -> JSONValue? {
            report["measures"]?[measure]?["pxsh"]
        }

        @Test func executeAndPxPassRunInAlternatingBlocksThatGiveTheRatio() throws {
            let run = try Pxsh.run(
                ["bench", "--quick", "--json", "--only", "px_pass.n4,py_execute,py_call_ratio"],
                timeout: 300
            )
            expectStatus(run, .exited(0))
            let report = try JSONValue(parsing: run.stdout)
            // Both rows keep every sample of their blocks; the ratio has one per pair of blocks.
            #expect(Self.pxshCell(report, "px_pass.n4")?["runs"]?.integerValue == 300, "\(run.transcript)")
            #expect(Self.pxshCell(report, "py_execute.n4")?["runs"]?.integerValue == 300)
            let ratio = try #require(report["measures"]?["py_execute_ratio.n4"])
            #expect(ratio["pxsh"]?["runs"]?.integerValue == 10)
            #expect(ratio["unit"]?.stringValue == "ratio")
            #expect(ratio["meets_target"] != .null)
            // The call's ratio needs concurrent.futures beside it: without --compare it says so, and is no failure.
            let call = try #require(Self.pxshCell(report, "py_call_ratio"))
            #expect(call["runs"]?.integerValue == 0)
            #expect(call["note"]?.stringValue?.hasPrefix("with --compare only") == true, "\(call)")
            expectNoLeftovers(run)
        }

        @Test func callAndConcurrentFuturesRunInAlternatingBlocksWithCompare() throws {
            let run = try Pxsh.run(
                ["bench", "--quick", "--json", "--compare", "--only", "py_call_ratio"],
                timeout: 300
            )
            expectStatus(run, .exited(0))
            let report = try JSONValue(parsing: run.stdout)
            let call = try #require(Self.pxshCell(report, "py_call_ratio"), "\(run.transcript)")
            #expect(call["runs"]?.integerValue == 10, "\(run.transcript)")
            #expect(call["setting"]?.stringValue?.contains("concurrent.futures") == true)
            expectNoLeftovers(run)
        }
    }
}
