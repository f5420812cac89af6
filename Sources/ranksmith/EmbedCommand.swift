import ArgumentParser
import Encoder
import Foundation
import Numerics

/// `ranksmith embed --model DIR --input FILE`: one text per input line in,
/// one `{"embedding": [...]}` JSON object per line out (normalised).
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Embed one text per line of a file; writes JSONL to stdout.")

    @Option(help: "Sentence-transformers model folder.")
    var model: String = "models/all-MiniLM-L6-v2"

    @Option(help: "Input file, one text per line ('-' for stdin).")
    var input: String

    @Option(help: "Inputs per forward pass.")
    var batchSize: Int = 32

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    func run() throws {
        let threads = configureThreads(threads)
        let model = try loadModel(model)
        let text: String
        if input == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: input) else {
                throw ValidationError("cannot read input file \(input)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let (vectors, truncated) = model.embedAll(lines, batchSize: batchSize, threads: threads)
        var out = ""
        out.reserveCapacity(lines.count * vectors.cols * 12)
        for r in 0..<vectors.rows {
            out += "{\"embedding\":["
            for c in 0..<vectors.cols {
                if c > 0 { out += "," }
                out += "\(vectors[r, c])"
            }
            out += "]}\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        if truncated > 0 {
            FileHandle.standardError.write(Data("ranksmith embed: \(truncated) input(s) truncated to \(model.maxSequenceLength) tokens\n".utf8))
        }
    }
}

/// Compute threads for the encoder (all cores when nil). BLAS runs one
/// thread per caller: the encoder splits batches across cores itself.
@discardableResult
func configureThreads(_ threads: Int?) -> Int {
    BLAS.setThreads(1)
    return max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
}

/// Loads a model folder, turning load errors into one clear CLI error.
func loadModel(_ path: String) throws -> BertModel {
    do {
        return try BertModel(directory: URL(fileURLWithPath: path))
    } catch {
        throw ValidationError("cannot load model: \(error)")
    }
}
