/// A small seedable pseudo-random generator (Steele, Lea and Flood's SplitMix64).
///
/// The tests carry their own generator rather than `SystemRandomNumberGenerator` so that every generated
/// case is a pure function of its seed: a failure message names the seed, and that seed alone rebuilds the
/// failing body on any machine and any toolchain.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A value in `0..<count`; the multiply-high reduction keeps the bias far below what a test can notice.
    mutating func below(_ count: Int) -> Int {
        precondition(count > 0)
        return Int(next().multipliedFullWidth(by: UInt64(count)).high)
    }

    /// A value in `range`.
    mutating func inRange(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    /// True with probability `percent` / 100.
    mutating func chance(_ percent: Int) -> Bool {
        below(100) < percent
    }

    /// One element of a non-empty collection.
    mutating func pick<Element>(_ elements: [Element]) -> Element {
        elements[below(elements.count)]
    }

    /// The seed of the `index`-th case of a run, so a case can be replayed without replaying the ones
    /// before it.
    static func caseSeed(run: UInt64, index: Int) -> UInt64 {
        var generator = SplitMix64(seed: run ^ (UInt64(index) &* 0xD6E8_FEB8_6659_FD93))
        return generator.next()
    }
}
