import Testing

/// Proves that `TmuxSession` drives a real terminal, with programs that are always there.
@Suite(.serialized)
struct TmuxSessionTests {
    @Test func typedLineIsEchoedAndPrintedBack() throws {
        let session = try TmuxSession(command: ["cat"], environment: [:])
        defer { session.close() }

        session.type("hello from tmux")
        session.sendKeys("Enter")

        // The terminal echoes the typed line, then cat prints it again.
        try session.waitForScreen { screen in
            screen.split(separator: "\n").filter { $0 == "hello from tmux" }.count == 2
        }
    }

    @Test func environmentReachesTheProgramAndExitStatusIsReported() throws {
        // The program waits for Enter: when a pane dies, tmux scrolls its screen up by one row, and the output
        // might be gone before the test sees it.
        let session = try TmuxSession(
            command: ["bash", "--norc", "--noprofile", "-c", "echo \"value=$PXSH_TEST_VALUE\"; read; exit 3"],
            environment: ["PXSH_TEST_VALUE": "42"]
        )
        defer { session.close() }

        try session.waitForScreen { $0.contains("value=42") }
        #expect(session.exitStatus() == nil)
        session.sendKeys("Enter")
        try session.waitForScreen { _ in session.exitStatus() != nil }
        #expect(session.exitStatus() == 3)
    }

    @Test func keyNamesReachTheProgram() throws {
        let session = try TmuxSession(command: ["bash", "--norc", "--noprofile"], environment: ["PS1": "$ "])
        defer { session.close() }
        try session.waitForScreen { $0.contains("$") }

        session.type("echo first-line")
        session.sendKeys("Enter")
        try session.waitForScreen { $0.contains("\nfirst-line") }

        // Up recalls the command from bash's history; C-u then clears a line that must not run.
        session.sendKeys("Up")
        try session.waitForScreen { $0.split(separator: "\n").filter { $0 == "$ echo first-line" }.count == 2 }
        session.sendKeys("C-u")
        session.type("exit 0")
        session.sendKeys("Enter")
        try session.waitForScreen { _ in session.exitStatus() == 0 }
    }

    @Test func timeoutErrorShowsTheLastScreen() throws {
        let session = try TmuxSession(command: ["cat"], environment: [:])
        defer { session.close() }
        session.type("visible text")
        try session.waitForScreen { $0.contains("visible text") }

        let error = #expect(throws: TmuxSession.Error.self) {
            try session.waitForScreen(timeout: .milliseconds(200)) { _ in false }
        }
        #expect(error.map { String(describing: $0) }?.contains("| visible text") == true)
    }
}
