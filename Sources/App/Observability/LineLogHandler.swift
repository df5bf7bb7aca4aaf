import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log handler that writes one line per event to stdout, as text or JSON (`--log-format`).
///
/// Text: `2026-11-25T18:20:40.123Z info request id=olla-1 status=200`; JSON: one object per line with
/// `time`, `level`, `msg` and the metadata, for log shippers.
struct LineLogHandler: LogHandler {
    enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = self.metadata
        if let extra = event.metadata {
            merged.merge(extra) { _, new in new }
        }
        var line = ""
        line.reserveCapacity(160)
        switch format {
        case .text:
            line += Self.timestamp()
            line += " "
            line += event.level.rawValue
            line += " "
            line += event.message.description
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                line += " \(key)="
                line += Self.textValue(value.description)
            }
        case .json:
            line += "{\"time\":\"\(Self.timestamp())\",\"level\":\"\(event.level.rawValue)\",\"msg\":"
            line += Self.jsonString(event.message.description)
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                line += ","
                line += Self.jsonString(key)
                line += ":"
                line += Self.jsonString(value.description)
            }
            line += "}"
        }
        line += "\n"
        LogSink.standardOutput.write(line)
    }

    /// RFC 3339 UTC with milliseconds, without Foundation's formatter: this runs once per request, so the
    /// part up to the second is formatted once per second and reused.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let seconds = Int(now.tv_sec)
        let prefix = secondPrefix.withLockedValue { cached -> String in
            if cached.second == seconds { return cached.text }
            var time = now.tv_sec
            var parts = tm()
            gmtime_r(&time, &parts)
            let text =
                "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
                + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))."
            cached = (seconds, text)
            return text
        }
        return prefix + pad(now.tv_nsec / 1_000_000, 3) + "Z"
    }

    private static let secondPrefix = NIOLockedValueBox((second: -1, text: ""))

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// A value of a text line (`key=value`): as it is when that is unambiguous, else quoted and escaped
    /// like a JSON string, so that a client's text (a model name, a path) can neither break the line nor
    /// forge a field.
    static func textValue(_ text: String) -> String {
        let plain =
            !text.isEmpty
            && text.utf8.allSatisfy { byte in
                byte > 0x20 && byte != 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
            }
        return plain ? text : jsonString(text)
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
