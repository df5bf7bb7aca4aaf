/// A set of endpoint ordinals (the hosts a request already tried), kept inline for up to 64 endpoints so
/// failover bookkeeping allocates nothing in the usual case.
public struct EndpointSet: Sendable, Equatable {
    private var low: UInt64 = 0
    private var high: [Int] = []

    public init() {}

    public func contains(_ ordinal: Int) -> Bool {
        ordinal < 64 ? (low & (1 << UInt64(ordinal))) != 0 : high.contains(ordinal)
    }

    public mutating func insert(_ ordinal: Int) {
        if ordinal < 64 {
            low |= 1 << UInt64(ordinal)
        } else if !high.contains(ordinal) {
            high.append(ordinal)
        }
    }

    public var isEmpty: Bool { low == 0 && high.isEmpty }
}
