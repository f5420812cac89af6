import Foundation
import Generator
import Jobs
import Numerics
import Synchronization

// MARK: - Who writes the rewrites

/// One rewrite asked of a backend: rewrite `current` (positive prompt),
/// pushed away from `previous` (negative prompt).
public struct RewriteRequest: Sendable {
    /// x(r-1), the sentence to rewrite.
    public var current: String
    /// x(r-2) (x0 in round 1): the direction to move away from.
    public var previous: String
    /// x0 of the chain (hygiene's length limit is relative to it).
    public var anchor: String
}

/// What a backend answered for one request.
public struct RewriteOutput: Sendable {
    /// The raw text (not yet cleaned).
    public var text: String
    /// Whether decoding stopped because the output began repeating itself.
    public var looped: Bool
}

/// Token counts of the work a backend did, for rates and metrics.
public struct RewriteWork: Sendable {
    /// Tokens generated (one per pair per step).
    public var generatedTokens = 0
    /// Prompt tokens run through the model.
    public var promptTokens = 0
    /// Prompt tokens skipped because the shared prefix's cache was copied in.
    public var reusedPrefixTokens = 0
    /// Prompt tokens skipped because a negative prompt's cache was kept
    /// from the chain's previous round (where it was the positive prompt).
    public var reusedNegativeTokens = 0
    /// Seconds in the model.
    public var seconds = 0.0
}

/// Writes rewrites for a batch of chains. Called from one thread at a time.
public protocol RewriteBackend: AnyObject {
    /// Name recorded with every list (file name or endpoint and model).
    var name: String { get }
    /// Notes for the job record, e.g. that a remote backend cannot guide.
    var notes: [String] { get }
    /// Work done so far.
    var work: RewriteWork { get }
    /// Rewrites every request; `cancelled` is polled often enough to stop within a step.
    func rewrite(_ requests: [RewriteRequest], cancelled: @escaping () -> Bool) throws -> [RewriteOutput]
}

// MARK: - The local model

/// The in-process GGUF model: all requests decoded as one batch of CFG
/// pairs, with source n-gram blocking, early loop stops and the shared
/// prefix computed once.
/// Choosing the backend a generator names; `ranksmith synthesize` and the
/// synthesis job both go through it.
public enum RewriteBackends {
    /// Whether `generator` is the base URL of an OpenAI-compatible server
    /// (http or https) rather than a GGUF file.
    public static func isRemote(_ generator: String) -> Bool {
        generator.hasPrefix("http://") || generator.hasPrefix("https://")
    }

    /// The backend of `generator`: an OpenAI-compatible server asked for
    /// `remoteModel`, or a local GGUF file decoded on `threads` threads.
    /// Throws `SynthesisError.generator` when the generator cannot be used,
    /// and `.invalidInput` (field `sentences`) when one of `anchors` is
    /// longer than a local model's context allows.
    public static func make(generator: String, remoteModel: String, settings: SynthesisSettings, anchors: [String],
                            threads: Int, reusePrefix: Bool = true) throws -> RewriteBackend {
        if isRemote(generator) {
            guard let url = URL(string: generator) else { throw SynthesisError.generator("not a URL: \(generator)") }
            return RemoteRewriter(client: RemoteChatClient(baseURL: url, model: remoteModel, timeout: RemoteRewriter.attemptTimeout,
                                                           retries: RemoteRewriter.retries), settings: settings)
        }
        QuantMatmul.threads = max(1, threads)
        // Never open a FIFO or device: opening one blocks the job's worker.
        guard LocalFile.isRegular(generator) else {
            throw SynthesisError.generator("cannot load \(generator): it is missing or not a regular file")
        }
        let model: LlamaModel
        do { model = try LlamaModel(path: generator) } catch { throw SynthesisError.generator("cannot load \(generator): \(error)") }
        let local = try LocalRewriter(model: model, name: (generator as NSString).lastPathComponent, settings: settings,
                                      reusePrefix: reusePrefix)
        let limit = local.longestSentenceTokens
        if let i = SynthesisRun.distinctAnchors(anchors).firstIndex(where: { local.tokenCount($0) > limit }) {
            throw SynthesisError.invalidInput(field: "sentences", message: "sentence \(i + 1) is longer than the generator's context allows (\(limit) tokens)")
        }
        return local
    }
}

