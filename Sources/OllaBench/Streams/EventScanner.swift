import NIOCore

/// Finds the ends of server-sent events in a response body that arrives in arbitrary pieces.
///
/// An event ends at a blank line (`\n\n`, carriage returns ignored). The scanner keeps only what it needs to
/// classify the event in progress: whether it starts with `data:` and whether its data is `[DONE]`.
struct EventScanner {
    /// What one call to ``scan(_:)`` found.
    struct Found: Equatable {
        /// Completed `data:` events other than `[DONE]`: the chunks of the answer.
        var dataEvents = 0
        /// Whether a `data: [DONE]` event completed.
        var done = false
    }

    /// The first bytes of the event in progress, enough for `data: [DONE]`.
    private var prefix: [UInt8] = []
    private var eventLength = 0
    private var lastWasNewline = false

    private static let prefixCapacity = 16
    private static let dataField = Array("data:".utf8)
    private static let doneValue = Array("[DONE]".utf8)

    init() {
        prefix.reserveCapacity(Self.prefixCapacity)
    }

    /// Consumes one piece of the body.
    mutating func scan(_ buffer: ByteBuffer) -> Found {
        var found = Found()
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\r"):
                    continue
                case UInt8(ascii: "\n"):
                    if lastWasNewline {
                        finishEvent(into: &found)
                        lastWasNewline = false
                    } else {
                        lastWasNewline = true
                    }
                default:
                    if lastWasNewline {
                        // A line break inside an event (a second field): part of the same event.
                        eventLength += 1
                        lastWasNewline = false
                    }
                    if prefix.count < Self.prefixCapacity { prefix.append(byte) }
                    eventLength += 1
                }
            }
        }
        return found
    }

    private mutating func finishEvent(into found: inout Found) {
        defer {
            prefix.removeAll(keepingCapacity: true)
            eventLength = 0
        }
        guard eventLength > 0, prefix.starts(with: Self.dataField) else { return }
        var value = prefix.dropFirst(Self.dataField.count)
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        if value.elementsEqual(Self.doneValue) && eventLength <= Self.prefixCapacity {
            found.done = true
        } else {
            found.dataEvents += 1
        }
    }
}
