import Foundation
import Generator

// MARK: - One synthesis over a set of anchors

/// Counts of a synthesis run, for the job record, the CLI and the docs.
public struct SynthesisSummary: Sendable, Codable {
    /// The generator that wrote the lists (the file name of a local GGUF,
    /// or the remote model), as each list's `generator` field names it.
    public var generator = ""
    /// Distinct anchors asked for.
    public var anchors = 0
    /// Anchors skipped because an earlier (interrupted) run finished them.
    public var alreadyDone = 0
    /// Lists written to the lists file in this run.
    public var kept = 0
    /// Chains dropped in this run (written to the rejected file).
    public var dropped = 0
    /// Chains ended early or dropped, by reason (kept prefixes included).
    public var stops: [String: Int] = [:]
    /// Tokens generated, prompt tokens run, prompt tokens reused from the prefix cache.
    public var generatedTokens = 0
    public var promptTokens = 0
    public var reusedPrefixTokens = 0
    /// Prompt tokens skipped because a negative branch kept the previous round's cache.
    public var reusedNegativeTokens = 0
    /// Wall-clock seconds of this run.
    public var seconds = 0.0
    /// Prompt tokens the prefix cache saved per second of this run:
    /// `reusedPrefixTokens / seconds` (0 before any time has passed).
    public var promptTokensSavedPerSecond = 0.0

    enum CodingKeys: String, CodingKey {
        case generator, anchors, alreadyDone = "already_done", kept, dropped, stops, generatedTokens = "generated_tokens"
        case promptTokens = "prompt_tokens", reusedPrefixTokens = "reused_prefix_tokens"
        case reusedNegativeTokens = "reused_negative_tokens", seconds
        case promptTokensSavedPerSecond = "prompt_tokens_saved_per_second"
    }
}

/// Runs chains for the anchors not yet in `lists` / `rejected`, appending
/// each chain as it finishes: kept lists to `lists` as
/// `{"anchor", "list", "generator", "settings", "seconds", "stopped"}`,
/// dropped chains to `rejected` (same fields, `kept: false`), so the two
/// files together say which anchors are done when a run resumes.
public struct SynthesisRun {
    /// The anchors as given: trimmed, empty lines and repeats removed (first kept).
    public static func distinctAnchors(_ sentences: [String]) -> [String] {
        var seen = Set<String>(), out: [String] = []
        for s in sentences {
            let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
            if !t.isEmpty && seen.insert(t).inserted { out.append(t) }
        }
        return out
    }

    /// Runs it. `progress(done, total, summary)` is called after each chain;
    /// `done` counts anchors finished in earlier runs too.
    public static func run(
        anchors given: [String], backend: RewriteBackend, settings: SynthesisSettings,
        lists: ListsFile, rejected: ListsFile, cancelled: @escaping () -> Bool,
        progress: (Int, Int, SynthesisSummary) -> Void
    ) throws -> SynthesisSummary {
        let clock = ContinuousClock(), start = clock.now
        let anchors = distinctAnchors(given)
        let todo = anchors.filter { !lists.anchors.contains($0) && !rejected.anchors.contains($0) }
        var summary = SynthesisSummary()
        summary.generator = backend.name
        summary.anchors = anchors.count
        summary.alreadyDone = anchors.count - todo.count
        let work0 = backend.work
        let settingsObject = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(settings))) ?? [:]
        func refresh() {
            let w = backend.work
            summary.generatedTokens = w.generatedTokens - work0.generatedTokens
            summary.promptTokens = w.promptTokens - work0.promptTokens
            summary.reusedPrefixTokens = w.reusedPrefixTokens - work0.reusedPrefixTokens
            summary.reusedNegativeTokens = w.reusedNegativeTokens - work0.reusedNegativeTokens
            summary.seconds = (clock.now - start).seconds
            summary.promptTokensSavedPerSecond = summary.seconds > 0 ? Double(summary.reusedPrefixTokens) / summary.seconds : 0
        }
        progress(summary.alreadyDone, anchors.count, summary)
        try ListSynthesizer(backend: backend, settings: settings).run(todo, cancelled: cancelled) { o in
            var record: [String: Any] = [
                "anchor": o.anchor, "list": o.list, "generator": backend.name, "settings": settingsObject,
                "seconds": (o.seconds * 1000).rounded() / 1000, "stopped": o.stop?.rawValue ?? NSNull(),
            ]
            if let stop = o.stop { summary.stops[stop.rawValue, default: 0] += 1 }
            if let text = o.stoppedBy { record["stopped_by"] = text }
            if o.kept {
                try lists.append(record)
                summary.kept += 1
            } else {
                record["kept"] = false
                try rejected.append(record)
                summary.dropped += 1
            }
            refresh()
            progress(summary.alreadyDone + summary.kept + summary.dropped, anchors.count, summary)
        }
        refresh()
        return summary
    }
}
