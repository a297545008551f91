import Testing

@testable import PxLineEditor

#if canImport(Glibc)
import Glibc
#endif

// The line editor's pure parts and its history file. What needs a terminal (keys, Tab, Ctrl-C, the initial text of a
// line) is tested through the real pxsh under tmux, in TerminalTests.

struct CompletionMatchesTests {
    @Test func sameWordAndToken() throws {
        let matches = try #require(
            CompletionMatches(
                lineBeforeCursor: "x = np.ar",
                wordStart: 4,
                tokenStart: 4,
                candidates: ["np.array", "np.arange"]
            )
        )
        #expect(matches.insertion == "np.ar")
        #expect(matches.replacements == ["np.array", "np.arange"])
        #expect(matches.needsListing)
        #expect(!matches.appendsSpace)
    }

    @Test func libeditWordShorterThanToken() throws {
        // libedit broke at "." (if it did): the candidate loses the token's head.
        let matches = try #require(
            CompletionMatches(lineBeforeCursor: "np.ar", wordStart: 3, tokenStart: 0, candidates: ["np.array", "os.x"])
        )
        #expect(matches.replacements == ["array"])
        #expect(matches.candidates == ["np.array"])
        #expect(matches.insertion == "array")
        #expect(matches.appendsSpace)
    }

    @Test func libeditWordLongerThanToken() throws {
        let matches = try #require(
            CompletionMatches(lineBeforeCursor: "a-b", wordStart: 0, tokenStart: 2, candidates: ["bar", "baz"])
        )
        #expect(matches.replacements == ["a-bar", "a-baz"])
        #expect(matches.insertion == "a-ba")
        #expect(!matches.needsListing)
    }

    @Test func noSpaceAfterDot() throws {
        let matches = try #require(
            CompletionMatches(lineBeforeCursor: "sci", wordStart: 0, tokenStart: 0, candidates: ["scipy."])
        )
        #expect(matches.insertion == "scipy.")
        #expect(!matches.appendsSpace)
    }

    @Test func commonPrefixNeverShorterThanWord() throws {
        let matches = try #require(
            CompletionMatches(lineBeforeCursor: "Ab", wordStart: 0, tokenStart: 0, candidates: ["abc", "abd"])
        )
        #expect(matches.insertion == "Ab")
        #expect(matches.needsListing)
    }

    @Test func duplicatesAndEmpty() throws {
        #expect(CompletionMatches(lineBeforeCursor: "x", wordStart: 0, tokenStart: 0, candidates: []) == nil)
        let matches = try #require(
            CompletionMatches(lineBeforeCursor: "nu", wordStart: 0, tokenStart: 0, candidates: ["numpy", "numpy"])
        )
        #expect(matches.replacements == ["numpy"])
        #expect(matches.appendsSpace)
    }

    @Test func nonASCIIOffsets() throws {
        // "é" decomposed is two scalars but one Character: libedit counts scalars, the completer Characters.
        let line = "e\u{301} caf"
        let matches = try #require(
            CompletionMatches(lineBeforeCursor: line, wordStart: 3, tokenStart: 2, candidates: ["café"])
        )
        #expect(matches.insertion == "café")
    }

    @Test func outOfRangeOffsetsAreClamped() {
        #expect(CompletionMatches(lineBeforeCursor: "ab", wordStart: 99, tokenStart: -3, candidates: ["zz"]) == nil)
        let matches = CompletionMatches(lineBeforeCursor: "ab", wordStart: 99, tokenStart: 99, candidates: ["zz"])
        #expect(matches?.insertion == "zz")
    }

    @Test func insertingTextAddsExactlyThatText() {
        let matches = CompletionMatches.insertingText("    ")
        #expect(matches.insertion == "    ")
        #expect(!matches.appendsSpace)
        #expect(!matches.needsListing)
    }
}

struct PromptMarkupTests {
    @Test(arguments: [
        ("In [1]: ", "In [1]: "),
        ("\u{1B}[32mIn [1]:\u{1B}[0m ", "\u{1}\u{1B}[32m\u{2}In [1]:\u{1}\u{1B}[0m\u{2} "),
        ("\u{1B}[1m\u{1B}[32mX", "\u{1}\u{1B}[1m\u{1B}[32m\u{2}X"),
        ("\u{1B}]0;title\u{7}> ", "\u{1}\u{1B}]0;title\u{7}\u{2}> "),
        ("\u{1}\u{1B}[1m\u{2}> ", "\u{1}\u{1B}[1m\u{2}> "),
        ("é\u{1B}[0m", "é\u{1}\u{1B}[0m\u{2}"),
        ("trailing\u{1B}[", "trailing\u{1}\u{1B}[\u{2}"),
    ])
    func marksEscapeSequences(_ input: String, _ expected: String) {
        // Compared scalar by scalar: "é" and "e\u{301}" are equal Strings but different prompts.
        #expect(PromptMarkup.markingEscapeSequences(in: input).unicodeScalars.elementsEqual(expected.unicodeScalars))
    }
}

