/// The hashes of prompt-cache affinity (DESIGN.md 6.8): the same on every olla process and every run (unlike
/// Swift's `Hasher`, which is seeded per process), so that replicas with the same configuration choose the same
/// host for the same key without sharing anything.
public enum AffinityHash {
    /// FNV-1a's starting value.
    public static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// FNV-1a over `bytes`, continuing from `seed`.
    @inline(__always)
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = offset) -> UInt64 {
        var hash = seed
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* prime
        }
        return hash
    }

    /// FNV-1a over a string's UTF-8.
    public static func hash(_ text: String, seed: UInt64 = offset) -> UInt64 {
        var text = text
        return text.withUTF8 { hash(UnsafeRawBufferPointer($0), seed: seed) }
    }

    /// The rendezvous weight of `key` on the host whose name hashes to `endpoint`: a full-avalanche mix
    /// (splitmix64's finaliser) of both, so that every host is first for an even share of keys.
    @inline(__always)
    public static func score(key: UInt64, endpoint: UInt64) -> UInt64 {
        var value = key ^ (endpoint &* 0x9e37_79b9_7f4a_7c15)
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        return value ^ (value >> 31)
    }
}
