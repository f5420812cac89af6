import ArgumentParser

@main
struct Ranksmith: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ranksmith",
        abstract: "Embed, rerank and search text; refine the embedding model.")
}
