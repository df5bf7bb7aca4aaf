import Atomics

/// Request ids for requests that bring none: a random prefix and a counter, cheap and unique. One per event
/// loop (``LoopResources``), so that the counter is never written by two cores.
final class RequestIDGenerator: Sendable {
    /// `olla-<8 hex digits>-`, as bytes.
    private let prefix: [UInt8]
    private let counter = ManagedAtomic<UInt64>(0)

    /// - Parameter prefix: the 8 hex digits after `olla-`; random by default. The event loops of one process
    ///   take consecutive values, so their ids never meet.
    init(prefix: UInt32 = .random(in: 0...UInt32.max)) {
        let hex = String(prefix, radix: 16)
        self.prefix = Array("olla-\(String(repeating: "0", count: 8 - hex.count))\(hex)-".utf8)
    }

    /// The next id: the prefix and the counter in hexadecimal, built in one allocation (this runs per request).
    func next() -> String {
        var value = counter.loadThenWrappingIncrement(ordering: .relaxed)
        var digits = 1
        var rest = value >> 4
        while rest > 0 {
            digits += 1
            rest >>= 4
        }
        let prefix = self.prefix
        return String(unsafeUninitializedCapacity: prefix.count + digits) { buffer in
            for (index, byte) in prefix.enumerated() { buffer[index] = byte }
            var position = prefix.count + digits
            repeat {
                position -= 1
                let digit = UInt8(value & 0xF)
                buffer[position] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                value >>= 4
            } while value > 0
            return prefix.count + digits
        }
    }
}
