import Foundation

/// Reads the values that `JSONSerialization` produces.
///
/// Foundation hands numbers and booleans out as `NSNumber`, which bridges to both `Bool` and `Int`,
/// so these readers accept what a lenient server would (`1` as true, `true` as 1) and refuse the rest.
enum JSONValue {
    static func bool(_ value: Any) -> Bool? {
        value is String ? nil : value as? Bool
    }

    static func int(_ value: Any) -> Int? {
        value is String ? nil : value as? Int
    }

    static func string(_ value: Any) -> String? {
        value as? String
    }
}
