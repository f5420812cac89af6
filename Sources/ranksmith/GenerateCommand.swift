import ArgumentParser
import Foundation
import Generator
import Numerics

/// `ranksmith generate --model FILE --prompt TEXT --max-tokens N`: greedy
/// unless sampling options are given; the prompt goes through the model's
/// chat template unless `--raw`; prints the generated text only.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a local GGUF model (greedy by default; CFG with --negative-prompt).")

    @Option(help: "GGUF model file (Llama-family).")
    var model: String = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "The prompt (a user message unless --raw).")
    var prompt: String

    @Option(help: "Most tokens to generate.")
    var maxTokens: Int = 128

    @Option(help: "Sampling temperature; 0 = greedy.")
    var temperature: Float = 0

    @Option(help: "Keep only the K most likely tokens (0 = off).")
    var topK: Int = 0

    @Option(help: "Nucleus sampling threshold (1 = off).")
    var topP: Float = 1

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(help: "Stop when this string appears (repeatable); it is not printed.")
    var stop: [String] = []

    @Flag(help: "Use the prompt as is, without the chat template.")
    var raw = false

    @Option(help: "System message for the chat template.")
    var system: String?

    @Option(help: "Chat format when the model's template is not recognised: chatml or llama3.")
    var chatTemplate: String?

    @Option(help: "Negative prompt for classifier-free guidance (same template as --prompt).")
    var negativePrompt: String?

    @Option(help: "Guidance scale s in l_neg + s·(l_pos − l_neg); 1 = off. Default 1.5 with --negative-prompt.")
    var guidanceScale: Float?

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "Benchmark instead of printing text: decode N CFG pairs as one batch as well as one stream; prints one JSON line.")
    var benchmarkPairs: Int?

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        if guidanceScale != nil && negativePrompt == nil {
            throw ValidationError("--guidance-scale needs --negative-prompt")
        }
    }

    func run() throws {
        QuantMatmul.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        BLAS.setThreads(1)
        let llm: LlamaModel
        do {
            llm = try LlamaModel(path: model)
        } catch {
            throw CommandFailure("cannot load \(model): \(error)")
        }
        func tokens(_ text: String) throws -> [Int32] {
            if raw { return llm.tokenizer.encode(text, parseSpecial: false) }
            let template = try llm.chatTemplate(override: chatTemplate)
            return llm.chatPrompt(text, system: system, template: template)
        }
        let positive = try tokens(prompt)
        var options = GenerationOptions(
            maxTokens: maxTokens,
            sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed),
            stopStrings: stop)
        let decoder = LlamaDecoder(model: llm)
        if let pairs = benchmarkPairs {
            try benchmark(decoder, prompt: positive, negative: try tokens(negativePrompt ?? prompt + " Answer briefly."), pairs: pairs)
            return
        }
        let result: Generation
        if let negativePrompt {
            options.guidanceScale = guidanceScale ?? 1.5
            let pair = GuidedPrompt(positive: positive, negative: try tokens(negativePrompt))
            result = try decoder.generateGuided([pair], options: options)[0]
        } else {
            result = try decoder.generate(prompt: positive, options: options)
        }
        FileHandle.standardOutput.write(Data((result.text + "\n").utf8))
    }

    /// Single stream, one guided pair, then `pairs` guided pairs in one batch, each for
    /// `--max-tokens` tokens past end-of-generation; one JSON line of rates.
    func benchmark(_ decoder: LlamaDecoder, prompt: [Int32], negative: [Int32], pairs: Int) throws {
        var options = GenerationOptions(maxTokens: maxTokens, ignoreEndOfGeneration: true)
        _ = try decoder.generate(prompt: prompt, options: GenerationOptions(maxTokens: 4))  // warm up
        var cpu = processCPUSeconds()
        _ = try decoder.generate(prompt: prompt, options: options)
        let single = decoder.lastTimings
        let singleCPU = processCPUSeconds() - cpu
        options.guidanceScale = guidanceScale ?? 1.5
        _ = try decoder.generateGuided([GuidedPrompt(positive: prompt, negative: negative)], options: options)
        let onePair = decoder.lastTimings
        let batch = (0..<pairs).map { _ in GuidedPrompt(positive: prompt, negative: negative) }
        cpu = processCPUSeconds()
        _ = try decoder.generateGuided(batch, options: options)
        let guided = decoder.lastTimings
        let guidedCPU = processCPUSeconds() - cpu
        let report: [String: Any] = [
            "threads": QuantMatmul.threads,
            "prompt_tokens": prompt.count,
            "generated_tokens": maxTokens,
            "single_prompt_tok_s": Double(single.prefillTokens) / single.prefillSeconds,
            "single_decode_tok_s": Double(maxTokens) / single.decodeSeconds,
            "cfg_pairs": pairs,
            "cfg_prompt_tok_s": Double(guided.prefillTokens) / guided.prefillSeconds,
            "cfg_decode_tok_s": Double(pairs * maxTokens) / guided.decodeSeconds,
            "cfg1_decode_tok_s": Double(maxTokens) / onePair.decodeSeconds,
            "cfg_step_ms": guided.decodeSeconds / Double(max(1, guided.steps)) * 1000,
            // CPU seconds of each whole run (prefill + decode, all threads):
            // steadier than rates on a shared machine.
            "single_cpu_s": singleCPU,
            "cfg_cpu_s": guidedCPU,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}

/// CPU time used so far by this process, all threads.
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
