import ArgumentParser

struct LoadgenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "loadgen", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("'tagih loadgen' is not built yet")
    }
}
