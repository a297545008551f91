import PxClient
import PxText
import Testing

@testable import PxRepl

@Suite struct RendererTests {
    let renderer = Renderer(style: .plain, width: 80)

    @Test func identicalOutputMergesAcrossEngines() {
        let outputs = (0..<4).map { EngineOutput(engine: Int32($0), stdout: "done\n") }
        #expect(renderer.render(outputs) == "[stdout:0-3] done\n")
    }

    @Test func distinctOutputStaysPerEngineInEngineOrder() {
        let outputs = [3, 1, 0, 2].map { EngineOutput(engine: Int32($0), stdout: "\($0)\n") }
        #expect(renderer.render(outputs) == "[stdout:0] 0\n[stdout:1] 1\n[stdout:2] 2\n[stdout:3] 3\n")
    }

    @Test func multilineOutputStartsOnItsOwnLine() {
        let output = EngineOutput(engine: 1, stdout: "a\nb\n", stderr: "warn")
        #expect(renderer.render([output]) == "[stdout:1]\na\nb\n[stderr:1] warn\n")
    }

    @Test func afterCtrlCOnlyTheLastLinesOfAFloodAreShown() {
        let flood = (0..<1000).map { "\($0)\n" }.joined()
        let kept = LastLines.of(flood).split(separator: "\n").map(String.init)
        #expect(kept.first == "… 980 earlier lines not shown (Ctrl-C)")
        #expect(kept.dropFirst() == (980..<1000).map { "\($0)" }[...])
        #expect(LastLines.of("a\nb\n") == "a\nb\n")
    }

    @Test func carriageReturnsCannotOverwriteTheEngineLabel() {
        // A progress bar rewrites its line with \r: what is shown is the line as it was left.
        let output = EngineOutput(engine: 0, stdout: "\r 10%\r 50%\r100%\n", stderr: "a\r\nb\r\n")
        #expect(renderer.render([output]) == "[stdout:0] 100%\n[stderr:0]\na\nb\n")
    }

    @Test func resultsShowTheExecutionCount() {
        let outputs = [
            EngineOutput(engine: 0, result: .init(count: 3, repr: "0")),
            EngineOutput(engine: 1, result: .init(count: 3, repr: "41")),
        ]
        #expect(renderer.render(outputs) == "Out[0:3]: 0\nOut[1:3]: 41\n")
    }

    @Test func errorsShowEngineExceptionAndUserTraceback() {
        let traceback = """
            Traceback (most recent call last):
              File "<In [2]>", line 1, in <module>
                1/0
            ZeroDivisionError: division by zero
            """
        let outputs = (0..<2).map {
            EngineOutput(
                engine: Int32($0),
                error: RemoteError(
                    engine: Int32($0),
                    name: "ZeroDivisionError",
                    value: "division by zero",
                    traceback: traceback,
                    operation: "execute"
                )
            )
        }
        #expect(
            renderer.render(outputs) == """
                [0,1:execute] ZeroDivisionError: division by zero
                Traceback (most recent call last):
                  File "<In [2]>", line 1, in <module>
                    1/0

                """
        )
    }

    @Test func groupingByTypeListsStreamsFirst() {
        let outputs = [
            EngineOutput(engine: 0, stdout: "a\n", result: .init(count: 1, repr: "1")),
            EngineOutput(engine: 1, stdout: "b\n", result: .init(count: 1, repr: "2")),
        ]
        #expect(renderer.render(outputs, grouping: .type) == "[stdout:0] a\n[stdout:1] b\nOut[0:1]: 1\nOut[1:1]: 2\n")
    }

    @Test func colourOnlyWhenAsked() {
        let coloured = Renderer(style: Style(isEnabled: true)).render([EngineOutput(engine: 0, stdout: "x\n")])
        #expect(coloured.contains("\u{1B}["))
        #expect(!renderer.render([EngineOutput(engine: 0, stdout: "x\n")]).contains("\u{1B}"))
    }

    @Test func invalidUTF8IsShownEscaped() {
        #expect([0x61, 0xFF, 0x62].displayText == "a\\xffb")
        #expect(Array("é".utf8).displayText == "é")
    }

    @Test func timelineShowsSpeedUp() {
        let second: UInt64 = 1_000_000_000
        var tasks: [Renderer.TimelineTask] = []
        for index in 0..<8 {
            let round = UInt64(index / 4)
            tasks.append(
                Renderer.TimelineTask(
                    engine: Int32(index % 4),
                    started: round * second,
                    completed: (round + 1) * second
                )
            )
        }
        let text = renderer.timeline(tasks, title: "#1")
        #expect(text.contains("8 tasks on 4 engines: wall 2.00 s, serial 8.00 s, speed-up 4.00x"))
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("engine") }.count == 4)
    }

    @Test func numbersFormatWithoutFoundation() {
        #expect(Renderer.seconds(0.000_250) == "250 µs")
        #expect(Renderer.seconds(0.0123) == "12.3 ms")
        #expect(Renderer.seconds(1.5) == "1.50 s")
        #expect(NumberFormat.fixed(3.14159, decimals: 2) == "3.14")
    }
}
