import Numerics

// MARK: - Continuous batching of guided pairs

/// Decodes classifier-free-guidance pairs with continuous batching: the
/// batch has `places` places, a pair started in a free place joins the next
/// step, and a place whose pair ends is free again at once, so the batch
/// stays full instead of waiting for its slowest member (as one
/// `LlamaDecoder.generateGuided` call does).
///
/// Every step is one forward call over the live branches' next tokens plus
/// the prompt tokens of pairs started since the last step (further calls
/// when they do not fit). A row's arithmetic does not depend on the other
/// rows of its call, so a pair decodes to the same tokens here as alone.
///
/// Each place owns two cache slots. When a pair's negative prompt equals
/// the positive prompt of the pair decoded before it in the same place (a
/// rewriting chain: round r is pushed away from the sentence round r − 1
/// rewrote), the negative branch keeps that cache instead of running the
/// prompt again: positions before the prompt's end depend only on its
/// tokens, so the values are the same. One caller at a time.
public final class GuidedStream {
    /// The model.
    public let model: LlamaModel
    /// Pairs decoded at once.
    public let places: Int
    /// Prompt tokens run through the model so far (prefix copies and reused negatives excluded).
    public private(set) var promptTokens = 0
    /// Prompt tokens not run because the shared prefix's cache was copied in.
    public private(set) var reusedPrefixTokens = 0
    /// Prompt tokens not run because a negative branch kept the cache of the previous positive prompt.
    public private(set) var reusedNegativeTokens = 0
    /// Forward calls made.
    public private(set) var forwardCalls = 0

    let options: GenerationOptions
    let prefix: PrefixCache?
    private var state: LlamaState
    private let ends: Set<Int32>

    /// What one place is decoding.
    private struct Live {
        var posSlot: Int
        var negSlot: Int?
        var next: Int32
        var pos: Int  // position of the positive branch's next token
        var negPos: Int  // and of the negative branch's (the prompts' lengths differ)
        var generated: [Int32] = []
        var bytes: [UInt8] = []
        var sampler: Sampler
        var promptTokens: Int
        var logits: ((_ generated: [Int32], _ scores: UnsafeMutableBufferPointer<Float>) -> Void)?
        var stop: ((_ generated: [Int32]) -> Bool)?
    }

    private var live: [Live?]
    /// Per place: why its pair ended in the current step.
    private var finished: [FinishReason?]
    /// Per place: the last positive prompt and the slot whose cache holds it.
    private var lastPositive: [(tokens: [Int32], slot: Int)?]
    /// Prompt rows still to run: (token, slot, position).
    private var pending: [(Int32, Int, Int)] = []
    private var scores: [Float]
    private var tokens: [Int32], slots: [Int], positions: [Int], wanted: [Int]

    /// A stream of `places` pairs decoded with `options` (guidance scale,
    /// sampling, stop tokens and strings, most new tokens). `contextLength`
    /// is the positions each branch may use at first; the cache grows when
    /// a longer pair arrives. `prefix` as in `LlamaDecoder.generateGuided`.
    public init(model: LlamaModel, places: Int, options: GenerationOptions, prefix: PrefixCache? = nil,
                contextLength: Int = 256) throws {
        guard options.maxTokens >= 1 else { throw GeneratorError.invalidOption("maxTokens must be ≥ 1") }
        guard options.guidanceScale.isFinite else { throw GeneratorError.invalidOption("guidance scale must be finite") }
        if let prefix, prefix.layers != model.config.layers || prefix.kvDim != model.config.kvDim {
            throw GeneratorError.invalidOption("the prefix cache belongs to another model")
        }
        self.model = model
        self.places = max(1, places)
        self.options = options
        self.prefix = prefix
        // Room for every place's decode rows and a prompt or two beside them.
        let rows = 2 * self.places + 64
        state = model.makeState(slots: 2 * self.places, contextLength: contextLength, maxRows: rows)
        var e = options.stopTokens
        if !options.ignoreEndOfGeneration { e.formUnion(model.tokenizer.endOfGeneration) }
        ends = e
        live = Array(repeating: nil, count: self.places)
        finished = Array(repeating: nil, count: self.places)
        lastPositive = Array(repeating: nil, count: self.places)
        scores = [Float](repeating: 0, count: model.config.vocabSize)
        tokens = [Int32](repeating: 0, count: rows); slots = [Int](repeating: 0, count: rows)
        positions = [Int](repeating: 0, count: rows); wanted = [Int](repeating: 0, count: rows)
    }

    /// Whether `place` is decoding a pair.
    public func isBusy(_ place: Int) -> Bool { live[place] != nil }

