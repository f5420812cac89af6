#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Encoder
import Foundation
import Generator
import Jobs

// MARK: - Memory a job will need, known before it runs

/// Estimates, from a job's parameters, the memory its largest stage
/// allocates, so that a job that cannot fit is refused (422 naming the
/// field and the limit) instead of aborting the process in an allocation.
/// The figures follow the buffers the code allocates (shapes in comments),
/// rounded up; they are checked again just before a job runs, so a job
/// stored before a lower budget fails with the reason rather than crash.
public enum JobMemory {
    // MARK: Budget

    /// Half of the least of: physical memory, the cgroup's memory limit,
    /// and the address space left under RLIMIT_AS. Half, because serving
    /// (models, indexes, requests) needs the rest.
    public static func defaultBudget() -> Int {
        var least = Int(ProcessInfo.processInfo.physicalMemory)
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let n = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            least = min(least, n)
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            least = min(least, max(0, Int(clamping: limit.rlim_cur) - virtualBytes()))
        }
        return max(64 << 20, least / 2)
    }

    /// Address space this process has mapped (Linux: /proc/self/statm's first field).
    static func virtualBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// `bytes` for a person: "12.4 GiB", "310 MiB".
    public static func format(_ bytes: Int) -> String {
        let g = Double(bytes) / Double(1 << 30)
        if g >= 1 { return String(format: "%.1f GiB", g) }
        return "\(max(1, bytes >> 20)) MiB"
    }

    // MARK: Synthesis: the generator's run state

    /// Prompt tokens around the sentence (system turn, instruction, answer
    /// opening): the default prompt takes about 60 with SmolLM2's tokenizer.
    static let promptTokens = 128

    /// Bytes of the run state a synthesis of `chains` chains at once needs
    /// with `config`: two branches per chain (classifier-free guidance)
    /// whose cache holds the prompt, the sentence rewritten (the anchor,
    /// then earlier outputs of at most `maxNewTokens`) and the new tokens.
    ///
    /// keys, values (layers, 2·chains, context, kvDim) f16 each; per row
    /// (2·chains + 64 rows): logits (vocab), scores (heads, context) and
    /// the residual, attention and feed-forward buffers, f32.
    public static func synthesisBytes(config c: LlamaConfig, chains: Int, maxNewTokens: Int, anchorTokens: Int) -> Int {
        let context = min(c.contextLength, promptTokens + max(anchorTokens, maxNewTokens) + maxNewTokens)
        let slots = 2 * chains, rows = 2 * chains + 64
        let cache = 2 * 2 * c.layers * slots * context * c.kvDim
        let perRow = c.vocabSize + c.heads * context + 4 * c.dim + 2 * c.heads * c.headDim + 2 * c.kvDim + 2 * c.hiddenDim
        return cache + 4 * rows * perRow
    }

    /// A rough upper bound on an anchor's tokens: one per two bytes of UTF-8.
    public static func anchorTokens(_ anchors: [String]) -> Int {
        (anchors.map(\.utf8.count).max() ?? 0) / 2 + 1
    }

    /// Throws a 422 naming `batch_chains` (or `max_new_tokens`, when a
    /// single chain cannot fit) when a synthesis exceeds `budget`.
    public static func checkSynthesis(config: LlamaConfig, settings: SynthesisSettings, anchors: [String], budget: Int) throws {
        let tokens = anchorTokens(anchors)
        let need = synthesisBytes(config: config, chains: settings.batchChains, maxNewTokens: settings.maxNewTokens, anchorTokens: tokens)
        guard need > budget else { return }
        let fitting = largest(upTo: settings.batchChains) {
            synthesisBytes(config: config, chains: $0, maxNewTokens: settings.maxNewTokens, anchorTokens: tokens) <= budget
        }
        let head = "batch_chains \(settings.batchChains) with max_new_tokens \(settings.maxNewTokens) needs about \(format(need)) "
            + "for the generator's KV cache and buffers, more than the \(format(budget)) a job may use (--job-memory)"
        if fitting > 0 {
            throw JobError.invalid(field: "batch_chains", message: head + "; at most \(fitting) chains fit: lower batch_chains or max_new_tokens")
        }
        throw JobError.invalid(field: "max_new_tokens", message: head + "; even one chain does not fit: lower max_new_tokens or use shorter sentences")
    }

    // MARK: Training: the trainable copy, its optimiser and activations

    /// Bytes a training run of `config` allocates for steps of
    /// `listsPerStep` lists of up to `longest` sentences cut at `maxLength`
    /// tokens, holding `lists` lists of `sentences` sentences in all.
    ///
    /// parameters, gradients, Adam's two moments, the best weights: 5 × P f32;
    /// per layer: input, qkv (3), context, two norm inputs and output
    /// (t, hidden) ×8, ffn (t, intermediate) ×2, probabilities (S, heads, L, L);
    /// besides: embeddings, hidden, dA, dB, dContext, dQKV (3) ×8 (t, hidden),
    /// dInner (t, intermediate), outputs and their gradient (S, hidden) ×2;
    /// the lists: token ids (sentences, L) and teacher vectors (sentences, hidden).
    public static func trainingBytes(config c: BertConfig, listsPerStep: Int, longest: Int, maxLength: Int,
                                     lists: Int, sentences: Int) -> Int {
        let parameters = BertParameterLayout(config: c).count
        let s = listsPerStep * max(1, longest), l = max(1, min(maxLength, c.maxPositions))
        let t = s * l, h = c.hiddenSize, i = c.intermediateSize
        let perLayer = 8 * t * h + 2 * t * i + s * c.heads * l * l + 4 * t
        let floats = 5 * parameters + c.layers * perLayer + 8 * t * h + t * i + l * l + 2 * s * h
        let held = sentences * (l * 8 + h * 4) + lists * 64
        return 4 * floats + held
    }

    /// Throws a 422 naming `lists_per_step` (or `max_length`, when one list
    /// per step cannot fit) when training exceeds `budget`.
    static func checkTraining(config: BertConfig, options: TrainingOptions, longest: Int, lists: Int, sentences: Int, budget: Int) throws {
        func need(_ k: Int) -> Int {
            trainingBytes(config: config, listsPerStep: k, longest: longest, maxLength: options.maxLength, lists: lists, sentences: sentences)
        }
        let total = need(options.listsPerStep)
        guard total > budget else { return }
        let fitting = largest(upTo: options.listsPerStep) { need($0) <= budget }
        let head = "lists_per_step \(options.listsPerStep) of up to \(longest) sentences at max_length \(options.maxLength) needs about "
            + "\(format(total)) to train, more than the \(format(budget)) a job may use (--job-memory)"
        if fitting > 0 {
            throw JobError.invalid(field: "lists_per_step", message: head + "; at most \(fitting) lists per step fit")
        }
        throw JobError.invalid(field: "max_length", message: head + "; even one list per step does not fit: lower max_length or use shorter lists")
    }

    /// The largest n in 1...upper with `fits(n)` (fits is monotone), or 0.
    static func largest(upTo upper: Int, _ fits: (Int) -> Bool) -> Int {
        var low = 0, high = max(0, upper)
        while low < high {
            let mid = (low + high + 1) / 2
            if fits(mid) { low = mid } else { high = mid - 1 }
        }
        return low
    }
}
