import NIOCore

/// The model instances of an LM Studio 0.4 host and their slots, as a pure state machine.
///
/// LM Studio 0.4 serves `parallel` requests of one instance at once and queues the rest inside the host,
/// where a router cannot see them. A request for a model without a loaded instance starts a load of its own,
/// so concurrent first requests create duplicate instances (`key`, `key:2`...); later requests go to the
/// first loaded instance (LM Studio does not balance between duplicates). Each slot remembers the prompt it
/// processed last, and a request takes the free slot whose cached prompt shares the longest prefix with its
/// own. With `autoEvict`, a just-in-time load unloads the instances that earlier just-in-time loads made of other
/// models, as LM Studio's auto-evict does. The caller resumes the waiters it is handed back.
struct InstancePool<Waiter> {
    /// One request's place in an instance.
    struct Slot {
        /// The exchange using the slot now.
        var holder: Int?
        /// The prompt bytes the slot processed last (empty while the prompt cache is off).
        var cachedPrompt: [UInt8] = []
    }

    /// A request waiting for a slot of a busy instance.
    struct Waiting {
        let exchangeID: Int
        let prompt: [UInt8]
        let waiter: Waiter
    }

    /// A loaded (or loading) copy of a model.
    struct Instance {
        /// Unique for the life of the pool, unlike `id`, which an unloaded instance gives back.
        let serial: Int
        /// `key`, then `key:2`, `key:3`...
        let id: String
        let modelID: String
        var contextLength: Int
        var loaded: Bool
        /// Made by a request for a model that was not loaded (auto-evict only unloads these).
        var justInTime = false
        var slots: [Slot]
        var waiting = CircularBuffer<Waiting>()
    }

    typealias Grant = SlotGrant

    /// What happens to a request that asks for a slot.
    enum Acquisition {
        /// A slot is free: the request runs now.
        case run(Grant)
        /// Every slot is busy: the request waits in the instance's queue.
        case wait
        /// No instance is loaded: a new one was created for this request and loads; `completeLoad` finishes it.
        /// `evicted` are the waiters of instances that auto-evict unloaded, to look for a slot again.
        case load(serial: Int, evicted: [Waiter])
    }

    /// Whether slots remember prompts.
    var promptCache = false
    /// Whether a just-in-time load unloads the other models' just-in-time instances.
    var autoEvict = false
    private(set) var instances: [Instance] = []
    private var nextSerial = 1
    /// Requests holding a slot now, per model.
    private(set) var inProgress: [String: Int] = [:]
    /// The most requests that held slots of a model at once.
    private(set) var maxConcurrency: [String: Int] = [:]
    /// Instances created by loads (just in time or through the API), per model.
    private(set) var loads: [String: Int] = [:]
    private(set) var cacheHits = 0
    private(set) var cacheMisses = 0
    private(set) var tokensProcessed = 0
    private(set) var tokensReused = 0

    /// Requests waiting for a slot, per model.
    var waiting: [String: Int] {
        var counts: [String: Int] = [:]
        for instance in instances where !instance.waiting.isEmpty {
            counts[instance.modelID, default: 0] += instance.waiting.count
        }
        return counts
    }

    /// The loaded instances per model id, in creation order.
    var listing: [String: [InstanceListing]] {
        var result: [String: [InstanceListing]] = [:]
        for instance in instances where instance.loaded {
            result[instance.modelID, default: []].append(
                InstanceListing(id: instance.id, contextLength: instance.contextLength, parallel: instance.slots.count)
            )
        }
        return result
    }

    // MARK: Requests

