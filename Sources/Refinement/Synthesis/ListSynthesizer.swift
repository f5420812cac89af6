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

/// Builds ranking lists (docs/method.md §1): every anchor starts a chain; each
/// call to the backend runs one round of every live chain as one batch
/// (up to `batchChains` chains), and a finished chain's place is taken by
/// the next anchor at once, so the batch stays full. Round r rewrites
/// x(r-1) pushed away from x(r-2) (x0 in round 1).
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
            let requests = live.map { c in
                RewriteRequest(current: c.list[c.list.count - 1], previous: c.list[max(0, c.list.count - 2)], anchor: c.anchor)
            }
            let outputs = try backend.rewrite(requests, cancelled: cancelled)
            if cancelled() { return }
            var still: [Chain] = []
            for (var chain, out) in zip(live, outputs) {
                let text = settings.hygiene ? ChainRules.firstLine(out.text) : ChainRules.clean(out.text)
                let stop = ChainRules.judge(text, list: chain.list, hygiene: settings.hygiene, looped: out.looped)
                if stop == nil { chain.list.append(text) }
                let complete = chain.list.count == settings.rounds + 1
                guard stop != nil || complete else { still.append(chain); continue }
                var o = outcome(chain, stop: stop, seconds: (clock.now - chain.started).seconds)
                if stop != nil { o.stoppedBy = String(ChainRules.clean(out.text).prefix(400)) }
                try finished(o)
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