public final class LocalRewriter: RewriteBackend {
    public let name: String
    public var notes: [String] { [] }
    public internal(set) var work = RewriteWork()
    let model: LlamaModel
    let decoder: LlamaDecoder
    let prompt: RewritePrompt
    let settings: SynthesisSettings
    /// The shared prefix's cache; nil when prefix reuse is off.
    let prefix: PrefixCache?

    /// Loads nothing: `model` is already mapped. `reusePrefix` false feeds
    /// the whole prompt every time (the benchmark's baseline).
    public init(model: LlamaModel, name: String, settings: SynthesisSettings, reusePrefix: Bool = true) throws {
        self.model = model
        self.name = name
        self.settings = settings
        decoder = LlamaDecoder(model: model)
        prompt = RewritePrompt(model: model, template: try model.chatTemplate())
        prefix = reusePrefix ? try PrefixCache(model: model, tokens: prompt.prefix) : nil
    }

    /// Longest sentence, in tokens, that fits the context with the prompt and the new tokens.
    public var longestSentenceTokens: Int {
        model.config.contextLength - prompt.prefix.count - prompt.suffix.count - settings.maxNewTokens - 1
    }

    /// Tokens of `sentence` alone.
    public func tokenCount(_ sentence: String) -> Int { prompt.sentenceTokens(sentence).count }

    public func rewrite(_ requests: [RewriteRequest], cancelled: @escaping () -> Bool) throws -> [RewriteOutput] {
        let pairs = requests.map(pair)
        let steering = requests.map(steer)
        let gens = try decoder.generateGuided(
            pairs, options: options, prefix: prefix,
            logits: settings.ngramBlock > 0 ? { seq, generated, scores in steering[seq].logits(generated, scores) } : nil,
            stop: { seq, generated in steering[seq].stop(generated) },
            interrupt: cancelled)
        let t = decoder.lastTimings
        work.generatedTokens += gens.reduce(0) { $0 + $1.tokens.count }
        work.promptTokens += t.prefillTokens
        work.reusedPrefixTokens += t.reusedPrefixTokens
        work.seconds += t.prefillSeconds + t.decodeSeconds
        return zip(gens, steering).map { RewriteOutput(text: $0.text, looped: $1.looped) }
    }

    /// Greedy, guided, at most `maxNewTokens`, ended by the closing backticks.
    var options: GenerationOptions {
        GenerationOptions(maxTokens: settings.maxNewTokens, stopStrings: ["```"], guidanceScale: Float(settings.guidanceScale))
    }

    /// The request's positive prompt (rewrite x(r-1)) and negative prompt (x(r-2)).
    func pair(_ r: RewriteRequest) -> GuidedPrompt {
        GuidedPrompt(positive: prompt.tokens(rewriting: r.current), negative: prompt.tokens(rewriting: r.previous))
    }

    /// A fresh n-gram blocker and early-stop state for one rewrite.
    func steer(_ r: RewriteRequest) -> RewriteSteering {
        RewriteSteering(blocker: settings.ngramBlock > 0 ? NGramBlocker(source: prompt.sentenceTokens(r.current), n: settings.ngramBlock) : nil,
                        hygiene: settings.hygiene, lengthLimit: 2 * max(r.anchor.count, 20), tokenizer: model.tokenizer)
    }
}

/// The per-rewrite hooks of the local model: source n-gram blocking on the
/// scores, and hygiene's early stops.
final class RewriteSteering {
    let blocker: NGramBlocker?
    let hygiene: Bool
    let limit: Int
    let tokenizer: TextTokenizer
    let loop = LoopDetector()
    /// Whether decoding stopped because the output began repeating itself.
    private(set) var looped = false
    private var scalars = 0, text = false

    init(blocker: NGramBlocker?, hygiene: Bool, lengthLimit: Int, tokenizer: TextTokenizer) {
        self.blocker = blocker
        self.hygiene = hygiene
        limit = lengthLimit
        self.tokenizer = tokenizer
    }