/// History files. Each test creates `LineEditor`s, of which only one may exist at a time: the suite is serialized.
@Suite(.serialized)
struct HistoryTests {
    /// A path in the temporary directory, unique to this process and `name`, with no file or empty directory at it.
    func freshPath(_ name: String) -> String {
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        let path = "\(directory)/pxsh-lineeditor-test-\(name)-\(getpid())"
        unlink(path)
        rmdir(path)
        return path
    }

    func contents(of path: String) -> String {
        guard let file = fopen(path, "r") else { return "<missing>" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func entriesAreAppendedAtOnceAndRoundTrip() {
        let path = freshPath("append")
        defer { unlink(path) }
        do {
            let editor = LineEditor(historyFile: path, historyLimit: 100)
            editor.addToHistory("one")
            #expect(contents(of: path) == "_HiStOrY_V2_\none\n")
            editor.addToHistory("one")  // repeated: stored once
            editor.addToHistory("   ")  // whitespace: not stored
            editor.addToHistory("def f():\n\treturn 'a\\b' é")
        }
        #expect(contents(of: path) == "_HiStOrY_V2_\none\ndef\\040f():\\012\\011return\\040'a\\134b'\\040é\n")
        guard case .entries(let entries, let count) = HistoryFile(path: path).load(limit: 100) else {
            Issue.record("the history file was not loaded")
            return
        }
        #expect(entries == ["one", "def f():\n\treturn 'a\\b' é"])
        #expect(count == 2)
    }

    @Test func twoSessionsKeepEachOthersEntriesAndTheFileIsTrimmed() {
        let path = freshPath("trim")
        defer { unlink(path) }
        do {
            let editor = LineEditor(historyFile: path, historyLimit: 3)
            editor.addToHistory("a1")
            // Another session appends meanwhile.
            try? HistoryFile(path: path).append("b1")
            editor.addToHistory("a2")
            editor.addToHistory("a3")
            editor.addToHistory("a4")
            guard case .entries(let entries, let count) = HistoryFile(path: path).load(limit: 100) else {
                Issue.record("the history file was not loaded")
                return
            }
            #expect(entries == ["a1", "b1", "a2", "a3", "a4"])
            #expect(count == 5)
            editor.saveHistory()
            guard case .entries(let trimmed, let trimmedCount) = HistoryFile(path: path).load(limit: 100) else {
                Issue.record("the history file was not loaded")
                return
            }
            #expect(trimmed == ["a2", "a3", "a4"])
            #expect(trimmedCount == 3)
        }
        // Loading trims an outgrown file too.
        for index in 0..<5 {
            try? HistoryFile(path: path).append("x\(index)")
        }
        do {
            _ = LineEditor(historyFile: path, historyLimit: 4)
            guard case .entries(let entries, let count) = HistoryFile(path: path).load(limit: 100) else {
                Issue.record("the history file was not loaded")
                return
            }
            #expect(entries == ["x1", "x2", "x3", "x4"])
            #expect(count == 4)
        }
    }

    @Test func aFileInAnotherFormatIsNeverOverwritten() {
        let path = freshPath("foreign")
        defer { unlink(path) }
        let file = fopen(path, "w")!
        fputs("ls -l\ncd /tmp\n", file)
        fclose(file)
        do {
            let editor = LineEditor(historyFile: path, historyLimit: 1)
            editor.saveHistory()
        }
        #expect(contents(of: path) == "ls -l\ncd /tmp\n")
        #expect(HistoryFile(path: path).load(limit: 10) == .unreadable)
    }

    @Test func entriesThatCannotBeWrittenAreKeptForLater() {
        let directory = freshPath("directory")
        let path = directory + "/history"
        defer {
            unlink(path)
            rmdir(directory)
        }
        do {
            let editor = LineEditor(historyFile: path, historyLimit: 10)
            editor.addToHistory("early")
            #expect(contents(of: path) == "<missing>")
            mkdir(directory, 0o700)
            editor.addToHistory("late")
            #expect(contents(of: path) == "_HiStOrY_V2_\nearly\nlate\n")
        }
    }

    @Test func aSymbolicLinkIsFollowedWhenRewriting() {
        let target = freshPath("target")
        let link = freshPath("link")
        defer {
            unlink(link)
            unlink(target)
        }
        for index in 0..<4 {
            try? HistoryFile(path: target).append("t\(index)")
        }
        symlink(target, link)
        do { _ = LineEditor(historyFile: link, historyLimit: 2) }
        var status = stat()
        lstat(link, &status)
        #expect((status.st_mode & S_IFMT) == S_IFLNK)
        #expect(contents(of: target) == "_HiStOrY_V2_\nt2\nt3\n")
    }
}