    /// Finds a slot for exchange `exchangeID`: on `instanceID` when it is a loaded instance, else on the
    /// model's first loaded instance, else on a new instance that starts loading.
    mutating func acquire(
        modelID: String,
        instanceID: String?,
        parallel: Int,
        contextLength: Int,
        exchangeID: Int,
        prompt: [UInt8],
        waiter: Waiter
    ) -> Acquisition {
        let named = instanceID.flatMap { id in instances.firstIndex { $0.id == id && $0.loaded } }
        guard let index = named ?? instances.firstIndex(where: { $0.modelID == modelID && $0.loaded }) else {
            var evicted: [Waiter] = []
            if autoEvict {
                // Loaded ones only: evicting a load in progress would let two models evict each other forever.
                while let other = instances.firstIndex(where: { $0.justInTime && $0.loaded && $0.modelID != modelID }) {
                    evicted += remove(at: other)
                }
            }
            let serial = addInstance(modelID: modelID, parallel: parallel, contextLength: contextLength, loaded: false)
            instances[instances.count - 1].justInTime = true
            loads[modelID, default: 0] += 1
            return .load(serial: serial, evicted: evicted)
        }
        if let grant = take(index, exchangeID: exchangeID, prompt: prompt) {
            return .run(grant)
        }
        instances[index].waiting.append(Waiting(exchangeID: exchangeID, prompt: prompt, waiter: waiter))
        return .wait
    }

    /// Starts loading a new instance through the API; it counts as a load.
    mutating func startLoad(modelID: String, parallel: Int, contextLength: Int) -> (serial: Int, id: String) {
        let serial = addInstance(modelID: modelID, parallel: parallel, contextLength: contextLength, loaded: false)
        loads[modelID, default: 0] += 1
        return (serial, instances[instances.count - 1].id)
    }

    /// Marks instance `serial` loaded and gives exchange `exchangeID` (when there is one) its first slot. Nil
    /// when there is no such instance any more (it was unloaded meanwhile) or no exchange.
    mutating func completeLoad(serial: Int, exchangeID: Int?, prompt: [UInt8]) -> Grant? {
        guard let index = instances.firstIndex(where: { $0.serial == serial }) else { return nil }
        instances[index].loaded = true
        guard let exchangeID else { return nil }
        return take(index, exchangeID: exchangeID, prompt: prompt)
    }

    /// Ends exchange `exchangeID`'s use of the pool: it leaves the queue it waits in, or frees the slot it holds,
    /// which then goes to the instance's first waiter (returned with its grant, to be resumed).
    mutating func leave(exchangeID: Int, modelID: String) -> (Waiter, Grant)? {
        for index in instances.indices where instances[index].modelID == modelID {
            if let position = instances[index].waiting.firstIndex(where: { $0.exchangeID == exchangeID }) {
                instances[index].waiting.remove(at: position)
                return nil
            }
            guard let slot = instances[index].slots.firstIndex(where: { $0.holder == exchangeID }) else { continue }
            instances[index].slots[slot].holder = nil
            inProgress[modelID, default: 1] -= 1
            return serveNextWaiter(index)
        }
        return nil
    }

    // MARK: Loads and unloads

    /// Adds a loaded instance when the model has none (a model configured or switched to `loaded`); not a load.
    mutating func ensureLoaded(modelID: String, parallel: Int, contextLength: Int) {
        guard !instances.contains(where: { $0.modelID == modelID && $0.loaded }) else { return }
        _ = addInstance(modelID: modelID, parallel: parallel, contextLength: contextLength, loaded: true)
    }

    /// Removes a loaded instance; its waiters are handed back to look for a slot again. Nil when no loaded
    /// instance has that id. Requests running on it finish normally.
    mutating func unload(instanceID: String) -> [Waiter]? {
        guard let index = instances.firstIndex(where: { $0.id == instanceID && $0.loaded }) else { return nil }
        return remove(at: index)
    }

    /// Removes every instance of a model, loading ones included; returns their waiters.
    mutating func unloadAll(modelID: String) -> [Waiter] {
        var waiters: [Waiter] = []
        while let index = instances.firstIndex(where: { $0.modelID == modelID }) {
            waiters += remove(at: index)
        }
        return waiters
    }

    /// Gives every instance of a model `parallel` slots. Busy slots are never taken away (the instance has
    /// more until they free); new free slots go to waiters at once.
    mutating func setParallel(modelID: String, _ parallel: Int) -> [(Waiter, Grant)] {
        let parallel = max(1, parallel)
        var served: [(Waiter, Grant)] = []
        for index in instances.indices where instances[index].modelID == modelID {
            while instances[index].slots.count > parallel,
                let free = instances[index].slots.lastIndex(where: { $0.holder == nil })
            {
                instances[index].slots.remove(at: free)
            }
            while instances[index].slots.count < parallel {
                instances[index].slots.append(Slot())
            }
            while let next = serveNextWaiter(index) {
                served.append(next)
            }
        }
        return served
    }

