import Yams

/// The keys one map of the file may hold.
struct ConfigurationKeys: Sendable {
    /// Keys olla reads.
    var read: [String]
    /// Keys Olla reads that olla accepts and ignores, so an Olla configuration loads without warnings;
    /// their values, whole subtrees included, are not checked.
    var ignored: [String] = []

    /// Every key that draws no warning.
    var all: [String] { read + ignored }
}

/// One map of the file after its keys were checked: entries in file order, with the line of each key.
struct ConfigurationMap {
    /// One `key: value` of the map.
    struct Entry {
        var key: String
        var keyLine: Int?
        var value: Node
    }

    /// Key path of the map itself; empty for the top level.
    var path: String
    /// Line where the map starts.
    var line: Int?
    var entries: [Entry]

    /// The key path of `key` inside this map.
    func path(of key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The value of `key`, or `nil` when the key is absent or its value is YAML null (`key:` alone, `~`).
    ///
    /// Null counts as absent so that a section with every key commented out keeps its defaults.
    func value(_ key: String) -> Node? {
        guard let entry = entries.last(where: { $0.key == key }) else { return nil }
        return entry.value.isNull ? nil : entry.value
    }

    /// The line of `key`, or `nil` when the key is absent.
    func keyLine(_ key: String) -> Int? {
        entries.last(where: { $0.key == key })?.keyLine
    }

    /// Whether `key` is written in the map, even with a null value.
    func contains(_ key: String) -> Bool {
        entries.contains { $0.key == key }
    }
}

extension Node {
    /// Whether this is YAML's null (an empty plain value, `~` or `null`); a quoted `""` is not.
    var isNull: Bool {
        guard case .scalar(let scalar) = self, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// The 1-based line where the node starts.
    var line: Int? { mark?.line }

    /// What the node is, for messages: "a map", "a list", or the quoted value.
    var kindDescription: String {
        switch self {
        case .mapping: return "a map"
        case .sequence: return "a list"
        case .scalar(let scalar): return "\"\(scalar.string)\""
        case .alias: return "an alias"
        }
    }
}
