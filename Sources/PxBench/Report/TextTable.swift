/// Columns of text, padded to line up. The first column is left-aligned, the others right-aligned, as figures
/// read best.
struct TextTable {
    private(set) var rows: [[String]] = []

    mutating func append(_ row: [String]) { rows.append(row) }

    /// The table as lines joined by newlines, with `gap` spaces between columns and no trailing spaces.
    func rendered(gap: Int = 2) -> String {
        let columnCount = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columnCount)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        let separator = String(repeating: " ", count: gap)
        return rows.map { row in
            var cells: [String] = []
            for index in 0..<columnCount {
                let cell = index < row.count ? row[index] : ""
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                cells.append(index == 0 ? cell + padding : padding + cell)
            }
            return String(cells.joined(separator: separator).reversed().drop(while: { $0 == " " }).reversed())
        }.joined(separator: "\n")
    }
}
