import Balancer
import NIOCore
import NIOHTTP1

/// A request's prompt-cache affinity key (DESIGN.md 6.8): from the first of `key_sources` that yields one.
struct AffinityKey {
    var hash: UInt64
    var source: StickySessionSettings.KeySource

    /// The key of a request, or nil when no source yields one.
    /// - Parameter sessionID: the request's valid `X-Olla-Session-ID` (``sessionID(in:)``), read once by the caller.
    static func of(
        sessionID: String?,
        head: HTTPRequestHead,
        body: ByteBuffer,
        fields: JSONFieldScanner.Fields,
        client: ClientAddress,
        settings: StickySessionSettings
    ) -> AffinityKey? {
        for source in settings.keySources {
            switch source {
            case .sessionHeader:
                if let session = sessionID {
                    return AffinityKey(hash: AffinityHash.hash(session), source: source)
                }
            case .prefixHash:
                guard let range = fields.promptRange else { continue }
                // The model too: the same history sent to two models is two caches.
                let seed = AffinityHash.hash(fields.model ?? "")
                let hash = body.withUnsafeReadableBytes { bytes in
                    let value = UnsafeRawBufferPointer(rebasing: bytes[range])
                    let length = conversationStart(value, limit: settings.prefixHashBytes)
                    return AffinityHash.hash(UnsafeRawBufferPointer(rebasing: value[0..<length]), seed: seed)
                }
                return AffinityKey(hash: hash, source: source)
            case .authHeader:
                if let authorization = head.headers.first(name: "authorization"), !authorization.isEmpty {
                    return AffinityKey(hash: AffinityHash.hash(authorization), source: source)
                }
            case .ip:
                if let ip = client.ip { return AffinityKey(hash: AffinityHash.hash(ip), source: source) }
            }
        }
        return nil
    }

    /// How much of a conversation's value keys it: every turn repeats the history, but the first turn's history
    /// ends where later turns' go on, so a fixed number of bytes would key turn 1 apart from the rest. For an
    /// array of messages (`messages`, or `input` as a list), the key ends with the first message whose `role` is
    /// `user` (the system prompt and the first question, the same in every turn); for text (`prompt`, `input`)
    /// it is the first `limit` bytes. Never more than `limit` bytes.
    ///
    /// - Parameter value: a JSON value the body scanner has already checked.
    static func conversationStart(_ value: UnsafeRawBufferPointer, limit: Int) -> Int {
        let end = min(value.count, limit)
        guard value.first == UInt8(ascii: "[") else { return end }
        var depth = 0
        var index = 0
        var elementIsUser = false
        while index < end {
            let byte = value[index]
            switch byte {
            case UInt8(ascii: "\""):
                let token = stringEnd(value, from: index)
                guard token <= end else { return end }
                if depth == 2, isToken(value, index..<token, "\"role\"") {
                    // A key at the message's own level: its value follows the colon.
                    var next = token
                    while next < end,
                        value[next] == 0x20 || value[next] == 0x3A || value[next] == 0x0A
                            || value[next] == 0x0D || value[next] == 0x09
                    {
                        next += 1
                    }
                    if next < end, value[next] == UInt8(ascii: "\"") {
                        let valueEnd = stringEnd(value, from: next)
                        if valueEnd <= end, isToken(value, next..<valueEnd, "\"user\"") { elementIsUser = true }
                    }
                }
                index = token
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth == 2 { elementIsUser = false }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 1 && elementIsUser { return index + 1 }
            default:
                break
            }
            index += 1
        }
        return end
    }

    /// The offset just past the string token starting at `start` (a quote), or past the end when it runs on.
    private static func stringEnd(_ value: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start + 1
        while index < value.count {
            switch value[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return value.count + 1
    }

    private static func isToken(_ value: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return UnsafeRawBufferPointer(rebasing: value[range])
            .elementsEqual(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// The client's `X-Olla-Session-ID` when it is at most 128 printable ASCII characters; anything else is
    /// ignored, neither a key nor echoed.
    static func sessionID(in headers: HTTPHeaders) -> String? {
        guard let value = headers.first(name: "x-olla-session-id"), !value.isEmpty, value.utf8.count <= 128,
            value.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E })
        else { return nil }
        return value
    }
}