    /// Whether any place is decoding.
    public var isEmpty: Bool { live.allSatisfy { $0 == nil } }

    /// Starts `pair` in the free `place`; it is decoded from the next
    /// `step`. `logits` and `stop` are this pair's hooks (as `LogitsHook`
    /// and `StopHook`, without the sequence index).
    public func start(
        place: Int, pair: GuidedPrompt,
        logits: ((_ generated: [Int32], _ scores: UnsafeMutableBufferPointer<Float>) -> Void)? = nil,
        stop: ((_ generated: [Int32]) -> Bool)? = nil
    ) throws {
        precondition(live[place] == nil, "GuidedStream.start: place \(place) is busy")
        let c = model.config
        for p in [pair.positive, pair.negative] {
            guard !p.isEmpty else { throw GeneratorError.emptyPrompt }
            if let bad = p.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) { throw GeneratorError.invalidToken(bad) }
            guard p.count < c.contextLength else { throw GeneratorError.promptTooLong(tokens: p.count, limit: c.contextLength) }
        }
        let hasNeg = options.guidanceScale != 1 && pair.negative != pair.positive
        let need = min(c.contextLength, max(pair.positive.count, hasNeg ? pair.negative.count : 0) + options.maxTokens)
        if need > state.contextLength { grow(to: need) }

