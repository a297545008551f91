import Testing

@testable import PxRepl

@Suite struct MagicParserTests {
    /// The catalog drives the parser: every magic it lists has its own parser, and there is no other
    /// parser but the `%exit` spelling of `%quit`.
    @Test func everyMagicInTheCatalogHasItsOwnParser() {
        let catalog = Set(MagicCatalog.all.map(\.name))
        let parsers = Set(MagicParser.parsers.keys)
        #expect(catalog.subtracting(parsers).isEmpty, "no parser: \(catalog.subtracting(parsers).sorted())")
        #expect(parsers.subtracting(catalog) == ["%exit"])
    }

    @Test(
        arguments: [
            ("%px print(rank)", Command.px(PxOptions(), code: "print(rank)")),
            (
                "%px -t 0,2 --noblock -o ar import time; time.sleep(1)",
                .px(PxOptions(targets: .ids([0, 2]), block: false, name: "ar"), code: "import time; time.sleep(1)")
            ),
            (
                "%px --targets=::2 --local x = 1",
                .px(PxOptions(targets: .slice(start: nil, stop: nil, step: 2), local: true), code: "x = 1")
            ),
            ("%px -- -x", .px(PxOptions(), code: "-x")),
            (
                "%%px -t 1:3\nimport os\nprint(os.getpid())",
                .px(PxOptions(targets: .slice(start: 1, stop: 3, step: nil)), code: "import os\nprint(os.getpid())")
            ),
            ("%push a b", .push([.init(name: "a"), .init(name: "b")], targets: nil)),
            (
                "%push x=a * 2 y=[1, 2]",
                .push([.init(name: "x", expression: "a * 2"), .init(name: "y", expression: "[1, 2]")], targets: nil)
            ),
            ("%pull -t -1 a b", .pull(["a", "b"], targets: .ids([-1]))),
            ("%scatter xs range(100)", .scatter(name: "xs", expression: "range(100)", targets: nil)),
            ("%gather xs", .gather(name: "xs", targets: nil)),
            ("%map lambda x: x*x range(10000)", .map(MapOptions(), call: "lambda x: x*x range(10000)")),
            (
                "%map --chunksize 5 --unordered -o sq f [1, 2, 3]",
                .map(MapOptions(chunkSize: 5, unordered: true, name: "sq"), call: "f [1, 2, 3]")
            ),
            ("%apply f 3, y=4", .apply(call: "f 3, y=4", name: nil)),
            ("%wait ar --timeout 2.5", .wait(name: "ar", timeout: 2.5)),
            ("%result ar -o v", .result(name: "ar", storeAs: "v")),
            ("%restart 1 --replay", .restart(.ids([1]), replay: true)),
            ("%restart --list", .listSetup),
            ("%px --setup x = 1", .px(PxOptions(setup: true), code: "x = 1")),
            ("%help px", .help("px")),
            ("%jobs", .jobs),
            // The form output labels use: [stdout:0-3].
            ("%px -t 0-3 x", .px(PxOptions(targets: .ids([0, 1, 2, 3])), code: "x")),
            ("%pull -t 0-1,5 a", .pull(["a"], targets: .ids([0, 1, 5]))),
        ] as [(String, Command)]
    )
    func parses(_ line: String, _ expected: Command) throws {
        #expect(try MagicParser.parse(line) == expected)
    }

    @Test(arguments: [
        ("%px", "no code"), ("%px --bogus 1", "unknown flag --bogus"), ("%px -t 1:2:3:4 x", "bad targets"),
        ("%pull", "name the variables"), ("%push 1x", "not a variable name"), ("%map f", "a function and a sequence"),
        ("%add zero", "number of engines"), ("%frobnicate", "unknown magic %frobnicate"), ("%pu", "did you mean"),
        ("%px -o 9lives x", "not a valid name"), ("%wait a b", "unexpected"),
        ("%push x=", "x= needs an expression"), ("%push a y=", "y= needs an expression"),
        ("%%", "unknown magic %%"), ("%%%px", "unknown magic %%%px"), ("%%foo", "unknown magic %%foo"),
        ("%px -t 3-1 x", "bad targets"), ("%px -t 0- x", "bad targets"), ("%restart --list 1", "--list goes alone"),
    ])
    func rejectsWithAClearMessage(_ line: String, _ fragment: String) {
        #expect {
            _ = try MagicParser.parse(line)
        } throws: { error in
            "\(error)".contains(fragment)
        }
    }
}

@Suite struct TargetSpecTests {
    let engines: [Int32] = [0, 1, 2, 3]

    @Test(
        arguments: [
            ("all", [0, 1, 2, 3]), ("0,2", [0, 2]), ("1:3", [1, 2]), ("::2", [0, 2]), ("-1", [3]), ("3", [3]),
            ("::-1", [3, 2, 1, 0]), ("-2:", [2, 3]),
        ] as [(String, [Int32])]
    )
    func resolves(_ text: String, _ expected: [Int32]) throws {
        #expect(try TargetSpec(text)?.resolve(among: engines) == expected)
    }

    @Test func unknownEnginesAreErrors() {
        #expect(throws: TargetError.noSuchEngine(7, engines)) { try TargetSpec("7")!.resolve(among: engines) }
        #expect(throws: TargetError.self) { try TargetSpec("5:9")!.resolve(among: engines) }
        #expect(TargetSpec("a,b") == nil)
        #expect(TargetSpec("1::0") == nil)
    }

    @Test func rangesAreCompact() {
        #expect(EngineRanges.format([0, 1, 2, 3]) == "0-3")
        #expect(EngineRanges.format([0, 2]) == "0,2")
        #expect(EngineRanges.format([0, 1]) == "0,1")
        #expect(EngineRanges.format([5, 0, 1, 2]) == "0-2,5")
    }
}
