import Balancer
import Foundation

extension ModelListing {
    /// The largest `parallel` believed of one instance; LM Studio's "Max Concurrent Predictions" defaults to 4,
    /// so anything above this is a broken host, not a big one.
    static let maximumParallel = 1024

    /// JSONSerialization hands booleans over as NSNumber of their own class, told from numbers by it.
    static let booleanClass = ObjectIdentifier(type(of: NSNumber(value: true)))

    /// Reads `loaded_instances` of an LM Studio 0.4 model entry (DESIGN.md 6.7): each instance with its
    /// `parallel`, which counts 1 when absent (an embedding or MLX model has none).
    ///
    /// Never trusts the numbers: a `parallel` that is not a positive integer counts 1, one above
    /// ``maximumParallel`` is clamped to it, and an instance that is not an object is left out; each of these
    /// adds a sentence to `issues`. Instance ids such as `key:2` are duplicates of the same model and count
    /// towards its slots.
    static func loadedInstances(_ values: [Any], of key: String, issues: inout [String]) -> [LoadedInstance] {
        var instances: [LoadedInstance] = []
        instances.reserveCapacity(values.count)
        for (position, value) in values.enumerated() {
            guard let instance = value as? [String: Any] else {
                issues.append("\(key): loaded instance \(position + 1) is not an object and was left out")
                continue
            }
            let id = nonEmptyString(instance["id"]) ?? key
            let config = instance["config"] as? [String: Any]
            instances.append(
                LoadedInstance(
                    id: id,
                    contextLength: integer(config?["context_length"]),
                    parallel: parallel(config?["parallel"], of: id, issues: &issues)
                )
            )
        }
        return instances
    }

    /// One instance's `parallel`, checked as described at ``loadedInstances(_:of:issues:)``.
    private static func parallel(_ value: Any?, of instance: String, issues: inout [String]) -> Int {
        guard let value, !(value is NSNull) else { return 1 }
        // JSONSerialization hands booleans over as NSNumber too, of their own class; `true` is not a count.
        guard let number = value as? NSNumber, ObjectIdentifier(type(of: number)) != booleanClass else {
            issues.append("\(instance): parallel is not a number; counted as 1")
            return 1
        }
        let double = number.doubleValue
        guard double.isFinite, double.rounded() == double, double >= 1 else {
            issues.append("\(instance): parallel \(number) is not a positive integer; counted as 1")
            return 1
        }
        guard double <= Double(maximumParallel) else {
            issues.append("\(instance): parallel \(number) is over \(maximumParallel); counted as \(maximumParallel)")
            return maximumParallel
        }
        return Int(double)
    }
}
