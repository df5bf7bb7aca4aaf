import NIOCore
import NIOHTTP1
import Proxy

/// A JSON value for olla's own answers (listings, status), with object keys kept in the order written so
/// the output reads the way DESIGN.md section 5 shows it.
indirect enum JSONDocument {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONDocument])
    case object([(String, JSONDocument)])

    /// A string, or null when absent.
    static func optional(_ value: String?) -> JSONDocument {
        value.map { .string($0) } ?? .null
    }

    /// An integer, or null when absent.
    static func optional(_ value: Int?) -> JSONDocument {
        value.map { .int($0) } ?? .null
    }

    /// The compact JSON text.
    var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    /// A 200 (or other status) answer with this document as its body.
    func response(_ status: HTTPResponseStatus = .ok) -> LocalResponse {
        .json(status, text)
    }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value):
            out += value.isFinite ? String(value) : "null"
        case .string(let value): Self.writeString(value, into: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                Self.writeString(key, into: &out)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ value: String, into out: inout String) {
        out += String(decoding: JSONFieldScanner.encodeString(value), as: UTF8.self)
    }
}
