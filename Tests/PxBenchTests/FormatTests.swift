import PxText
import Testing

@testable import PxBench

@Suite struct NumberFormatTests {
    @Test(arguments: [
        (0.000123456, "0.000123"),
        (12.345, "12.3"),
        (12_345.0, "12345"),
        (1.0, "1.00"),
        (-2.5, "-2.50"),
        (0.0, "0"),
    ])
    func significantDigits(_ value: Double, _ expected: String) {
        #expect(NumberFormat.significant(value) == expected)
    }

    @Test func fixedRoundsHalfAwayFromZero() {
        #expect(NumberFormat.fixed(2.345, decimals: 1) == "2.3")
        #expect(NumberFormat.fixed(0.05, decimals: 1) == "0.1")
        #expect(NumberFormat.fixed(-0.04, decimals: 1) == "0.0")
        #expect(NumberFormat.fixed(3, decimals: 0) == "3")
    }

    @Test func unitsScaleWithTheMagnitude() {
        #expect(NumberFormat.duration(85.2e-6) == "85.2 µs")
        #expect(NumberFormat.duration(0.0123) == "12.3 ms")
        #expect(NumberFormat.duration(6.71) == "6.71 s")
        #expect(NumberFormat.value(52_300, unit: .tasksPerSecond) == "52.3 k tasks/s")
        #expect(NumberFormat.value(1_210_000, unit: .itemsPerSecond) == "1.21 M items/s")
        #expect(NumberFormat.value(22_400_000, unit: .bytes) == "22.4 MB")
        #expect(NumberFormat.ratio(68.4) == "68×")
        #expect(NumberFormat.ratio(0.523) == "0.52×")
    }

    @Test func nonFiniteValuesAreSpelledOut() {
        #expect(NumberFormat.significant(.nan) == "nan")
        #expect(NumberFormat.significant(.infinity) == "inf")
    }
}

@Suite struct TextTableTests {
    @Test func alignsFirstColumnLeftAndOthersRight() {
        var table = TextTable()
        table.append(["a", "1", "x"])
        table.append(["long", "100", ""])
        #expect(table.rendered() == "a       1  x\nlong  100")
    }
}
