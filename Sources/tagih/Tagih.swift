import ArgumentParser
import Foundation

@main
struct Tagih: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tagih",
        abstract: "Contact scheduling for telecollection: next permitted and best call times, served over HTTP/2.",
        subcommands: [
            ServeCommand.self,
            ImportCommand.self,
            BackupCommand.self,
            ExplainCommand.self,
            SimulateCommand.self,
            LoadgenCommand.self,
            DialCommand.self,
        ]
    )
}

extension AsyncParsableCommand {
    /// Runs `body`, the command's work; a `ValidationError` it throws (a usage error found only while running, such
    /// as a date that does not exist) is printed with a pointer to this command's help and ends the process with
    /// exit code 64. Thrown on instead, ArgumentParser would print the root command's usage, and
    /// `Self.exit(withError:)` would name this command without `tagih`.
    func reportingUsageErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ValidationError {
            let name = Self.configuration.commandName ?? "\(Self.self)"
            FileHandle.standardError.write(Data("Error: \(error.message)\nSee 'tagih \(name) --help'.\n".utf8))
            throw ExitCode.validationFailure
        }
    }
}

/// The `authorization` header for the bearer token in the environment variable `TAGIH_TOKEN` (client commands:
/// `dial`, `loadgen`), or none. The environment, not an option: a command line is visible to every user.
func tokenHeaders() -> [(String, String)] {
    guard let token = ProcessInfo.processInfo.environment["TAGIH_TOKEN"], !token.isEmpty else { return [] }
    return [("authorization", "Bearer \(token)")]
}
