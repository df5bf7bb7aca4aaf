import Balancer
import NIOCore
import NIOHTTP1

/// A request's prompt-cache affinity key (DESIGN.md 6.8): from the first of `key_sources` that yields one.
struct AffinityKey {
    var hash: UInt64
    var source: StickySessionSettings.KeySource

    /// The key of a request, or nil when no source yields one.
    static func of(
        head: HTTPRequestHead,
        body: ByteBuffer,
        fields: JSONFieldScanner.Fields,
        client: ClientAddress,
        settings: StickySessionSettings
    ) -> AffinityKey? {
        for source in settings.keySources {
            switch source {
            case .sessionHeader:
                if let session = sessionID(in: head.headers) {
                    return AffinityKey(hash: AffinityHash.hash(session), source: source)
                }
            case .prefixHash:
                guard let range = fields.promptRange else { continue }
                // The model too: the same history sent to two models is two caches.
                let seed = AffinityHash.hash(fields.model ?? "")
                let length = min(range.count, settings.prefixHashBytes)
                let hash = body.withUnsafeReadableBytes { bytes in
                    AffinityHash.hash(UnsafeRawBufferPointer(rebasing: bytes[range.lowerBound..<range.lowerBound + length]), seed: seed)
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

    /// The client's `X-Olla-Session-ID` when it is at most 128 printable ASCII characters; anything else is
    /// ignored, neither a key nor echoed.
    static func sessionID(in headers: HTTPHeaders) -> String? {
        guard let value = headers.first(name: "x-olla-session-id"), !value.isEmpty, value.utf8.count <= 128,
            value.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E })
        else { return nil }
        return value
    }
}
