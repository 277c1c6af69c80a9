import ArgumentParser

@main
struct Tagih: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tagih",
        abstract: "Contact scheduling for telecollection.",
        subcommands: []
    )
}