        let a = 2 * place, b = 2 * place + 1
        var posSlot = a, negSlot: Int? = nil
        var negKept = false
        if hasNeg {
            if let last = lastPositive[place], last.tokens == pair.negative {
                negSlot = last.slot; posSlot = last.slot == a ? b : a; negKept = true
                reusedNegativeTokens += pair.negative.count - 1
            } else {
                negSlot = b
            }
        }
        queuePrompt(pair.positive, slot: posSlot)
        if let negSlot, !negKept { queuePrompt(pair.negative, slot: negSlot) }
        lastPositive[place] = (pair.positive, posSlot)
        let sampling = options.sampling
        live[place] = Live(
            posSlot: posSlot, negSlot: negSlot, next: pair.positive.last!, pos: pair.positive.count - 1,
            negPos: pair.negative.count - 1,
            sampler: Sampler(options: SamplingOptions(temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP,
                                                      seed: sampling.seed &+ UInt64(place)), vocabSize: c.vocabSize),
            promptTokens: pair.positive.count, logits: logits, stop: stop)
        live[place]!.generated.reserveCapacity(options.maxTokens)
    }

    /// Copies the shared prefix in when it covers `prompt`, and queues the
    /// rest but the last token (fed by the first decoding step).
    private func queuePrompt(_ prompt: [Int32], slot: Int) {
        var skip = 0
        if let prefix, prefix.covers(prompt) {
            prefix.copy(into: state, slot: slot)
            skip = prefix.tokens.count
            reusedPrefixTokens += skip
        }
        for k in skip..<(prompt.count - 1) { pending.append((prompt[k], slot, k)) }
        promptTokens += prompt.count - 1 - skip
    }

    /// Runs one decoding step: every live pair gets one token, and queued
    /// prompts are run. Returns the pairs that ended in this step, by place
    /// (each place is free again). `interrupt` is polled before every
    /// forward call; once it answers true every live pair ends with
    /// `.stopCondition` and is returned, and queued prompts are dropped.
    public func step(interrupt: (() -> Bool)? = nil) -> [(place: Int, generation: Generation)] {
        let cap = state.maxRows
        var decodeRows = 0
        for l in live { if let l { decodeRows += l.negSlot == nil ? 1 : 2 } }
        // Prompt rows that do not fit beside the decode rows run first, in
        // full calls; the rest share the last call with the decode rows (a
        // pair's last prompt token sees its earlier ones: a call writes every
        // row's keys and values before attending).
        let early = max(0, pending.count + decodeRows - cap)
        var taken = 0
        while taken < early {
            if interrupt?() == true { return endAll() }
            var r = 0
            while r < cap && taken < early { (tokens[r], slots[r], positions[r]) = pending[taken]; r += 1; taken += 1 }
            model.forward(state, tokens: tokens, slots: slots, positions: positions, count: r, logitRows: wanted, logitCount: 0)
            forwardCalls += 1
        }
        if interrupt?() == true { return endAll() }
        var r = 0
        for p in 0..<places {
            guard let l = live[p] else { continue }
            tokens[r] = l.next; slots[r] = l.posSlot; positions[r] = l.pos; wanted[r] = r; r += 1
            if let nb = l.negSlot { tokens[r] = l.next; slots[r] = nb; positions[r] = l.negPos; wanted[r] = r; r += 1 }
        }
        while taken < pending.count { (tokens[r], slots[r], positions[r]) = pending[taken]; r += 1; taken += 1 }
        if r > 0 {
            model.forward(state, tokens: tokens, slots: slots, positions: positions, count: r,
                          logitRows: wanted, logitCount: decodeRows)
            forwardCalls += 1
        }
        if decodeRows > 0 { choose() }
        pending.removeAll(keepingCapacity: true)
        var done: [(place: Int, generation: Generation)] = []
        for p in 0..<places {
            guard let l = live[p], let why = finished[p] else { continue }
            done.append((p, generation(l, why)))
            live[p] = nil
        }
        for p in 0..<places { finished[p] = nil }
        return done
    }

    /// Picks each live pair's token from the logits of the call just made.
    private func choose() {
        let V = model.config.vocabSize
        var row = 0
        for p in 0..<places {
            guard var l = live[p] else { continue }
            let lp = state.logits + row * V
            let neg = l.negSlot.map { _ in state.logits + (row + 1) * V }
            row += l.negSlot == nil ? 1 : 2
            let tok: Int32 = scores.withUnsafeMutableBufferPointer { sc in
                let out = sc.baseAddress!
                out.update(from: lp, count: V)
                // score = l_neg + s·(l_pos − l_neg)
                if let neg { guidedScores(positive: out, negative: neg, count: V, scale: options.guidanceScale) }
                l.logits?(l.generated, sc)
                return l.sampler.sample(sc)
            }
            finished[p] = advance(&l, tok)
            live[p] = l
        }
    }

    /// Appends `tok` to the pair and says why it ends now, if it does.
    private func advance(_ l: inout Live, _ tok: Int32) -> FinishReason? {
        if tok < 0 { return .stopCondition }  // the hook banned everything
        if ends.contains(tok) { return .endOfGeneration }
        l.generated.append(tok)
        l.bytes.append(contentsOf: model.tokenizer.bpe.bytes(of: tok))
        l.next = tok; l.pos += 1; l.negPos += 1
        if !options.stopStrings.isEmpty, stopStringStart(l.bytes, options.stopStrings) != nil { return .stopString }
        if l.stop?(l.generated) == true { return .stopCondition }
        if l.generated.count >= options.maxTokens { return .maxTokens }
        if l.pos >= state.contextLength || (l.negSlot != nil && l.negPos >= state.contextLength) { return .contextFull }
        return nil
    }

    private func generation(_ l: Live, _ why: FinishReason) -> Generation {
        var b = l.bytes
        if why == .stopString, let cut = stopStringStart(b, options.stopStrings) { b = Array(b[..<cut]) }
        return Generation(tokens: l.generated, text: String(decoding: b, as: UTF8.self), finishReason: why,
                          promptTokens: l.promptTokens)
    }

    /// Ends every live pair (interrupted); caches of unfinished prompts are no longer trusted.
    private func endAll() -> [(place: Int, generation: Generation)] {
        pending.removeAll()
        lastPositive = Array(repeating: nil, count: places)
        finished = Array(repeating: nil, count: places)
        var done: [(place: Int, generation: Generation)] = []
        for p in 0..<places { if let l = live[p] { done.append((p, generation(l, .stopCondition))); live[p] = nil } }
        return done
    }

    /// A bigger cache with every slot's positions copied over, so live pairs go on.
    private func grow(to context: Int) {
        let old = state, c = model.config
        let bigger = model.makeState(slots: old.slots, contextLength: context, maxRows: old.maxRows,
                                     quantisedActivations: old.quantisedActivations)
        let n = old.contextLength * c.kvDim
        for l in 0..<c.layers {
            for s in 0..<old.slots {
                (bigger.keyCache + bigger.cacheOffset(layer: l, slot: s, pos: 0))
                    .update(from: old.keyCache + old.cacheOffset(layer: l, slot: s, pos: 0), count: n)
                (bigger.valueCache + bigger.cacheOffset(layer: l, slot: s, pos: 0))
                    .update(from: old.valueCache + old.cacheOffset(layer: l, slot: s, pos: 0), count: n)
            }
        }
        state = bigger
    }
}

/// Byte offset where the first of `stops` starts in `bytes`, if any occurs.
func stopStringStart(_ bytes: [UInt8], _ stops: [String]) -> Int? {
    var best: Int?
    for stop in stops where !stop.isEmpty {
        let pat = Array(stop.utf8)
        guard pat.count <= bytes.count else { continue }
        for start in 0...(bytes.count - pat.count) where bytes[start] == pat[0] {
            if bytes[start..<(start + pat.count)].elementsEqual(pat) { best = min(best ?? start, start); break }
        }
    }
    return best
}
