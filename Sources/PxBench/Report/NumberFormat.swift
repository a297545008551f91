/// Numbers as the text report shows them: a few significant digits and a unit that fits the magnitude.
///
/// Written by hand because the benchmark avoids Foundation (and `String(format:)` with it).
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

    /// A duration: "85.2 µs", "12.3 ms", "6.71 s".
    public static func duration(_ seconds: Double) -> String {
        if seconds < 1e-3 { return significant(seconds * 1e6) + " µs" }
        if seconds < 1 { return significant(seconds * 1e3) + " ms" }
        return significant(seconds) + " s"
    }

    /// A rate with an SI prefix: "52.3 k", "1.21 M".
    public static func rate(_ perSecond: Double) -> String {
        if perSecond >= 1e6 { return significant(perSecond / 1e6) + " M" }
        if perSecond >= 1e3 { return significant(perSecond / 1e3) + " k" }
        return significant(perSecond)
    }

    /// Bytes in decimal megabytes: "22.4 MB".
    public static func megabytes(_ bytes: Double) -> String { significant(bytes / 1e6) + " MB" }

    /// A value in a measure's unit, scaled for reading.
    public static func value(_ value: Double, unit: Measure.Unit) -> String {
        switch unit {
        case .seconds: duration(value)
        case .tasksPerSecond: rate(value) + " tasks/s"
        case .itemsPerSecond: rate(value) + " items/s"
        case .gigabytesPerSecond: significant(value) + " GB/s"
        case .bytes: megabytes(value)
        }
    }

    /// How many times better: "68×", "1.4×", "0.52×".
    public static func ratio(_ ratio: Double) -> String { significant(ratio, digits: 2) + "×" }
}
