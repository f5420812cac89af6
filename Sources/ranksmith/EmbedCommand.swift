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
        let lines = try readInputLines(input)
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

/// The lines of `path` ('-': standard input), keeping empty lines except a
/// final newline's.
func readInputLines(_ path: String) throws -> [String] {
    let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: path)
    guard let data else { throw ValidationError("cannot read input file \(path)") }
    var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// Loads a model folder, turning load errors into one clear CLI error.
func loadModel(_ path: String) throws -> BertModel {
    do {
        return try BertModel(directory: URL(fileURLWithPath: path))
    } catch {
        throw ValidationError("cannot load model: \(error)")
    }
}

/// A progress line's time: `1h02m`, `3m05s`, `12s` (`?` when unknown).
func durationText(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}

/// A failure that is not a usage mistake: one line saying what went wrong,
/// printed without the usage text.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
