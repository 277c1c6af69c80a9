import ArgumentParser

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("'tagih import' is not built yet")
    }
}
