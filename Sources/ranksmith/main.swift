import ArgumentParser

/// The `ranksmith` command line: one subcommand per file in this folder.
@main
struct Ranksmith: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ranksmith",
        abstract: "Embed, rerank and search text; refine the embedding model.",
        subcommands: Ranksmith.allSubcommands)
}

extension Ranksmith {
    /// Every subcommand. Add one line here per new command file.
    static var allSubcommands: [ParsableCommand.Type] {
        [
            EmbedCommand.self,
            EvalCommand.self,
            BenchCommand.self,
        ]
    }
}