    func logits(_ generated: [Int32], _ scores: UnsafeMutableBufferPointer<Float>) {
        blocker?.apply(generated: generated, scores: scores)
    }

    /// Hygiene keeps only an output's first line and stops a chain whose
    /// output passes twice the anchor's length, so decoding can stop as
    /// soon as either is certain: same outcome, fewer steps.
    func stop(_ generated: [Int32]) -> Bool {
        // Only hygiene stops a round early; the paper's recipe spends the budget.
        guard hygiene else { return false }
        if loop.isLooping(generated) { looped = true; return true }
        for b in tokenizer.bpe.bytes(of: generated[generated.count - 1]) {
            if b == UInt8(ascii: "\n") && text { return true }
            if b != UInt8(ascii: " ") && b != UInt8(ascii: "\n") && b != UInt8(ascii: "`") { text = true }
            // Characters counted as UTF-8 lead bytes, once the text has begun;
            // a few spare for trailing spaces or backticks the cleaning removes.
            if text && b & 0xC0 != 0x80 { scalars += 1 }
        }
        return scalars > limit + 8
    }
}

// MARK: - A remote OpenAI-compatible server

/// A chat-completions endpoint: one request per rewrite, in turn. Such
/// servers expose no logits, so there is no guidance and no n-gram
/// blocking (said in `notes`, which go into the job record).
public final class RemoteRewriter: RewriteBackend {
    public let name: String
    public private(set) var work = RewriteWork()
    let client: RemoteChatClient
    let settings: SynthesisSettings

    /// A backend over `client`.
    public init(client: RemoteChatClient, settings: SynthesisSettings) {
        self.client = client
        self.settings = settings
        name = "\(client.baseURL.absoluteString) (\(client.model))"
    }

    public var notes: [String] {
        var n: [String] = []
        if settings.guidanceScale != 1 { n.append("remote generator: no classifier-free guidance (the server exposes no logits); decoded with s = 1") }
        if settings.ngramBlock > 0 { n.append("remote generator: no n-gram blocking (the server exposes no logits)") }
        return n
    }

    public func rewrite(_ requests: [RewriteRequest], cancelled: @escaping () -> Bool) throws -> [RewriteOutput] {
        var out: [RewriteOutput] = []
        let clock = ContinuousClock(), start = clock.now
        for r in requests {
            if cancelled() { out.append(RewriteOutput(text: "", looped: false)); continue }
            let messages = [ChatMessage(role: "user", content: RewritePrompt.userText(rewriting: r.current))]
            let options = GenerationOptions(maxTokens: settings.maxNewTokens)
            let g = try Self.blocking(cancelled: cancelled) { [client] in try await client.chat(messages, options: options) }
            work.generatedTokens += g.tokens.count
            work.promptTokens += g.promptTokens
            out.append(RewriteOutput(text: g.text, looped: false))
        }
        work.seconds += (clock.now - start).seconds
        return out
    }

    /// Seconds one attempt of a remote call may take (connecting, sending,
    /// waiting for the answer), and the attempts after a failed one: a
    /// server that never answers holds a job at most about 2 minutes, and
    /// a cancel frees its worker at once (see `blocking`).
    public static let attemptTimeout = 30.0
    public static let retries = 2

    /// Runs an async call to completion from a plain worker thread, polling
    /// `cancelled` every 50 ms: once it says true the call's task is
    /// cancelled and this throws `JobError.cancelled` at once, without
    /// waiting for the remote server.
    static func blocking<T: Sendable>(cancelled: () -> Bool = { false },
                                      _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let task = Task {
            let result: Result<T, Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            box.value.withLock { $0 = result }
            box.done.signal()
        }
        while box.done.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
            if cancelled() {
                task.cancel()
                throw JobError.cancelled
            }
        }
        return try box.value.withLock { $0! }.get()
    }
}

/// Where a remote call's outcome waits for the worker thread.
private final class ResultBox<T: Sendable>: Sendable {
    let value = Mutex<Result<T, Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
}
