import PxText

// MARK: - The report's units

extension NumberFormat {
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
        case .ratio: significant(value) + "×"
        }
    }

    /// How many times better: "68×", "1.4×", "0.52×".
    public static func ratio(_ ratio: Double) -> String { significant(ratio, digits: 2) + "×" }
}
