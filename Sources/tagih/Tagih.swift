import ArgumentParser

@main
struct Tagih: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tagih",
        abstract: "Contact scheduling for telecollection: next permitted and best call times, served over HTTP/2.",
        subcommands: [
            ServeCommand.self,
            ImportCommand.self,
            ExplainCommand.self,
            SimulateCommand.self,
            LoadgenCommand.self,
        ]
    )
}
