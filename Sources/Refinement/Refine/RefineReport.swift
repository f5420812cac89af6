import Foundation
import Jobs
import Storage

// MARK: - What a refine job shows while it runs

/// The stages of a refine job and the evaluation table, published as the
/// job's `result` after every change, so `GET /jobs/{id}` shows how far it
/// got (also after a failure) and the CLI prints the same.
public struct RefineReport: Sendable {
    /// One stage: `synthesize`, `train`, `evaluate`, `gate`, `activate`.
    public struct Stage: Sendable {
        public var name: String
        /// pending, running, succeeded, failed, skipped.
        public var state = "pending"
        public var done = 0, total = 0
        /// A line saying what it found or why it stopped.
        public var detail: String?
    }

    /// One row of the before/after table: scores × 100.
    public struct Row: Sendable {
        public var name: String
        /// `dev`, `sts` or `retrieval`.
        public var kind: String
        public var metric: String
        public var before: Double, after: Double
        /// The gate's bound on this row: the least gain (dev) or the most loss (checks).
        public var bound: Double
        public var delta: Double { after - before }
    }

    public var stages = ["synthesize", "train", "evaluate", "gate", "activate"].map { Stage(name: $0) }
    public var table: [Row] = []
    /// The version refined (the active one when the job started) and the candidate.
    public var parent: String?
    public var version: String?
    public var gateEnabled = true
    public var gatePassed: Bool?
    public var reasons: [String] = []
    public var activated = false
    public var lists: Int?

    public init() {}

    /// The stage named `name`; changes go through `update`.
    public subscript(name: String) -> Stage {
        get { stages.first { $0.name == name }! }
        set { if let i = stages.firstIndex(where: { $0.name == name }) { stages[i] = newValue } }
    }

    /// The running stage, else the last one that finished.
    public var current: String {
        stages.first { $0.state == "running" }?.name ?? stages.last { $0.state != "pending" }?.name ?? "queued"
    }

    static func rounded(_ x: Double) -> JSONValue { .number((x * 100).rounded() / 100) }

    /// The report as the job's `result`.
    public var value: JSONValue {
        var o: [String: JSONValue] = [
            "stage": .string(current),
            "stages": .array(stages.map { s in
                var v: [String: JSONValue] = ["name": .string(s.name), "state": .string(s.state),
                                             "done": .number(Double(s.done)), "total": .number(Double(s.total))]
                if let d = s.detail { v["detail"] = .string(d) }
                return .object(v)
            }),
            "evaluation": .array(table.map { r in
                .object(["name": .string(r.name), "kind": .string(r.kind), "metric": .string(r.metric),
                         "before": Self.rounded(r.before), "after": Self.rounded(r.after), "delta": Self.rounded(r.delta),
                         (r.kind == "dev" ? "min_gain" : "max_loss"): .number(r.bound)])
            }),
            "gate": .object(["enabled": .bool(gateEnabled), "passed": gatePassed.map(JSONValue.bool) ?? .null,
                             "reasons": .array(reasons.map(JSONValue.string))]),
            "activated": .bool(activated),
        ]
        if let parent { o["parent"] = .string(parent) }
        if let version { o["version"] = .string(version) }
        if let lists { o["lists"] = .number(Double(lists)) }
        return .object(o)
    }

    /// The before/after table as text, for the CLI and the job's notes.
    public var tableText: String {
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            let t = String(text.suffix(width))
            let fill = String(repeating: " ", count: max(0, width - t.count))
            return right ? fill + t : t + fill
        }
        func number(_ x: Double, sign: Bool = false) -> String { String(format: sign ? "%+.2f" : "%.2f", x) }
        var out = pad("set", 28) + " " + pad("metric", 10) + pad("before", 9, right: true) + pad("after", 9, right: true)
            + pad("delta", 9, right: true) + "\n"
        for r in table {
            out += pad(r.name, 28) + " " + pad(r.metric, 10) + pad(number(r.before), 9, right: true)
                + pad(number(r.after), 9, right: true) + pad(number(r.delta, sign: true), 9, right: true) + "\n"
        }
        return out
    }
}
