/// ANSI colours, or none: every renderer call takes one of these instead of asking the terminal.
public struct Style: Sendable, Equatable {
    public var isEnabled: Bool

    public init(isEnabled: Bool) { self.isEnabled = isEnabled }

    public static let plain = Style(isEnabled: false)

    static let enginePalette = ["36", "35", "33", "32", "34", "96", "95", "93", "92", "94"]

    /// The engine's colour, so its prefixes are easy to follow down the screen.
    public func engine(_ engine: Int32, _ text: String) -> String {
        guard isEnabled else { return text }
        let code = engine < 0 ? "1" : Style.enginePalette[Int(engine) % Style.enginePalette.count]
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    public func error(_ text: String) -> String { paint("31", text) }
    public func dim(_ text: String) -> String { paint("2", text) }
    public func bold(_ text: String) -> String { paint("1", text) }
    public func prompt(_ text: String) -> String { paint("32", text) }
    public func output(_ text: String) -> String { paint("31", text) }

    private func paint(_ code: String, _ text: String) -> String {
        isEnabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}
