/// Numbers as text, without Foundation: a fixed count of decimals, or a few significant digits.
///
/// The REPL's tables and the benchmark's report both write numbers with these.
public enum NumberFormat {
    /// `value` rounded to `digits` significant digits, in plain decimal notation: 0.000123, 12.3, 12300.
    public static func significant(_ value: Double, digits: Int = 3) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        guard value != 0 else { return "0" }
        var exponent = 0
        var magnitude = abs(value)
        while magnitude >= 10 {
            magnitude /= 10
            exponent += 1
        }
        while magnitude < 1 {
            magnitude *= 10
            exponent -= 1
        }
        return fixed(value, decimals: max(0, digits - 1 - exponent))
    }

    /// `value` with exactly `decimals` digits after the point (rounded half away from zero).
    public static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return significant(value) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9e18 else { return "\(value)" }
        let units = UInt64(scaled)
        let divisor = UInt64(scale)
        let whole = String(units / divisor)
        let sign = value < 0 && units != 0 ? "-" : ""
        guard decimals > 0 else { return sign + whole }
        let fraction = String(units % divisor)
        return sign + whole + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
}
