#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Numerics

// MARK: - Decoding loop

/// Generates text with a `LlamaModel`: single prompts, and batches of
/// classifier-free-guidance pairs decoded together (every step is one
/// forward call over all live branches, so weights are read once per step
/// for the whole batch). Keeps its run state between calls; one caller at a
/// time (wrap it in an actor or a serial queue to share).
public final class LlamaDecoder {
    /// The model.
    public let model: LlamaModel
    private var state: LlamaState?
    /// Timings of the last call.
    public private(set) var lastTimings = GenerationTimings()

    /// A decoder over `model`.
    public init(model: LlamaModel) { self.model = model }

    /// Generates a continuation of `prompt` (token ids, chat template
    /// already applied).
    public func generate(
        prompt: [Int32], options: GenerationOptions, logits: LogitsHook? = nil, stop: StopHook? = nil
    ) throws -> Generation {
        try generateGuided([GuidedPrompt(positive: prompt, negative: prompt)],
                           options: options, logits: logits, stop: stop)[0]
    }

    /// Decodes each pair with guidance `options.guidanceScale`: per step,
    /// `score = l_neg + s·(l_pos − l_neg)` on log-softmaxed logits, the
    /// hook may edit the scores, one token is chosen and appended to both
    /// branches. All pairs run as one batch. Results are in input order.
    /// With `prefix`, every prompt that starts with its tokens gets the
    /// prefix's keys and values copied in instead of being run through the
    /// model again (same results, less prompt work). `interrupt` is polled
    /// before every forward call (prompt chunks included); once it answers
    /// true, every unfinished sequence ends with `.stopCondition`.
    public func generateGuided(
        _ pairs: [GuidedPrompt], options: GenerationOptions, prefix: PrefixCache? = nil,
        logits hook: LogitsHook? = nil, stop: StopHook? = nil, interrupt: (() -> Bool)? = nil
    ) throws -> [Generation] {
        guard options.maxTokens >= 0 else { throw GeneratorError.invalidOption("maxTokens must be ≥ 0") }
        guard options.sampling.temperature >= 0, options.sampling.topP > 0, options.sampling.topK >= 0 else {
            throw GeneratorError.invalidOption("temperature ≥ 0, top-p > 0 and top-k ≥ 0 are required")
        }
        guard options.guidanceScale.isFinite else { throw GeneratorError.invalidOption("guidance scale must be finite") }
        if pairs.isEmpty { return [] }
        let c = model.config, V = c.vocabSize
        let guided = options.guidanceScale != 1
        // Branches: each pair has a positive slot and, when guided and different, a negative one.
        var branchPrompts: [[Int32]] = []
        var posSlot: [Int] = [], negSlot: [Int?] = []
        for p in pairs {
            for prompt in [p.positive, p.negative] {
                guard !prompt.isEmpty else { throw GeneratorError.emptyPrompt }
                if let bad = prompt.first(where: { $0 < 0 || Int($0) >= V }) { throw GeneratorError.invalidToken(bad) }
            }
            posSlot.append(branchPrompts.count); branchPrompts.append(p.positive)
            if guided && p.negative != p.positive {
                negSlot.append(branchPrompts.count); branchPrompts.append(p.negative)
            } else {
                negSlot.append(nil)
            }
        }
        let longest = branchPrompts.map(\.count).max()!
        guard longest < c.contextLength else { throw GeneratorError.promptTooLong(tokens: longest, limit: c.contextLength) }
        let ctx = min(c.contextLength, longest + max(1, options.maxTokens))
        let s = stateFor(slots: branchPrompts.count, context: ctx)

        let clock = ContinuousClock()
        let t0 = clock.now
        // Branches that start with the shared prefix get its cache rows copied in.
        var skip = [Int](repeating: 0, count: branchPrompts.count)
        if let prefix {
            guard prefix.layers == c.layers, prefix.kvDim == c.kvDim else {
                throw GeneratorError.invalidOption("the prefix cache belongs to another model")
            }
            for (b, p) in branchPrompts.enumerated() where prefix.covers(p) {
                prefix.copy(into: s, slot: b)
                skip[b] = prefix.tokens.count
            }
        }
        let reused = skip.reduce(0, +)
        let interrupted = prefill(s, branchPrompts, skip: skip, interrupt: interrupt)
        let t1 = clock.now
        var steps = 0
        defer {
            let t2 = clock.now
            lastTimings = GenerationTimings(
                prefillTokens: branchPrompts.reduce(0) { $0 + $1.count - 1 } - reused, prefillSeconds: (t1 - t0).seconds,
                steps: steps, decodeSeconds: (t2 - t1).seconds, reusedPrefixTokens: reused)
        }

        // Per-branch decoding state.
        var pos = branchPrompts.map { $0.count - 1 }  // position of the token fed next
        var next = branchPrompts.map { $0.last! }
        var generated = [[Int32]](repeating: [], count: pairs.count)
        var bytes = [[UInt8]](repeating: [], count: pairs.count)
        var finish = [FinishReason?](repeating: nil, count: pairs.count)
        var samplers = (0..<pairs.count).map {
            Sampler(options: SamplingOptions(temperature: options.sampling.temperature, topK: options.sampling.topK,
                                             topP: options.sampling.topP, seed: options.sampling.seed &+ UInt64($0)), vocabSize: V)
        }
        var ends = options.stopTokens
        if !options.ignoreEndOfGeneration { ends.formUnion(model.tokenizer.endOfGeneration) }
        let rowsCap = s.maxRows
        var tokens = [Int32](repeating: 0, count: rowsCap), slots = [Int](repeating: 0, count: rowsCap)
        var positions = [Int](repeating: 0, count: rowsCap), wanted = [Int](repeating: 0, count: rowsCap)
        var rowOfBranch = [Int](repeating: -1, count: branchPrompts.count)
        var scores = [Float](repeating: 0, count: V)
        if options.maxTokens == 0 { for i in 0..<pairs.count { finish[i] = .maxTokens } }
        if interrupted { for i in 0..<pairs.count { finish[i] = .stopCondition } }
        for i in 0..<pairs.count {
            generated[i].reserveCapacity(min(options.maxTokens, 4096))
            bytes[i].reserveCapacity(min(options.maxTokens, 4096) * 4)
        }

        // Reused every step, so the loop allocates nothing per token.
        var live = [Int](), group = [Int]()
        live.reserveCapacity(pairs.count); group.reserveCapacity(pairs.count)
        @inline(__always) func addRow(_ b: Int, _ r: inout Int) {
            tokens[r] = next[b]; slots[r] = b; positions[r] = pos[b]; wanted[r] = r
            rowOfBranch[b] = r; r += 1
        }

        while finish.contains(where: { $0 == nil }) {
            if interrupt?() == true {
                for i in 0..<pairs.count where finish[i] == nil { finish[i] = .stopCondition }
                break
            }
            steps += 1
            // Gather live branches (pairs in order) up to the rows one call takes.
            live.removeAll(keepingCapacity: true)
            for i in 0..<pairs.count where finish[i] == nil { live.append(i) }
            var start = 0
            while start < live.count {
                var r = 0
                group.removeAll(keepingCapacity: true)
                while start < live.count {
                    let i = live[start]
                    let need = negSlot[i] == nil ? 1 : 2
                    if r + need > rowsCap { break }
                    addRow(posSlot[i], &r)
                    if let nb = negSlot[i] { addRow(nb, &r) }
                    group.append(i); start += 1
                }
                model.forward(s, tokens: tokens, slots: slots, positions: positions, count: r, logitRows: wanted, logitCount: r)
                for i in group {
                    let lp = s.logits + rowOfBranch[posSlot[i]] * V
                    scores.withUnsafeMutableBufferPointer { sc in
                        let out = sc.baseAddress!
                        out.update(from: lp, count: V)
                        if let nb = negSlot[i] {
                            // score = l_neg + s·(l_pos − l_neg)
                            let ln = s.logits + rowOfBranch[nb] * V
                            guidedScores(positive: out, negative: ln, count: V, scale: options.guidanceScale)
                        }
                        hook?(i, generated[i], sc)
                        let tok = samplers[i].sample(sc)
                        step(i, tok)
                    }
                }
            }
        }

        func step(_ i: Int, _ tok: Int32) {
            if tok < 0 { finish[i] = .stopCondition; return }  // the hook banned everything
            if ends.contains(tok) { finish[i] = .endOfGeneration; return }
            generated[i].append(tok)
            bytes[i].append(contentsOf: model.tokenizer.bpe.bytes(of: tok))
            next[posSlot[i]] = tok; pos[posSlot[i]] += 1
            if let nb = negSlot[i] { next[nb] = tok; pos[nb] += 1 }
            if !options.stopStrings.isEmpty, stopStringStart(bytes[i], options.stopStrings) != nil {
                finish[i] = .stopString
            } else if stop?(i, generated[i]) == true {
                finish[i] = .stopCondition
            } else if generated[i].count >= options.maxTokens {
                finish[i] = .maxTokens
            } else if pos[posSlot[i]] >= s.contextLength || negSlot[i].map({ pos[$0] >= s.contextLength }) == true {
                finish[i] = .contextFull
            }
        }

        return (0..<pairs.count).map { i in
            var b = bytes[i]
            if finish[i] == .stopString, let cut = stopStringStart(b, options.stopStrings) { b = Array(b[..<cut]) }
            return Generation(tokens: generated[i], text: String(decoding: b, as: UTF8.self),
                              finishReason: finish[i] ?? .maxTokens, promptTokens: pairs[i].positive.count)
        }
    }

