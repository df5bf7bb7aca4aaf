import NIOCore

/// Finds the response ids (`"resp_..."`) in a stateful answer as it streams by, so that olla learns which host
/// holds each conversation (DESIGN.md 6.9): the `id` of a `/v1/responses` answer (in `response.created` when
/// streamed) and the `response_id` of `/api/v1/chat` (in `chat.end`). Any quoted `resp_` id in a successful
/// answer of a host names a conversation that host holds.
///
/// Bounded: it carries at most one cut id from a part to the next, and skips ids over ``maximumLength`` bytes.
struct ResponseIDScanner {
    static let maximumLength = 256
    private static let marker: [UInt8] = Array("\"resp_".utf8)

    /// The end of the last part, from a quote on, when an id may have been cut there.
    private var carry: [UInt8] = []

    /// The ids that end in `part`, including one that began in an earlier part.
    mutating func scan(_ part: ByteBuffer) -> [String] {
        var found: [String] = []
        part.withUnsafeReadableBytes { bytes in
            if !carry.isEmpty {
                var joined = carry
                carry.removeAll()
                joined.append(contentsOf: bytes.prefix(Self.marker.count + Self.maximumLength + 1))
                let match = joined.withUnsafeBytes { Self.match(at: 0, in: $0) }
                switch match {
                case .id(let id, _):
                    found.append(id)
                case .cut:
                    // The whole part is inside the id: it may still end in the next one.
                    carry = joined
                    return
                case .none:
                    break
                }
            }
            var index = 0
            while index < bytes.count {
                guard bytes[index] == UInt8(ascii: "\"") else {
                    index += 1
                    continue
                }
                switch Self.match(at: index, in: bytes) {
                case .id(let id, let end):
                    found.append(id)
                    index = end
                case .cut:
                    carry = Array(bytes[index...])
                    return
                case .none:
                    index += 1
                }
            }
        }
        return found
    }

    private enum Match {
        case id(String, end: Int)
        /// The bytes end before the id does.
        case cut
        case none
    }

    /// Whether `"resp_<id>"` starts at `index` (a quote).
    private static func match(at index: Int, in bytes: UnsafeRawBufferPointer) -> Match {
        for (offset, expected) in marker.enumerated() {
            guard index + offset < bytes.count else { return .cut }
            guard bytes[index + offset] == expected else { return .none }
        }
        let start = index + 1
        var end = index + marker.count
        while end < bytes.count, isIDByte(bytes[end]) {
            end += 1
            if end - start > maximumLength { return .none }
        }
        guard end < bytes.count else { return .cut }
        guard bytes[end] == UInt8(ascii: "\""), end - start > 5 else { return .none }
        return .id(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self), end: end + 1)
    }

    @inline(__always)
    private static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
