import Foundation
import Generator

// MARK: - Chains decoded as one batch

/// What became of one anchor's chain.
public struct ChainOutcome: Sendable {
    /// The anchor x0.
    public var anchor: String
    /// [x0, x1, …] as far as the chain got (kept lists: what is written).
    public var list: [String]
    /// Why it ended early or was dropped; nil for a complete list.
    public var stop: ChainStop?
    /// Whether the list is kept (complete, or cut short with enough members).
    public var kept: Bool
    /// Wall-clock seconds from the chain's first round to its last.
    public var seconds: Double
    /// The output that stopped the chain (cleaned), for inspecting the filters.
    public var stoppedBy: String?
}

/// Builds ranking lists (docs/method.md §1): every anchor starts a chain,
/// and up to `batchChains` chains are decoded together. Round r rewrites
/// x(r-1) pushed away from x(r-2) (x0 in round 1).
///
/// With a streaming backend (the local model) the batch is refilled at
/// every decoding step: a chain whose rewrite ends starts its next round
/// at once, and a chain that ends gives its place to the next anchor, so
/// no place waits for the slowest rewrite. Other backends run one round of
/// every live chain per call. A chain's list does not depend on which
/// chains share its batch (`SynthesisTests`).
public final class ListSynthesizer {
    let backend: RewriteBackend
    let settings: SynthesisSettings

    /// A synthesiser over `backend`.
    public init(backend: RewriteBackend, settings: SynthesisSettings) {
        self.backend = backend
        self.settings = settings
    }

    private struct Chain {
        var anchor: String
        var list: [String]
        var started: ContinuousClock.Instant
    }

    /// Runs a chain for each of `anchors` in order, calling `finished` as each
    /// chain ends (from this thread). Returns early, without calling
    /// `finished` for chains still running, once `cancelled()` is true.
    public func run(
        _ anchors: [String], cancelled: @escaping () -> Bool, finished: (ChainOutcome) throws -> Void
    ) throws {
        if let streaming = backend as? StreamingRewriteBackend {
            try runStreaming(anchors, streaming, cancelled: cancelled, finished: finished)
        } else {
            try runRounds(anchors, cancelled: cancelled, finished: finished)
        }
    }

    private func request(_ c: Chain) -> RewriteRequest {
        RewriteRequest(current: c.list[c.list.count - 1], previous: c.list[max(0, c.list.count - 2)], anchor: c.anchor)
    }

    /// Takes a round's output into `chain`; answers the outcome when the chain ended.
    private func advance(_ chain: inout Chain, _ out: RewriteOutput, now: ContinuousClock.Instant) -> ChainOutcome? {
        let text = settings.hygiene ? ChainRules.firstLine(out.text) : ChainRules.clean(out.text)
        let stop = ChainRules.judge(text, list: chain.list, hygiene: settings.hygiene, looped: out.looped)
        if stop == nil { chain.list.append(text) }
        guard stop != nil || chain.list.count == settings.rounds + 1 else { return nil }
        var o = outcome(chain, stop: stop, seconds: (now - chain.started).seconds)
        if stop != nil { o.stoppedBy = String(ChainRules.clean(out.text).prefix(400)) }
        return o
    }

    /// Continuous batching: one place per chain, refilled at every step.
    private func runStreaming(
        _ anchors: [String], _ backend: StreamingRewriteBackend, cancelled: @escaping () -> Bool,
        finished: (ChainOutcome) throws -> Void
    ) throws {
        let clock = ContinuousClock()
        let stream = try backend.makeStream(places: min(settings.batchChains, max(1, anchors.count)))
        var places = [Chain?](repeating: nil, count: min(settings.batchChains, max(1, anchors.count)))
        var next = 0
        while true {
            if cancelled() { return }
            for p in places.indices where places[p] == nil && next < anchors.count {
                let chain = Chain(anchor: anchors[next], list: [anchors[next]], started: clock.now)
                next += 1
                try stream.start(place: p, request(chain))
                places[p] = chain
            }
            if places.allSatisfy({ $0 == nil }) { return }
            let ended = stream.step(cancelled: cancelled)
            if cancelled() { return }
            for (p, out) in ended {
                guard var chain = places[p] else { continue }
                if let o = advance(&chain, out, now: clock.now) {
                    places[p] = nil
                    try finished(o)
                } else {
                    try stream.start(place: p, request(chain))
                    places[p] = chain
                }
            }
        }
    }

    /// One round of every live chain per backend call.
    private func runRounds(
        _ anchors: [String], cancelled: @escaping () -> Bool, finished: (ChainOutcome) throws -> Void
    ) throws {
        let clock = ContinuousClock()
        var next = 0
        var live: [Chain] = []
        while true {
            if cancelled() { return }
            while live.count < settings.batchChains && next < anchors.count {
                live.append(Chain(anchor: anchors[next], list: [anchors[next]], started: clock.now))
                next += 1
            }
            if live.isEmpty { return }
            let outputs = try backend.rewrite(live.map(request), cancelled: cancelled)
            if cancelled() { return }
            var still: [Chain] = []
            for (var chain, out) in zip(live, outputs) {
                if let o = advance(&chain, out, now: clock.now) { try finished(o) } else { still.append(chain) }
            }
            live = still
        }
    }

    /// Applies the keep rules to a chain that ended.
    private func outcome(_ chain: Chain, stop: ChainStop?, seconds: Double) -> ChainOutcome {
        var o = ChainOutcome(anchor: chain.anchor, list: chain.list, stop: stop, kept: true, seconds: seconds)
        if let stop {
            // The paper drops the whole chain; hygiene keeps a long enough prefix.
            o.kept = settings.hygiene && stop != .collapsed && chain.list.count >= settings.minListLength
        }
        if o.kept && ChainRules.collapsed(o.list) {
            o.stop = .collapsed
            o.kept = false
        }
        return o
    }
}