    // MARK: Helpers

    /// Feeds every prompt but its last token (and but its first `skip[b]`
    /// tokens, already in the cache), packing rows of all branches into full
    /// forward calls (matrix-matrix products).
    /// Answers true when `interrupt` stopped it early.
    private func prefill(_ s: LlamaState, _ prompts: [[Int32]], skip: [Int], interrupt: (() -> Bool)?) -> Bool {
        var tokens: [Int32] = [], slots: [Int] = [], positions: [Int] = []
        for (b, p) in prompts.enumerated() {
            for k in skip[b]..<(p.count - 1) { tokens.append(p[k]); slots.append(b); positions.append(k) }
        }
        return model.prefill(s, tokens: tokens, slots: slots, positions: positions, interrupt: interrupt)
    }

    /// A state with at least `slots` slots of `context` positions, reused when it fits.
    private func stateFor(slots: Int, context: Int) -> LlamaState {
        if let s = state, s.slots >= slots, s.contextLength >= context { return s }
        state = nil  // free the old cache first
        let s = model.makeState(slots: slots, contextLength: context, maxRows: max(64, 2 * slots))
        state = s
        return s
    }
}

/// Where the time of one generation call went.
public struct GenerationTimings: Sendable, Equatable {
    /// Prompt tokens fed before the first step (all branches; each prompt's
    /// last token is fed by the first decoding step).
    public var prefillTokens = 0
    /// Seconds spent on them.
    public var prefillSeconds = 0.0
    /// Decoding steps (one forward call over all live branches each).
    public var steps = 0
    /// Seconds spent decoding.
    public var decodeSeconds = 0.0
    /// Prompt tokens not fed because a shared prefix's cache was copied in.
    public var reusedPrefixTokens = 0
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}

