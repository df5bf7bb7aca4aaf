import ArgumentParser
import Foundation

/// `olla validate`: checks a configuration and lists every problem (DESIGN.md section 3).
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a configuration file and list every error and warning.",
        discussion: "Exits 0 when the file has no errors (warnings allowed), 1 otherwise. Lines are 1-based."
    )

    @OptionGroup var file: ConfigurationFileOption

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let path = file.config ?? environment["OLLA_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "endpoints.yaml"
        let result = ConfigurationLoader.load(contentsOfFile: path, environment: environment)
        for issue in result.issues {
            FileHandle.standardError.write(Data("\(path): \(issue)\n".utf8))
        }
        if result.errors.isEmpty {
            let note = result.warnings.isEmpty ? "" : " (\(result.warnings.count) warnings)"
            print("\(path): valid\(note)")
        } else {
            FileHandle.standardError.write(Data("\(path): \(result.errors.count) errors\n".utf8))
            throw ExitCode(1)
        }
    }
}
