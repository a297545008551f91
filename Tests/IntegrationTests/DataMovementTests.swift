import Testing

extension EndToEnd {
    /// Push, pull, scatter and gather through `pxsh --cluster NAME -c`, checked exactly by Python itself:
    /// each script ends in local `assert`s, so exit status 0 proves equality (and a failed assert makes it 1).
    @Suite(.sharedCluster(engines: 4)) struct DataMovement {
        /// A Python value built by an expression that both the home engine and the engines evaluate.
        struct Value: Sendable, CustomTestStringConvertible {
            var name: String
            var expression: String
            var testDescription: String { name }
        }

        static let values: [Value] = [
            Value(name: "small_int", expression: "41"),
            Value(name: "big_int", expression: "-(2**100) + 7"),
            Value(name: "string", expression: #"'héllo\tworld\n\x00 🙂 ' * 3"#),
            Value(name: "dict", expression: #"{'a': [1, (2, 3.5)], 7: {'b': None, 'c': b'\xff\x00'}, 'ü': True}"#),
            Value(name: "ndarray_int32_3d", expression: "np.arange(24, dtype=np.int32).reshape(2, 3, 4)"),
            Value(name: "ndarray_strided", expression: "np.linspace(-1, 1, 50)[::3]"),
            Value(name: "ndarray_fortran", expression: "np.asfortranarray(np.arange(12.0).reshape(3, 4))"),
            Value(name: "ndarray_2mb", expression: "np.random.default_rng(7).random(250_000)"),
            Value(name: "ndarray_bool", expression: "np.array([True, False, True])"),
            // Large enough that frames are written and read in many pieces.
            Value(name: "ndarray_48mb", expression: "np.random.default_rng(11).random(6_000_000)"),
        ]

        /// `same(a, b)`: equal values of the same type; arrays also of the same dtype and shape.
        static let same = """
            def same(a, b):
                if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                    return type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
                return type(a) is type(b) and a == b and repr(a) == repr(b)

            """

        @Test(arguments: values)
        func pushAndPullRoundTripExactly(value: Value) throws {
            let cluster = try NamedCluster.current()
            let sent = "sent_\(value.name)"
            let back = "back_\(value.name)"
            let run = try cluster.script(
                """
                import numpy as np
                \(Self.same)
                %%px
                import numpy as np
                \(Self.same)
                \(sent) = \(value.expression)
                %push \(sent)
                %px assert same(\(sent), \(value.expression)), repr(\(sent))
                %px \(back) = (rank, \(value.expression))
                %pull \(back)
                assert [r for r, _ in \(back)] == [0, 1, 2, 3], \(back)
                assert all(same(v, \(sent)) for _, v in \(back)), \(back)
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }

        /// A sequence to scatter, and how to compare what comes back (`g`) with the original (`orig`).
        struct Sequence: Sendable, CustomTestStringConvertible {
            var name: String
            var expression: String
            var check: String
            var testDescription: String { name }
        }

        static let sequences: [Sequence] = [
            Sequence(
                name: "range100",
                expression: "range(100)",
                check: "type(g) is range and g == range(100)"
            ),
            Sequence(
                name: "list",
                expression: "[i * 1.5 if i % 3 else str(i) for i in range(37)] + [None]",
                check: "type(g) is list and g == orig"
            ),
            Sequence(name: "tuple", expression: "tuple(range(10))", check: "type(g) is tuple and g == orig"),
            Sequence(name: "fewer_than_engines", expression: "[1, 2]", check: "g == [1, 2]"),
            Sequence(name: "ndarray", expression: "np.arange(103, dtype=np.int64) * 3", check: "same(g, orig)"),
            Sequence(
                name: "ndarray_2d",
                expression: "np.arange(30, dtype=np.float32).reshape(10, 3)",
                check: "same(g, orig)"
            ),
            // Large enough that each block's pickle travels as a shared-memory file.
            Sequence(
                name: "list_200k_mixed",
                expression: "[(i, str(i)) if i % 3 else i for i in range(200_003)]",
                check: "type(g) is list and g == orig"
            ),
            Sequence(name: "list_1m_ints", expression: "list(range(10**6))", check: "type(g) is list and g == orig"),
        ]

        @Test(arguments: sequences)
        func scatterSplitsIntoContiguousBlocksAndGatherJoinsThemExactly(sequence: Sequence) throws {
            let cluster = try NamedCluster.current()
            let name = "sc_\(sequence.name)"
            let blocks = "blk_\(sequence.name)"
            let run = try cluster.script(
                """
                import numpy as np
                \(Self.same)
                orig = \(sequence.expression)
                items = orig.tolist() if isinstance(orig, np.ndarray) else list(orig)
                %scatter \(name) orig
                %px \(blocks) = (rank, \(name).tolist() if hasattr(\(name), "tolist") else list(\(name)))
                %pull \(blocks)
                assert [r for r, _ in \(blocks)] == [0, 1, 2, 3], \(blocks)
                assert sum((b for _, b in \(blocks)), []) == items, \(blocks)
                sizes = [len(b) for _, b in \(blocks)]
                assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True), sizes
                %gather \(name)
                g = \(name)
                assert \(sequence.check), repr(g)
                import os
                left = os.listdir(os.environ["PXSH_SHARED_MEMORY_DIR"])
                assert not left, f"shared-memory files left behind: {left}"
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }

        /// Contiguous ranges gather back into a range in O(1): a range of 10**18 items goes out as four
        /// ranges and comes back as one (a list of it could never be built).
        @Test func aScatteredRangeGathersBackAsARangeWhateverItsLength() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %scatter huge range(7, 10**18, 3)
                %px assert type(huge) is range and abs(len(huge) - (10**18 - 7) // 12) <= 1, huge
                %gather huge
                assert type(huge) is range and huge == range(7, 10**18, 3), huge
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }

        @Test func pullShowsEachEnginesValueAndStoresAListLocally() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %px shown_value = rank * 10
                %pull shown_value
                assert shown_value == [0, 10, 20, 30], shown_value
                """
            )
            expectStatus(run, .exited(0))
            for rank in 0..<4 {
                #expect(run.lines.contains("[\(rank)] shown_value = \(rank * 10)"), "\(run.transcript)")
            }
        }

        @Test func pushOfAnExpressionAndToSomeTargets() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                base = 5
                %push pushed_expr=base * 2 + 1
                %px -t 1,3 only_odd = True
                %px has_odd = "only_odd" in globals()
                %pull pushed_expr has_odd
                assert pushed_expr == [11] * 4, pushed_expr
                assert has_odd == [False, True, False, True], has_odd
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }

        /// The arenas of small objects that are freed are kept for the next ones (ArenaCache): building
        /// 10**6 ints again after dropping 10**6 takes no fresh pages. Without the cache each round took
        /// about 7,300 page faults, at home and on the engines alike.
        @Test func freedArenasAreReusedWithoutPageFaults() throws {
            let cluster = try NamedCluster.current()
            let run = try cluster.script(
                """
                %%px --local
                import resource
                def faults_for_new_ints():
                    global arena_test
                    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                    arena_test = None
                    arena_test = list(range(10**6))
                    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
                faults = [faults_for_new_ints() for _ in range(4)][2:]
                del arena_test

                local_faults = faults
                %pull faults
                assert all(f < 1000 for f in local_faults), local_faults
                assert len(faults) == 4 and all(f < 1000 for fs in faults for f in fs), faults
                print("CHECKED")
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
        }
    }
}