// MARK: - Guided scores

/// `positive = l_neg + s·(l_pos − l_neg)` where `l = log_softmax(logits)`,
/// in place (the negative row is left untouched). Vectorised: it runs once
/// per pair per step over the whole vocabulary.
func guidedScores(positive p: UnsafeMutablePointer<Float>, negative n: UnsafePointer<Float>, count: Int, scale s: Float) {
    let lp = logSumExp(p, count), ln = logSumExp(n, count)
    // l_neg + s·(l_pos − l_neg) = (1−s)·n + s·p + [s·ln − s·lp − ln]
    let shift = s * ln - s * lp - ln
    let a = SIMD8<Float>(repeating: 1 - s), b = SIMD8<Float>(repeating: s), c = SIMD8<Float>(repeating: shift)
    var i = 0
    while i + 8 <= count {
        let vp = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
        let vn = UnsafeRawPointer(n + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(p + i).storeBytes(of: a * vn + b * vp + c, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { p[i] = (1 - s) * n[i] + s * p[i] + shift; i += 1 }
}

/// `log Σ exp(x)` with SIMD exponentials.
func logSumExp(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    let mx = Kernels.max(x, count)
    let m8 = SIMD8<Float>(repeating: mx)
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= count {
        acc += simdExp(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - m8)
        i += 8
    }
    var total = acc.sum()
    while i < count { total += Float(exp(Double(x[i] - mx))); i += 1 }
    return mx + Float(log(Double(total)))
}
