/// Random edits of a valid body, aimed at the scanner's decisions: structural bytes, escapes, and
/// pieces of other valid members, besides plain bit flips and cuts.
struct ByteMutator {
    /// Bytes that change what the scanner must decide when dropped into a body.
    static let structuralBytes =
        Array(#"{}[]"\,:0-+.eEtfnu/ "#.utf8) + [0x09, 0x0A, 0x0D, 0x00, 0x1F, 0x7F, 0xC3, 0xFF]

    /// Snippets that keep a body valid more often than a random byte does, so the comparison with
    /// Foundation also covers accepted bodies (repeated `model` keys among them).
    static let snippets = [
        "{", "[", "\"", "\\", "\\u", "\\u0041", "\\ud83d", "\\ude00", ",\"model\":\"x\"", ",\"model\":1",
        "\"model\":", ",\"stream\":true", ",\"stream\":\"yes\"", "{}", "[]", "[[[[", "]]]]", "}}", "-0",
        "0.5e-3", "1e400", "true", "null", ",", ",}", " \t\r\n", "\"\"", "\u{E9}", "\u{1F600}",
    ].map { Array($0.utf8) }

    /// Applies one to four edits.
    static func mutate(_ bytes: inout [UInt8], random: inout SplitMix64) {
        for _ in 0..<random.inRange(1...4) {
            mutateOnce(&bytes, random: &random)
        }
    }

    private static func mutateOnce(_ bytes: inout [UInt8], random: inout SplitMix64) {
        let position = random.below(bytes.count + 1)
        guard !bytes.isEmpty else {
            bytes += random.pick(snippets)
            return
        }
        let index = min(position, bytes.count - 1)
        switch random.below(8) {
        case 0:
            bytes[index] ^= 1 << UInt8(random.below(8))
        case 1:
            bytes[index] = random.chance(70) ? random.pick(structuralBytes) : UInt8(random.below(256))
        case 2:
            bytes.insert(random.pick(structuralBytes), at: position)
        case 3:
            bytes.removeSubrange(index..<min(bytes.count, index + random.inRange(1...8)))
        case 4:
            bytes.removeSubrange(position...)
        case 5:
            let start = random.below(bytes.count)
            let slice = bytes[start..<min(bytes.count, start + random.inRange(1...24))]
            bytes.insert(contentsOf: slice, at: position)
        case 6:
            bytes.insert(contentsOf: random.pick(snippets), at: position)
        default:
            let other = random.below(bytes.count)
            bytes.swapAt(index, other)
        }
    }
}
