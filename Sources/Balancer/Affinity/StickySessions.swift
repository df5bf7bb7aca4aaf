import Atomics
import NIOConcurrencyHelpers

/// The keys of prompt-cache affinity seen lately and the outcome counts that `/internal/stats/sticky` shows
/// (DESIGN.md 6.8). It only says whether a key was seen before (`hit` or `miss`); it never decides a host, so
/// replicas that do not share it still agree on every choice.
///
/// Recording takes no lock and allocates nothing: every event loop records into one shared table of atomic
/// words, so a key seen on one loop is a `hit` on any other (a table per loop would call the next turn of a
/// conversation a `miss` whenever its connection lands on another loop). The table is set-associative: a key's
/// hash picks a bucket of four slots, and each slot holds one word, the key's 32-bit fingerprint and the second it
/// was last seen. A key not in its bucket takes an empty slot or else the one seen longest ago (that key counts
/// as evicted). A bucket is one cache line, with its own outcome counters beside its slots, so a request writes
/// to one line only, and a scrape sums the counters of every bucket.
///
/// Bounded by `max_sessions` by construction: the slots number at most `max_sessions`, and at most
/// ``maximumKeys`` whatever it says. Two keys with the same bucket and fingerprint (about one chance in four
/// billion per pair) share a slot, which only changes what the outcome is called.
///
/// - Important: A reload that changes `max_sessions` forgets the keys seen so far (each counts as evicted and
///   its next request as a `miss`); one that does not keeps them. The counters are kept either way.
public final class StickySessions: Sendable {
    /// What a request's affinity came to, reported in `X-Olla-Sticky-Session`.
    public enum Outcome: String, Sendable {
        case hit
        case miss
        case repin
        case disabled
    }

    /// The counters of `/internal/stats/sticky`.
    public struct Statistics: Sendable, Equatable {
        public var activeSessions = 0
        public var insertions = 0
        public var hits = 0
        public var misses = 0
        public var repins = 0
        public var evictions = 0
    }

    /// Keys the table holds at most, whatever `max_sessions` says: 16 MB of slots and counters.
    public static let maximumKeys = 1 << 20

    /// What only reloads and statistics touch, under a lock that requests never take.
    private struct Tables {
        var settings: StickySessionSettings
        /// The live table last; the earlier ones were outgrown by a reload. They stay allocated, because a
        /// request on another loop may still be writing to one without a lock, and they are never more than
        /// the live one: each new table has at least twice the buckets of the one before.
        var all: [SeenKeyTable]
    }

    private let tables: NIOLockedValueBox<Tables>
    /// The address of the live table's words: read per request, replaced only by a reload that outgrows it.
    private let words: ManagedAtomic<Int>
    /// The buckets and ways in use (``Layout``), never more than the table loaded after it holds.
    private let layout: ManagedAtomic<Int>
    private let idleTTLSeconds: ManagedAtomic<Int64>

    public init(_ settings: StickySessionSettings) {
        let layout = Layout(maxSessions: settings.maxSessions)
        let table = SeenKeyTable(buckets: layout.buckets)
        tables = NIOLockedValueBox(Tables(settings: settings, all: [table]))
        words = ManagedAtomic(Int(bitPattern: table.words))
        self.layout = ManagedAtomic(layout.rawValue)
        idleTTLSeconds = ManagedAtomic(settings.idleTTL.components.seconds)
    }

    public var settings: StickySessionSettings { tables.withLockedValue { $0.settings } }

    /// Takes new settings (reload). A new `max_sessions` starts an empty table (see the type's note); the
    /// counters go on.
    public func setSettings(_ settings: StickySessionSettings) {
        tables.withLockedValue { tables in
            tables.settings = settings
            idleTTLSeconds.store(settings.idleTTL.components.seconds, ordering: .relaxed)
            let new = Layout(maxSessions: settings.maxSessions)
            guard new != Layout(rawValue: layout.load(ordering: .relaxed)) else { return }
            let live = tables.all[tables.all.count - 1]
            if new.buckets <= live.buckets {
                // Keys placed with the old layout would sit in the wrong buckets: start empty.
                layout.store(new.rawValue, ordering: .releasing)
                live.forgetKeys()
            } else {
                let grown = SeenKeyTable(buckets: min(Layout.maximumBuckets, max(new.buckets, 2 * live.buckets)))
                tables.all.append(grown)
                // The words first: a request that reads the new layout then reads a table that holds it.
                words.store(Int(bitPattern: grown.words), ordering: .releasing)
                layout.store(new.rawValue, ordering: .releasing)
            }
        }
    }

