import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// What the outermost layer knows about the terminal: the only place that asks.
public struct Terminal: Sendable {
    public var isInputTerminal: Bool
    public var isOutputTerminal: Bool
    public var width: Int
    public var usesColor: Bool

    /// Reads the real terminal's state. `NO_COLOR` or a non-tty stdout turn colour off.
    public static func current(noColor: Bool) -> Terminal {
        let output = FileDescriptor.standardOutput.isTerminal
        let noColorEnvironment = getenv("NO_COLOR").map { String(cString: $0).isEmpty == false } ?? false
        return Terminal(
            isInputTerminal: FileDescriptor.standardInput.isTerminal,
            isOutputTerminal: output,
            width: FileDescriptor.standardOutput.terminalWidth ?? 80,
            usesColor: output && !noColor && !noColorEnvironment
        )
    }

    public var renderer: Renderer { Renderer(style: Style(isEnabled: usesColor), width: width) }

    /// Writes to stdout at once (no buffering, so output interleaves correctly with the prompt).
    public static func write(_ text: String) {
        try? FileDescriptor.standardOutput.writeAll(text)
    }
}
