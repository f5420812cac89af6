import ArgumentParser
import Foundation
import Index

/// `ranksmith bench index`: build time, queries/s (single and batched),
/// recall@k and memory of the flat and HNSW indexes, on vectors read from
/// `.npy` (or raw f32) files. Prints one JSON object per line; the
/// comparison with faiss and hnswlib is in `bench/index/run`.
///
/// Everything goes through the public `Collection` API, so build times
/// include writing the write-ahead log (put `--data-dir` on the disk you
/// mean to measure; the log is fsync'd once per upsert chunk).
struct BenchIndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index", abstract: "Vector index benchmark: flat and HNSW, JSON lines out.")

    @Option(help: "Base vectors: .npy float32 (rows, dims) or raw f32 with --dimensions.")
    var base: String

    @Option(help: "Query vectors, same format.")
    var queries: String

    @Option(help: "Row length of raw f32 files.")
    var dimensions: Int?

    @Option(help: "Neighbours per query (recall@k).")
    var k: Int = 10

    @Option(help: "HNSW links per node (bottom layer keeps 2·m).")
    var m: Int = 16

    @Option(help: "HNSW candidate list while building.")
    var efConstruction: Int = 200

    @Option(help: "Comma-separated efSearch values to sweep.")
    var efSearch: String = "10,12,16,20,24,32,48,64,128,256"

    @Option(help: "Queries per batch for batched search.")
    var batch: Int = 100

    @Option(help: "How many queries to time one at a time.")
    var singleQueries: Int = 300

    @Option(help: "Timed passes per queries/s figure; the median is reported.")
    var passes: Int = 3

    @Option(help: "Documents per upsert call while building.")
    var chunk: Int = 10_000

    @Option(help: "Data directory for the collections (default: a temporary one, removed after).")
    var dataDir: String?

    @Flag(help: "Skip the HNSW index.")
    var skipHnsw = false

    func run() throws {
        let (n, d, baseData) = try VectorFile.read(path: base, dimensions: dimensions)
        let (nq, dq, queryData) = try VectorFile.read(path: queries, dimensions: dimensions)
        guard d == dq, n > 0, nq > 0 else { throw ValidationError("base is \(n)×\(d), queries \(nq)×\(dq)") }
        let rows = { (data: [Float], i: Int) in Array(data[(i * d)..<((i + 1) * d)]) }
        let qs = (0..<nq).map { rows(queryData, $0) }
        let dir = URL(fileURLWithPath: dataDir ?? NSTemporaryDirectory() + "bench-index-\(UUID().uuidString)")
        defer { if dataDir == nil { try? FileManager.default.removeItem(at: dir) } }
        let store = try CollectionStore(directory: dir)

        // MARK: Flat
        let rss0 = residentBytes()
        let flat = try store.create(name: "flat", dimensions: d, modelVersion: "bench", settings: CollectionSettings(indexKind: .flat))
        let flatBuild = try timed { try load(flat, baseData, n: n, d: d) }
        let flatRSS = residentBytes() - rss0
        let (exact, flatBatchQPS) = try batchedSearch(flat, qs, ef: nil, exact: true)
        let flatSingleQPS = try singleSearch(flat, qs, ef: nil)
        emit([
            "index": "flat", "n": n, "dimensions": d, "queries": nq, "build_s": round3(flatBuild),
            "qps_single": round1(flatSingleQPS), "qps_batch\(batch)": round1(flatBatchQPS), "recall_at_\(k)": 1.0,
            "index_bytes_per_vector": Int(flat.bytesPerVector), "rss_bytes_per_vector": flatRSS / n,
        ])
        if skipHnsw { return }
        try store.drop(name: "flat")

        // MARK: HNSW
        let rss1 = residentBytes()
        let params = HNSWParameters(m: m, efConstruction: efConstruction, efSearch: 64)
        let graph = try store.create(
            name: "hnsw", dimensions: d, modelVersion: "bench", settings: CollectionSettings(indexKind: .hnsw, hnsw: params))
        let hnswBuild = try timed { try load(graph, baseData, n: n, d: d) }
        // Freed flat-index pages may be reused, so this can understate; index bytes are exact.
        let hnswRSS = max(0, residentBytes() - rss1)
        for ef in efSearch.split(separator: ",").compactMap({ Int($0) }) {
            let single = try singleSearch(graph, qs, ef: ef)
            let (found, batchQPS) = try batchedSearch(graph, qs, ef: ef, exact: false)
            emit([
                "index": "hnsw", "n": n, "m": m, "ef_construction": efConstruction, "ef_search": ef,
                "build_s": round3(hnswBuild), "qps_single": round1(single), "qps_batch\(batch)": round1(batchQPS),
                "recall_at_\(k)": round4(recallAt(found, exact)),
                "index_bytes_per_vector": Int(graph.bytesPerVector), "rss_bytes_per_vector": hnswRSS / n,
            ])
        }
    }

    // MARK: Steps

    private func load(_ c: Collection, _ data: [Float], n: Int, d: Int) throws {
        var i = 0
        while i < n {
            let end = min(n, i + chunk)
            try c.upsert((i..<end).map { (Document(id: String($0), text: ""), Array(data[($0 * d)..<(($0 + 1) * d)])) })
            i = end
        }
    }

    private func singleSearch(_ c: Collection, _ qs: [[Float]], ef: Int?) throws -> Double {
        let count = min(singleQueries, qs.count)
        var rates: [Double] = []
        for _ in 0..<max(1, passes) {
            let seconds = try timed {
                for i in 0..<count { _ = try c.search(vector: qs[i], topK: k, efSearch: ef) }
            }
            rates.append(Double(count) / seconds)
        }
        return median(rates)
    }

    private func batchedSearch(_ c: Collection, _ qs: [[Float]], ef: Int?, exact: Bool) throws -> ([[String]], Double) {
        var out: [[String]] = []
        var rates: [Double] = []
        for _ in 0..<max(1, passes) {
            out = []
            let seconds = try timed {
                var i = 0
                while i < qs.count {
                    let hits = try c.search(vectors: Array(qs[i..<min(qs.count, i + batch)]), topK: k, efSearch: ef, exact: exact)
                    out += hits.map { $0.map(\.document.id) }
                    i += batch
                }
            }
            rates.append(Double(qs.count) / seconds)
        }
        return (out, median(rates))
    }

    private func recallAt(_ found: [[String]], _ truth: [[String]]) -> Double {
        var hit = 0, total = 0
        for (f, t) in zip(found, truth) {
            let want = Set(t.prefix(k))
            hit += f.prefix(k).filter { want.contains($0) }.count
            total += want.count
        }
        return Double(hit) / Double(max(total, 1))
    }

    // MARK: Measuring

    private func timed(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// Resident set size from /proc/self/statm (0 where there is none).
    private func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let parts = s.split(separator: " ")
        guard parts.count > 1, let pages = Int(parts[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private func emit(_ fields: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) {
            print(String(decoding: data, as: UTF8.self))
        }
    }

    private func round1(_ x: Double) -> Double { (x * 10).rounded() / 10 }
    private func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
    private func round4(_ x: Double) -> Double { (x * 10000).rounded() / 10000 }
}