    /// Records a request placed by affinity, and tells whether it was a hit, a miss or a repin.
    /// - Parameters:
    ///   - firstRanked: the key's first-ranked host took it.
    ///   - now: seconds of a monotonic clock.
    public func record(key: UInt64, firstRanked: Bool, now: Int64) -> Outcome {
        let layout = Layout(rawValue: self.layout.load(ordering: .acquiring))
        let address = words.load(ordering: .acquiring)
        // Never null, and never freed while `self` lives (``Tables/all``).
        let words = UnsafeMutablePointer<UnsafeAtomic<Int64>.Storage>(bitPattern: address)!
        let ttl = idleTTLSeconds.load(ordering: .relaxed)
        let mixed = Self.mix(key)
        let bucketIndex = Int(truncatingIfNeeded: UInt64(layout.buckets).multipliedFullWidth(by: mixed).high)
        let bucket = words + bucketIndex * SeenKeyTable.bucketWords
        let fingerprint = Slot.fingerprint(of: mixed)
        let stamp = Slot.stamp(now)
        var seen = false
        probing: while true {
            var victim: (way: Int, word: Int64)?
            for way in 0..<layout.ways {
                let slot = UnsafeAtomic<Int64>(at: bucket + way)
                let word = slot.load(ordering: .relaxed)
                if word != Slot.empty && Slot.fingerprint(word) == fingerprint {
                    seen = now - Slot.lastSeen(word) <= ttl
                    let updated = Slot.word(fingerprint: fingerprint, stamp: stamp)
                    // Within the same second a hit writes nothing.
                    if word == updated
                        || slot.compareExchange(expected: word, desired: updated, ordering: .relaxed).exchanged
                    {
                        break probing
                    }
                    continue probing
                }
                if word == Slot.empty {
                    if victim?.word != Slot.empty { victim = (way, word) }
                } else if let current = victim {
                    if current.word != Slot.empty && Slot.lastSeen(word) < Slot.lastSeen(current.word) {
                        victim = (way, word)
                    }
                } else {
                    victim = (way, word)
                }
            }
            guard let victim else { break }
            let slot = UnsafeAtomic<Int64>(at: bucket + victim.way)
            let placed = slot.compareExchange(
                expected: victim.word,
                desired: Slot.word(fingerprint: fingerprint, stamp: stamp),
                ordering: .relaxed
            )
            // Lost to another loop: look again, the key may be the one it placed.
            guard placed.exchanged else { continue }
            UnsafeAtomic<Int64>(at: bucket + Counter.insertions.rawValue).wrappingIncrement(ordering: .relaxed)
            break
        }
        let (outcome, counter): (Outcome, Counter) =
            firstRanked ? (seen ? (.hit, .hits) : (.miss, .misses)) : (.repin, .repins)
        UnsafeAtomic<Int64>(at: bucket + counter.rawValue).wrappingIncrement(ordering: .relaxed)
        return outcome
    }

    /// The counters now; `activeSessions` counts the keys seen within `idle_ttl_seconds`. Reads every bucket of
    /// every table: for `/internal/stats/sticky`, never for a request.
    public func statistics(now: Int64) -> Statistics {
        tables.withLockedValue { tables in
            let ttl = tables.settings.idleTTL.components.seconds
            var statistics = Statistics()
            for table in tables.all {
                for bucket in 0..<table.buckets {
                    statistics.hits += table.value(bucket: bucket, at: Counter.hits.rawValue)
                    statistics.misses += table.value(bucket: bucket, at: Counter.misses.rawValue)
                    statistics.repins += table.value(bucket: bucket, at: Counter.repins.rawValue)
                    statistics.insertions += table.value(bucket: bucket, at: Counter.insertions.rawValue)
                }
            }
            let layout = Layout(rawValue: layout.load(ordering: .acquiring))
            let live = tables.all[tables.all.count - 1]
            var held = 0
            for bucket in 0..<layout.buckets {
                for way in 0..<layout.ways {
                    let word = Int64(live.value(bucket: bucket, at: way))
                    guard word != Slot.empty else { continue }
                    held += 1
                    if now - Slot.lastSeen(word) <= ttl { statistics.activeSessions += 1 }
                }
            }
            // Every key placed is still held or was pushed out (or forgotten by a reload). Read while requests
            // go on, the two sides may be a moment apart.
            statistics.evictions = max(0, statistics.insertions - held)
            return statistics
        }
    }

