import Foundation

/// Sizes as the configuration writes them: a number of bytes, or a number with a unit in powers of 1024.
enum SizeSyntax {
    private static let bytesPerUnit: [String: Int64] = [
        "b": 1,
        "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
        "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
        "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
    ]

    /// Parses `52428800`, `512KB`, `1.5MB`, `1 GiB` (units B, K/KB/KiB, M/MB/MiB, G/GB/GiB, any case).
    ///
    /// KB means 1024 bytes, as in Olla and in the sizes people mean for request limits.
    static func parse(_ text: String) -> Result<Int, ValueProblem> {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("-") {
            return .failure(ValueProblem("must not be negative, found \(trimmed)"))
        }
        let number = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard let value = DecimalText(number) else {
            return .failure(ValueProblem("must be a size such as 100MB or a number of bytes, found \"\(trimmed)\""))
        }
        guard let scale = bytesPerUnit[unit] ?? (unit.isEmpty ? 1 : nil) else {
            return .failure(ValueProblem("has an unknown unit \"\(unit)\" in \(trimmed); use B, KB, MB or GB"))
        }
        if scale == 1 && value.hasFraction {
            return .failure(ValueProblem("must be a whole number of bytes, found \(trimmed)"))
        }
        guard let bytes = value.scaled(by: scale), let result = Int(exactly: bytes) else {
            return .failure(ValueProblem("is too large: \(trimmed)"))
        }
        return .success(result)
    }
}
