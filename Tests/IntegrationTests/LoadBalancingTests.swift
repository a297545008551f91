import Testing

extension EndToEnd {
    /// `%map` and `%apply` through `pxsh --cluster NAME -c`; results are checked by local asserts on `_`.
    @Suite(.sharedCluster(engines: 4)) struct LoadBalancing {
        /// The acceptance case is the first; chunk size 1 maps fewer items, only to keep a debug build quick.
        @Test(arguments: [("", 10000), ("--chunksize 1", 1000), ("--chunksize 7", 10000), ("--chunksize 20000", 10000)])
        func mapOfALambdaIsCorrectAndInOrder(flags: String, count: Int) throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %map \(flags) lambda x: x*x range(\(count))
                assert _ == [x * x for x in range(\(count))], _[:20]
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }

        @Test func aFunctionDefinedAtThePromptThatClosesOverALocalVariableWorks() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                def make_scaler(k):
                    def scale(x):
                        return x * k + offset
                    return scale

                offset = 5
                scale3 = make_scaler(3)
                %map scale3 range(100)
                assert _ == [x * 3 + 5 for x in range(100)], _
                base = 1000
                def add_base(x):
                    return x + base

                %map add_base range(10)
                assert _ == list(range(1000, 1010)), _
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }

        @Test func unorderedGivesTheSameMultiset() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %map --unordered lambda x: (x % 7, x) range(500)
                got = _
                assert len(got) == 500, len(got)
                assert sorted(got) == sorted((x % 7, x) for x in range(500)), got[:20]
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }

        @Test func mapStoresUnderTheOutputNameAndTakesBuiltinsAndAnyIterable() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %map -o negated lambda x: -x range(5)
                assert negated == _ == [0, -1, -2, -3, -4], (negated, _)
                %map abs [-1, 2, -3]
                assert _ == [1, 2, 3], _
                %map str (c for c in "abc")
                assert _ == ["a", "b", "c"], _
                %apply pow 2, 10
                assert _ == 1024, _
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }

        /// `%apply` stores its value as `_` (and `-o NAME`) without waiting for the home engine: the very next
        /// lines see it, its repr is shown, and a value that cannot be loaded at home is a failure that says so.
        @Test func applyStoresItsValueBeforeTheNextLineRuns() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %apply -o seven divmod 17 5
                assert _ == seven == (3, 2), (_, seven)
                %apply pow 2, 10
                %apply abs _
                assert _ == 1024, _
                %px import sys, types; only_here = types.ModuleType("only_here"); sys.modules["only_here"] = only_here
                %px exec("class Kept:\\n    pass", only_here.__dict__); Kept = only_here.Kept
                %apply lambda: __import__("sys").modules["only_here"].Kept()
                print("session goes on")
                """
            )
            expectStatus(run, .exited(1))
            #expect(run.lines.contains("Out[1]: (3, 2)"), "\(run.transcript)")
            #expect(run.lines.contains("Out[4]: 1024"), "\(run.transcript)")
            #expect(run.output.contains("was not stored locally"), "\(run.transcript)")
            #expect(run.output.contains("ModuleNotFoundError"), "\(run.transcript)")
            #expect(run.lines.contains("session goes on"), "\(run.transcript)")
            #expect(!run.output.contains("AssertionError"), "\(run.transcript)")
        }

        /// The home engine packs an `%apply` call for the controller, which sends it on: a call it cannot
        /// pack fails as local code fails, a large argument or value travels as a shared-memory file that
        /// is removed once the call ended (the value once stored), and the next call sees `_` of the one before.
        @Test func applyPackedAtHomeFailsLocallyAndLeavesNoSharedMemory() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %apply not_defined_anywhere 1
                %apply abs 1 / 0
                %apply len bytearray(10**6)
                %apply abs -_
                assert _ == 10**6, _
                %apply bytes 10**6
                assert len(_) == 10**6, len(_)
                %px import os; left = os.listdir(os.environ["PXSH_SHARED_MEMORY_DIR"])
                %pull left
                assert left == [[]] * len(left), left
                print("session goes on")
                """
            )
            expectStatus(run, .exited(1))
            #expect(run.output.contains("NameError: name 'not_defined_anywhere' is not defined"), "\(run.transcript)")
            #expect(run.output.contains("ZeroDivisionError"), "\(run.transcript)")
            // Local errors, shown without an engine's prefix.
            #expect(!run.output.contains(":apply]"), "\(run.transcript)")
            #expect(!run.output.contains("[-1"), "\(run.transcript)")
            #expect(run.lines.contains("Out[3]: 1000000"), "\(run.transcript)")
            #expect(run.lines.contains("session goes on"), "\(run.transcript)")
            #expect(!run.output.contains("AssertionError"), "\(run.transcript)")
        }

        @Test func aValueThatCannotBeSerializedIsAClearErrorNamingIt() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                import threading
                a_lock = threading.Lock()
                %map lambda x: a_lock range(3)
                print("session goes on")
                """
            )
            expectStatus(run, .exited(1))
            #expect(run.output.contains("lambda x: a_lock"), "the error names the function:\n\(run.transcript)")
            #expect(run.output.contains("lock"), "the error says what cannot be pickled:\n\(run.transcript)")
            #expect(run.lines.contains("session goes on"), "\(run.transcript)")
        }

        @Test func anExceptionInAMappedFunctionFailsTheMapAndNamesIt() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %map lambda x: 1 // (x - 3) range(6)
                print("session goes on")
                """
            )
            expectStatus(run, .exited(1))
            #expect(run.output.contains(":map item 3] ZeroDivisionError"), "\(run.transcript)")
            #expect(run.lines.contains("session goes on"), "\(run.transcript)")
        }
    }
}