    /// splitmix64's finaliser: the affinity keys are FNV-1a hashes, whose high bits are not mixed well enough
    /// to pick a bucket.
    @inline(__always)
    private static func mix(_ key: UInt64) -> UInt64 {
        var value = key
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        return value ^ (value >> 31)
    }

    /// The words of a bucket after its slots (``SeenKeyTable/slotsPerBucket``).
    private enum Counter: Int {
        case hits = 4
        case misses = 5
        case repins = 6
        case insertions = 7
    }

    /// How many buckets, of how many slots each, the table uses for a `max_sessions`: `buckets x ways` never
    /// exceeds it.
    private struct Layout: Equatable {
        static let maximumWays = SeenKeyTable.slotsPerBucket
        static let maximumBuckets = StickySessions.maximumKeys / maximumWays

        var buckets: Int
        var ways: Int

        init(maxSessions: Int) {
            ways = max(1, min(Self.maximumWays, maxSessions))
            buckets = max(1, min(Self.maximumBuckets, maxSessions / ways))
        }

        init(rawValue: Int) {
            buckets = rawValue >> 3
            ways = rawValue & 7
        }

        var rawValue: Int { buckets << 3 | ways }
    }

    /// A slot's word: the key's fingerprint in the high half, the second it was last seen in the low half; 0 when
    /// the slot is empty (a fingerprint is never 0).
    private enum Slot {
        static let empty: Int64 = 0

        static func fingerprint(of mixed: UInt64) -> UInt32 {
            let fingerprint = UInt32(truncatingIfNeeded: mixed)
            return fingerprint == 0 ? 1 : fingerprint
        }

        static func fingerprint(_ word: Int64) -> UInt32 { UInt32(truncatingIfNeeded: UInt64(bitPattern: word) >> 32) }

        /// Seconds of uptime fit 32 bits for 136 years.
        static func stamp(_ now: Int64) -> UInt32 { UInt32(clamping: now) }

        static func lastSeen(_ word: Int64) -> Int64 { Int64(UInt32(truncatingIfNeeded: word)) }

        static func word(fingerprint: UInt32, stamp: UInt32) -> Int64 {
            Int64(bitPattern: UInt64(fingerprint) << 32 | UInt64(stamp))
        }
    }
}

/// The memory of a ``StickySessions`` table: buckets of eight atomic words (four slots, four counters), one
/// 64-byte cache line each.
private final class SeenKeyTable: @unchecked Sendable {
    static let slotsPerBucket = 4
    static let bucketWords = 8

    let buckets: Int
    let words: UnsafeMutablePointer<UnsafeAtomic<Int64>.Storage>

    init(buckets: Int) {
        self.buckets = buckets
        let count = buckets * Self.bucketWords
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: count * MemoryLayout<UnsafeAtomic<Int64>.Storage>.stride,
            alignment: 64
        )
        words = raw.bindMemory(to: UnsafeAtomic<Int64>.Storage.self, capacity: count)
        words.initialize(repeating: UnsafeAtomic<Int64>.Storage(0), count: count)
    }

    deinit {
        words.deinitialize(count: buckets * Self.bucketWords)
        words.deallocate()
    }

    /// Word `index` of `bucket`, as a count.
    func value(bucket: Int, at index: Int) -> Int {
        Int(UnsafeAtomic<Int64>(at: words + bucket * Self.bucketWords + index).load(ordering: .relaxed))
    }

    /// Empties every slot (a reload that changed the layout), keeping the counters.
    func forgetKeys() {
        for bucket in 0..<buckets {
            for way in 0..<Self.slotsPerBucket {
                UnsafeAtomic<Int64>(at: words + bucket * Self.bucketWords + way).store(0, ordering: .relaxed)
            }
        }
    }
}
