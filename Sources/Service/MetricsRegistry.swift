import Foundation
import Synchronization

// MARK: - Prometheus metrics

/// Counters, gauges and histograms rendered in the Prometheus text format
/// (version 0.0.4). One lock guards all series; updates are a dictionary
/// lookup and an add, cheap next to any request.
public final class MetricsRegistry: Sendable {
    /// Latency buckets in seconds (1 ms … 30 s).
    public static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    /// Batch-size buckets (inputs per forward pass).
    public static let sizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]

    private struct Family {
        var kind: String
        var help: String
        var buckets: [Double] = []
        // label string ("a=\"b\",…") → value, or histogram state
        var values: [String: Double] = [:]
        var histograms: [String: (counts: [Double], sum: Double, count: Double)] = [:]
    }

    /// A gauge: one series per label set (e.g. jobs by state), or a
    /// single series without labels.
    private struct Gauge {
        var name: String
        var help: String
        var read: @Sendable () -> [([(String, String)], Double)]
    }

    private struct Series {
        var families: [String: Family] = [:]
        /// Family names in declaration order, the order they render in.
        var order: [String] = []
        /// Gauges in declaration order, rendered after the families.
        var gauges: [Gauge] = []
    }

    private let series = Mutex(Series())

    /// An empty registry.
    public init() {}

    /// Declares a counter.
    public func counter(_ name: String, help: String) { declare(name, Family(kind: "counter", help: help)) }

    /// Declares a histogram with `buckets` (upper bounds, ascending).
    public func histogram(_ name: String, help: String, buckets: [Double]) {
        declare(name, Family(kind: "histogram", help: help, buckets: buckets))
    }

    /// Declares a gauge read when metrics are rendered.
    public func gauge(_ name: String, help: String, read: @escaping @Sendable () -> Double) {
        gauge(name, help: help, series: { [([], read())] })
    }

    /// Declares a gauge with one series per label set, read when metrics are rendered.
    public func gauge(_ name: String, help: String, series read: @escaping @Sendable () -> [([(String, String)], Double)]) {
        series.withLock { $0.gauges.append(Gauge(name: name, help: help, read: read)) }
    }

    private func declare(_ name: String, _ family: Family) {
        series.withLock {
            if $0.families[name] == nil { $0.order.append(name) }
            $0.families[name] = family
        }
    }

    /// Adds `value` to counter `name` with `labels`.
    public func increment(_ name: String, _ labels: [(String, String)] = [], by value: Double = 1) {
        let key = Self.labelString(labels)
        series.withLock { $0.families[name]?.values[key, default: 0] += value }
    }

    /// Records one observation in histogram `name`.
    public func observe(_ name: String, _ value: Double, _ labels: [(String, String)] = []) {
        let key = Self.labelString(labels)
        series.withLock {
            guard var family = $0.families[name] else { return }
            var h = family.histograms[key] ?? (counts: [Double](repeating: 0, count: family.buckets.count), sum: 0, count: 0)
            for (i, bound) in family.buckets.enumerated() where value <= bound { h.counts[i] += 1 }
            h.sum += value
            h.count += 1
            family.histograms[key] = h
            $0.families[name] = family
        }
    }

    /// The current value of a counter series (tests and /info use it).
    public func value(_ name: String, _ labels: [(String, String)] = []) -> Double {
        let key = Self.labelString(labels)
        return series.withLock { $0.families[name]?.values[key] ?? 0 }
    }

    /// The whole registry in Prometheus text format.
    public func render() -> String {
        // Copy under the lock; format (and read the gauges) outside it.
        let (snapshot, gaugeList) = series.withLock { s in
            (s.order.compactMap { name in s.families[name].map { (name, $0) } }, s.gauges)
        }
        var out = ""
        for (name, family) in snapshot {
            out += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.kind)\n"
            if family.kind == "counter" {
                for (labels, v) in family.values.sorted(by: { $0.key < $1.key }) {
                    out += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(Self.format(v))\n"
                }
            } else {
                for (labels, h) in family.histograms.sorted(by: { $0.key < $1.key }) {
                    let prefix = labels.isEmpty ? "" : labels + ","
                    for (i, bound) in family.buckets.enumerated() {
                        out += "\(name)_bucket{\(prefix)le=\"\(Self.format(bound))\"} \(Self.format(h.counts[i]))\n"
                    }
                    out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(Self.format(h.count))\n"
                    out += "\(name)_sum\(labels.isEmpty ? "" : "{\(labels)}") \(h.sum)\n"
                    out += "\(name)_count\(labels.isEmpty ? "" : "{\(labels)}") \(Self.format(h.count))\n"
                }
            }
        }
        for g in gaugeList {
            out += "# HELP \(g.name) \(g.help)\n# TYPE \(g.name) gauge\n"
            for (labels, v) in g.read() {
                out += "\(g.name)\(labels.isEmpty ? "" : "{\(Self.labelString(labels))}") \(Self.format(v))\n"
            }
        }
        return out
    }

    static func labelString(_ labels: [(String, String)]) -> String {
        labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
