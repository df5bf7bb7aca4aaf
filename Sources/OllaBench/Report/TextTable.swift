/// A plain-text table: the first column left-aligned, the others right-aligned, columns two spaces apart.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []
    /// Indices of rows that start a section; a blank line goes before them.
    private var sectionStarts: Set<Int> = []

    init(header: [String]) {
        self.header = header
    }

    mutating func section(_ title: String) {
        sectionStarts.insert(rows.count)
        rows.append([title])
    }

    mutating func row(_ cells: [String]) {
        rows.append(cells)
    }

    var rendered: String {
        let columns = header.count
        var widths = header.map(\.count)
        for row in rows where row.count > 1 {
            for (index, cell) in row.enumerated() where index < columns {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            if cells.count == 1 { return cells[0] }
            var parts: [String] = []
            for index in 0..<columns {
                let cell = index < cells.count ? cells[index] : ""
                let padding = String(repeating: " ", count: max(widths[index] - cell.count, 0))
                parts.append(index == 0 || index >= columns - 2 ? cell + padding : padding + cell)
            }
            var text = parts.joined(separator: "  ")
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
        var lines = [line(header), String(repeating: "-", count: widths.reduce(0, +) + 2 * (columns - 1))]
        for (index, row) in rows.enumerated() {
            if sectionStarts.contains(index), index > 0 { lines.append("") }
            lines.append(line(row))
        }
        return lines.joined(separator: "\n")
    }
}
