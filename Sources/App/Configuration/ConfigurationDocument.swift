import Foundation
import Yams

/// The parsed YAML tree of a configuration file, or the syntax problem that stopped parsing.
///
/// Yams refuses a mapping with a repeated key and stops there, which would hide every other problem
/// of the file. So each repeated key Yams reports is renamed in the text to a unique placeholder (same
/// line, so every line number stays right) and the text is parsed again; the reader then reports each
/// placeholder as a duplicate of the key it replaced.
struct ConfigurationDocument {
    /// The root node; `nil` for an empty file or one with only comments.
    var root: Node?
    /// Placeholder key -> the repeated key it replaced.
    var renamedKeys: [String: String]

    /// The most repeated keys renamed before giving up and reporting the repetition alone.
    private static let renameLimit = 100
    private static let placeholderPrefix = "__olla_repeated_key_"

    /// Parses `yaml` into nodes that carry their lines.
    /// - Returns: the document, or the one syntax error that makes the text unreadable as YAML.
    static func compose(_ yaml: String) -> Result<ConfigurationDocument, ConfigurationSyntaxError> {
        var text = yaml
        var renamedKeys: [String: String] = [:]
        while true {
            do {
                let root = try Yams.compose(yaml: text)
                return .success(ConfigurationDocument(root: root, renamedKeys: renamedKeys))
            } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) {
                let placeholder = "\(placeholderPrefix)\(renamedKeys.count)__"
                guard renamedKeys.count < renameLimit, let key = duplicates.first,
                    let renamed = replaceKey(key, at: context.mark, in: text, with: placeholder)
                else {
                    let names = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
                    return .failure(ConfigurationSyntaxError(line: context.mark.line, message: "repeated key \(names)"))
                }
                renamedKeys[placeholder] = key
                text = renamed
            } catch {
                return .failure(ConfigurationSyntaxError(error, in: text))
            }
        }
    }

    /// `text` with the scalar `key` that starts at `mark` (1-based line and column, in Unicode scalars)
    /// replaced by `placeholder`; `nil` when no single-line key starts there.
    private static func replaceKey(_ key: String, at mark: Mark, in text: String, with placeholder: String) -> String? {
        // Split on scalars, not Characters: "\r\n" is one Character and would hide the line break.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map(Array.init)
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        let line = lines[mark.line - 1]
        let start = mark.column - 1
        guard start >= 0, start < line.count else { return nil }
        let end: Int
        switch line[start] {
        case "\"":
            var index = start + 1
            while index < line.count, line[index] != "\"" {
                index += line[index] == "\\" ? 2 : 1
            }
            guard index < line.count else { return nil }
            end = index + 1
        case "'":
            var index = start + 1
            while index < line.count {
                if line[index] == "'" {
                    // In single quotes '' is an escaped quote, not the end.
                    if index + 1 < line.count, line[index + 1] == "'" {
                        index += 2
                        continue
                    }
                    break
                }
                index += 1
            }
            guard index < line.count else { return nil }
            end = index + 1
        default:
            // A plain single-line key is written exactly as its value.
            let key = Array(key.unicodeScalars)
            guard !key.isEmpty, line.count - start >= key.count, Array(line[start..<start + key.count]) == key else {
                return nil
            }
            end = start + key.count
        }
        lines[mark.line - 1] = Array(line[..<start]) + Array(placeholder.unicodeScalars) + Array(line[end...])
        return lines.map { String(String.UnicodeScalarView($0)) }.joined(separator: "\n")
    }
}

/// YAML that cannot be parsed, with the line libyaml stopped at.
struct ConfigurationSyntaxError: Error, Sendable, Equatable {
    var line: Int?
    var message: String

    init(line: Int?, message: String) {
        self.line = line
        self.message = message
    }

    /// Describes a Yams error in one sentence, keeping libyaml's own wording and line.
    init(_ error: any Error, in text: String) {
        guard let yamlError = error as? YamlError else {
            self.init(line: nil, message: "invalid YAML: \(error)")
            return
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if problem == "but found another document" {
                // Yams' wording for a second `---` document reads backwards; say what olla expects.
                self.init(
                    line: mark.line,
                    message: "invalid YAML: the file holds a second document (---); olla reads one"
                )
                return
            }
            if let context {
                message += " (\(context.text) that starts on line \(context.mark.line))"
            }
            self.init(line: mark.line, message: message)
        case .reader(let problem, let offset, _, _):
            let line = offset.map { offset in text.prefix(offset).filter { $0 == "\n" }.count + 1 }
            self.init(line: line, message: "unreadable text: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            self.init(line: context.mark.line, message: "repeated key \(duplicates.joined(separator: ", "))")
        default:
            self.init(line: nil, message: "invalid YAML: \(yamlError)")
        }
    }
}
