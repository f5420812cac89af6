import ArgumentParser
import Foundation

/// The `ranksmith` command line: one subcommand per file in this folder.
struct Ranksmith: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ranksmith",
        abstract: "Embed, rerank and search text; refine the embedding model.",
        subcommands: Ranksmith.allSubcommands)

    /// Parses the command line with `RANKSMITH_*` environment variables
    /// merged in for `serve`, then runs the chosen command.
    static func runMain() async {
        let arguments = EnvironmentFlags.merge(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

extension Ranksmith {
    /// Every subcommand. Add one line here per new command file.
    static var allSubcommands: [ParsableCommand.Type] {
        [
            EmbedCommand.self,
            RerankCommand.self,
            EvalCommand.self,
            BenchCommand.self,
            ServeCommand.self,
            GenerateCommand.self,
            SynthesizeCommand.self,
            ListsReportCommand.self,
            FilterListsCommand.self,
            TrainCommand.self,
            RefineCommand.self,
        ]
    }
}

await Ranksmith.runMain()