    /// Sets the counters to zero; the highest concurrency starts again from what runs now.
    mutating func resetCounters() {
        maxConcurrency = inProgress.filter { $0.value > 0 }
        loads = [:]
        cacheHits = 0
        cacheMisses = 0
        tokensProcessed = 0
        tokensReused = 0
    }

    // MARK: Internals

    private mutating func addInstance(modelID: String, parallel: Int, contextLength: Int, loaded: Bool) -> Int {
        let taken = Set(instances.map(\.id))
        var id = modelID
        var number = 2
        while taken.contains(id) {
            id = "\(modelID):\(number)"
            number += 1
        }
        let serial = nextSerial
        nextSerial += 1
        instances.append(
            Instance(
                serial: serial,
                id: id,
                modelID: modelID,
                contextLength: contextLength,
                loaded: loaded,
                slots: Array(repeating: Slot(), count: max(1, parallel))
            )
        )
        return serial
    }

    private mutating func remove(at index: Int) -> [Waiter] {
        let instance = instances.remove(at: index)
        let busy = instance.slots.filter { $0.holder != nil }.count
        if busy > 0 { inProgress[instance.modelID, default: busy] -= busy }
        return instance.waiting.map(\.waiter)
    }

    private mutating func serveNextWaiter(_ index: Int) -> (Waiter, Grant)? {
        guard let next = instances[index].waiting.first,
            let grant = take(index, exchangeID: next.exchangeID, prompt: next.prompt)
        else { return nil }
        instances[index].waiting.removeFirst()
        return (next.waiter, grant)
    }

    /// Takes the free slot of instance `index` that has cached the longest prefix of `prompt`.
    private mutating func take(_ index: Int, exchangeID: Int, prompt: [UInt8]) -> Grant? {
        var best: (slot: Int, prefix: Int)?
        for (position, slot) in instances[index].slots.enumerated() where slot.holder == nil {
            let prefix = promptCache ? Self.commonPrefixLength(slot.cachedPrompt, prompt) : 0
            if best == nil || prefix > best!.prefix {
                best = (position, prefix)
            }
            if !promptCache { break }
        }
        guard let best else { return nil }
        instances[index].slots[best.slot].holder = exchangeID
        let modelID = instances[index].modelID
        let running = inProgress[modelID, default: 0] + 1
        inProgress[modelID] = running
        maxConcurrency[modelID] = max(maxConcurrency[modelID, default: 0], running)
        let promptTokens = max(1, (prompt.count + 3) / 4)
        guard promptCache else {
            return Grant(instanceID: instances[index].id, promptTokens: promptTokens, reusedTokens: 0)
        }
        instances[index].slots[best.slot].cachedPrompt = prompt
        let reused = min(promptTokens, best.prefix / 4)
        // A hit is a prompt whose cached prefix covers at least half of it.
        if !prompt.isEmpty && best.prefix * 2 >= prompt.count {
            cacheHits += 1
        } else {
            cacheMisses += 1
        }
        tokensProcessed += promptTokens - reused
        tokensReused += reused
        return Grant(instanceID: instances[index].id, promptTokens: promptTokens, reusedTokens: reused)
    }

    static func commonPrefixLength(_ first: [UInt8], _ second: [UInt8]) -> Int {
        let count = min(first.count, second.count)
        var length = 0
        while length < count && first[length] == second[length] {
            length += 1
        }
        return length
    }
}

extension InstancePool: Sendable where Waiter: Sendable {}
extension InstancePool.Instance: Sendable where Waiter: Sendable {}
extension InstancePool.Waiting: Sendable where Waiter: Sendable {}
extension InstancePool.Slot: Sendable {}

/// A slot handed to a request on a 0.4 host, with what the prompt cache saved it.
struct SlotGrant: Equatable, Sendable {
    let instanceID: String
    /// The prompt's tokens (a token per four bytes, at least one).
    let promptTokens: Int
    /// The tokens of the prompt that the slot had cached.
    let reusedTokens: Int

    /// The tokens that are processed before the first token.
    var processedTokens: Int { promptTokens - reusedTokens }
}
