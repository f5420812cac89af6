import Foundation
import CPrefetch
import Numerics

// MARK: - HNSW graph

/// A hierarchical navigable small-world graph (Malkov & Yashunin, 2016) over
/// the rows of a `VectorStore`: node id == slot. Similarity is the inner
/// product of unit vectors (cosine); "closer" means a higher score.
///
/// Layout (per node, `capacity` nodes):
/// - `records`: `(capacity, recordBytes)` bytes, 64-byte aligned — per node
///   a half-precision copy of its vector (`halfBytes`: `dimensions` Float16,
///   padded to a cache line), then its bottom-layer link list (Int32 count,
///   then up to `m0 = 2·m` links), the record padded to a cache line;
/// - `levels`: `(capacity)` Int32 — the node's top layer (0 for most nodes);
/// - `upper[node]`: `(levels[node], 1 + m)` Int32 — count + links for layers 1…level, or nil.
///
/// Why the records: a graph walk is bound by memory, one cache miss per
/// vector it scores. Half-precision copies halve the bytes each hop reads
/// (768 instead of 1,536 at 384 dimensions), and a node's links sit beside
/// its vector, so expanding a node that was scored a moment ago finds them
/// in cache (hnswlib co-locates the same way, in single precision). The
/// walk ranks by these half-precision scores; `search` rescores its final
/// candidates against the exact Float rows, so the scores it returns are
/// exact. The Float rows stay in `vectors` for flat scans and snapshots.
///
/// Deleted documents stay in the graph as tombstones (they keep it
/// navigable); searches skip them through `accept`. The owner rebuilds the
/// graph when tombstones pile up.
///
/// Concurrency: searches may run in parallel with each other (each takes
/// its own `SearchContext` from a locked pool). Inserts run one at a time, except inside
/// `insertAll`, where neighbour lists are guarded by striped locks.
final class HNSWGraph {
    let m: Int
    let m0: Int
    let efConstruction: Int
    let vectors: VectorStore
    /// Bytes of a record's half-precision vector, padded to a cache line.
    let halfBytes: Int
    /// Bytes of one node's record (vector, then bottom-layer links), a multiple of 64.
    let recordBytes: Int
    private let levelMultiplier: Double

    private(set) var capacity = 0
    private(set) var nodeCount = 0
    private(set) var records: UnsafeMutableRawPointer
    private(set) var levels: UnsafeMutablePointer<Int32>
    private(set) var upper: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>
    private(set) var entryPoint: Int32 = -1
    private(set) var maxLevel: Int32 = -1

    private var rng: SplitMix64
    private let locks: StripedLocks
    private let contexts: SearchContextPool

    init(vectors: VectorStore, m: Int, efConstruction: Int, seed: UInt64 = 42) {
        self.vectors = vectors
        self.m = m
        self.m0 = 2 * m
        self.efConstruction = efConstruction
        self.levelMultiplier = 1 / log(Double(max(m, 2)))
        rng = SplitMix64(seed: seed)
        locks = StripedLocks(count: 4096)
        contexts = SearchContextPool(linkCapacity: 2 * m + 1, dimensions: vectors.dimensions)
        halfBytes = HNSWGraph.roundUp(vectors.dimensions * 2)
        recordBytes = HNSWGraph.roundUp(halfBytes + (1 + 2 * m) * 4)
        capacity = 16
        records = IndexBuffer.allocate(byteCount: capacity * recordBytes)
        levels = .allocate(capacity: capacity)
        upper = .allocate(capacity: capacity)
    }

    deinit {
        for i in 0..<nodeCount { upper[i]?.deallocate() }
        records.deallocate()
        levels.deallocate()
        upper.deallocate()
    }

    @inline(__always) private static func roundUp(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }

    /// Bytes held by the graph: records (half-precision vectors and
    /// bottom-layer links), levels and upper-layer links — not the Float rows.
    var allocatedBytes: Int {
        var b = capacity * (recordBytes + 4 + 8)
        for i in 0..<nodeCount where levels[i] > 0 { b += Int(levels[i]) * (1 + m) * 4 }
        return b
    }

    // MARK: Node storage

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        var c = capacity
        while c < n { c *= 2 }
        let r = IndexBuffer.allocate(byteCount: c * recordBytes)
        r.copyMemory(from: records, byteCount: nodeCount * recordBytes)
        records.deallocate()
        records = r
        let lv = UnsafeMutablePointer<Int32>.allocate(capacity: c)
        lv.update(from: levels, count: nodeCount)
        levels.deallocate()
        levels = lv
        let up = UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>.allocate(capacity: c)
        up.update(from: upper, count: nodeCount)
        upper.deallocate()
        upper = up
        capacity = c
    }

    /// Adds the node for the next slot of `vectors` with empty link lists at
    /// `level` (drawn at random when nil); its record gets the half-precision vector.
    private func addNode(level: Int32? = nil) -> Int32 {
        reserve(nodeCount + 1)
        let id = nodeCount
        let lv = level ?? Int32(min(16.0, floor(-log(max(rng.nextUnit(), 1e-12)) * levelMultiplier)))
        levels[id] = lv
        let rec = records + id * recordBytes
        let d = vectors.dimensions
        Half.store(vectors.row(id), into: rec.assumingMemoryBound(to: Float16.self), d)
        (rec + d * 2).initializeMemory(as: UInt8.self, repeating: 0, count: halfBytes - d * 2)
        (rec + halfBytes).assumingMemoryBound(to: Int32.self)[0] = 0
        if lv > 0 {
            let block = UnsafeMutablePointer<Int32>.allocate(capacity: Int(lv) * (1 + m))
            for l in 0..<Int(lv) { block[l * (1 + m)] = 0 }
            upper[id] = block
        } else {
            upper[id] = nil
        }
        nodeCount += 1
        return Int32(id)
    }

    /// The half-precision vector of `node`.
    @inline(__always) func half(_ node: Int32) -> UnsafePointer<Float16> {
        UnsafePointer((records + Int(node) * recordBytes).assumingMemoryBound(to: Float16.self))
    }

    /// Link list of `node` at `level`: element 0 is the count.
    @inline(__always) func links(_ node: Int32, _ level: Int) -> UnsafeMutablePointer<Int32> {
        level == 0
            ? (records + Int(node) * recordBytes + halfBytes).assumingMemoryBound(to: Int32.self)
            : upper[Int(node)]! + (level - 1) * (1 + m)
    }

    /// Half-precision score of `node` for a Float query.
    @inline(__always) private func sim(_ q: UnsafePointer<Float>, _ node: Int32) -> Float {
        InnerProduct.dot(q, half: half(node), vectors.dimensions)
    }

    // MARK: Insertion

    /// Inserts the next slot of `vectors` (which must be `nodeCount`).
    func insertNext() {
        precondition(nodeCount < vectors.count, "graph is ahead of its vectors")
        let node = addNode()
        let ctx = contexts.acquire(nodes: nodeCount)
        insert(node, context: ctx, locking: false)
        contexts.release(ctx)
    }

    /// Inserts every slot from `nodeCount` up to `vectors.count`, on all
    /// cores when there are many (the graph must not be searched meanwhile).
    func insertAll(threads: Int = System.activeCores) {
        let first = nodeCount, last = vectors.count
        guard last > first else { return }
        if threads <= 1 || last - first < 1000 {
            for _ in first..<last { insertNext() }
            return
        }
        // Seed the graph single-threaded, then insert the rest in parallel.
        while nodeCount < min(last, 256) { insertNext() }
        let start = nodeCount
        reserve(last)
        for _ in start..<last { _ = addNode() }
        let next = AtomicCounter(start)
        let pool = contexts, total = nodeCount
        parallelFor(iterations: threads) { _ in
            let ctx = pool.acquire(nodes: total)
            while true {
                let i = next.fetchAdd(1)
                if i >= last { break }
                self.insert(Int32(i), context: ctx, locking: true)
            }
            pool.release(ctx)
        }
    }

    private func insert(_ node: Int32, context ctx: SearchContext, locking: Bool) {
        let level = levels[Int(node)]
        if locking { locks.lockGlobal() }
        let ep = entryPoint, top = maxLevel
        if ep < 0 {
            entryPoint = node
            maxLevel = level
            if locking { locks.unlockGlobal() }
            return
        }
        let raisesTop = level > top
        if locking && !raisesTop { locks.unlockGlobal() }

        let q = UnsafePointer(vectors.row(Int(node)))
        var cur = ep
        var curSim = sim(q, cur)
        var l = Int(top)
        while l > Int(level) {
            (cur, curSim) = greedy(q, from: cur, sim: curSim, level: l, locking: locking)
            l -= 1
        }
        l = Int(min(level, top))
        while l >= 0 {
            searchLayer(q, entry: cur, ef: efConstruction, level: l, accept: nil, context: ctx, locking: locking)
            var sorted = ctx.results.elements.filter { $0.slot != node }
            sorted.sort { $0.score > $1.score }
            let chosen = selectNeighbors(sorted, max: m)
            connect(node, level: l, to: chosen, locking: locking)
            if let best = sorted.first { cur = best.slot }
            l -= 1
        }
        if raisesTop {
            entryPoint = node
            maxLevel = level
            if locking { locks.unlockGlobal() }
        }
    }

    /// The heuristic of the paper (algorithm 4): keep a candidate only when
    /// it is closer to the base than to every neighbour already kept, which
    /// spreads links across directions. `candidates` are best first.
    private func selectNeighbors(_ candidates: [Scored], max limit: Int) -> [Scored] {
        if candidates.count <= limit { return candidates }
        var kept: [Scored] = []
        kept.reserveCapacity(limit)
        let d = vectors.dimensions
        for c in candidates {
            if kept.count >= limit { break }
            let cv = half(c.slot)
            var good = true
            for k in kept where InnerProduct.dot(half: cv, half: half(k.slot), d) > c.score {
                good = false
                break
            }
            if good { kept.append(c) }
        }
        return kept
    }

    private func connect(_ node: Int32, level: Int, to chosen: [Scored], locking: Bool) {
        let limit = level == 0 ? m0 : m
        if locking { locks.lock(node) }
        let own = links(node, level)
        own[0] = Int32(chosen.count)
        for (i, c) in chosen.enumerated() { own[1 + i] = c.slot }
        if locking { locks.unlock(node) }

        for c in chosen {
            let other = c.slot
            if locking { locks.lock(other) }
            let list = links(other, level)
            let count = Int(list[0])
            if count < limit {
                list[1 + count] = node
                list[0] = Int32(count + 1)
            } else {
                let d = vectors.dimensions
                let ov = half(other)
                var cands = [Scored(score: c.score, slot: node)]
                cands.reserveCapacity(count + 1)
                // The neighbours' vectors are scattered and mostly not in
                // cache: fetch ahead while scoring, as the search does.
                let ahead = HNSWGraph.prefetchAhead, lines = halfBytes / 64
                for i in 0..<min(ahead, count) { HNSWGraph.prefetch(half(list[1 + i]), lines: lines) }
                for i in 0..<count {
                    if i + ahead < count { HNSWGraph.prefetch(half(list[1 + i + ahead]), lines: lines) }
                    cands.append(Scored(score: InnerProduct.dot(half: ov, half: half(list[1 + i]), d), slot: list[1 + i]))
                }
                cands.sort { $0.score > $1.score }
                let kept = selectNeighbors(cands, max: limit)
                list[0] = Int32(kept.count)
                for (i, k) in kept.enumerated() { list[1 + i] = k.slot }
            }
            if locking { locks.unlock(other) }
        }
    }

    // MARK: Search

    /// How many places ahead in the list of neighbours to score the search
    /// prefetches a vector. Measured on 384-dim MiniLM and clustered
    /// vectors: 1–3 ahead, whole rows, all gave +30–45 % queries per CPU
    /// second over no prefetch; 2 leaves the most slack for slower memory.
    static let prefetchAhead = 2

    /// Asks the CPU to start loading `lines` cache lines from `p` (see `CPrefetch`).
    @inline(__always) private static func prefetch(_ p: UnsafeRawPointer, lines: Int) {
        var o = 0
        while o < lines {
            ranksmith_prefetch(p + o * 64)
            o += 1
        }
    }

    /// Prefetches every cache line of `bytes` bytes from `p` (at any alignment).
    @inline(__always) private static func prefetch(_ p: UnsafeRawPointer, bytes: Int) {
        var o = 0
        while o < bytes {
            ranksmith_prefetch(p + o)
            o += 64
        }
        ranksmith_prefetch(p + (bytes - 1))
    }

    /// Greedy walk on one upper layer towards `q`.
    private func greedy(
        _ q: UnsafePointer<Float>, from start: Int32, sim startSim: Float, level: Int, locking: Bool
    ) -> (Int32, Float) {
        var cur = start, curSim = startSim
        let d = vectors.dimensions, recs = UnsafeRawPointer(records), rb = recordBytes, up = upper, strideUp = 1 + m
        let vectorLines = halfBytes / 64
        var changed = true
        while changed {
            changed = false
            if locking { locks.lock(cur) }
            let list = up[Int(cur)]! + (level - 1) * strideUp
            let n = Int(list[0])
            var bestNode = cur, bestSim = curSim
            if n > 0 { HNSWGraph.prefetch(recs + Int(list[1]) * rb, lines: vectorLines) }
            for i in 0..<n {
                let v = list[1 + i]
                if i + 1 < n { HNSWGraph.prefetch(recs + Int(list[2 + i]) * rb, lines: vectorLines) }
                let s = InnerProduct.dot(q, half: (recs + Int(v) * rb).assumingMemoryBound(to: Float16.self), d)
                if s > bestSim { bestSim = s; bestNode = v }
            }
            if locking { locks.unlock(cur) }
            if bestNode != cur { cur = bestNode; curSim = bestSim; changed = true }
        }
        return (cur, curSim)
    }

    /// Best-first search on one layer with a candidate list of `ef`.
    /// Every node is traversed, but only nodes `accept` allows enter the
    /// result, so filters and tombstones hold during the search. Leaves the
    /// results in `ctx.results` (a min-heap, weakest at the root).
    ///
    /// The walk is bound by memory, not arithmetic: each expanded node sends
    /// it to up to `m0` vectors at random places. So it first collects the
    /// node's unvisited neighbours, then scores them in order while the CPU
    /// is already fetching the vectors `prefetchAhead` places further on,
    /// and the link list of the candidate most likely to be expanded next.
    /// The order in which nodes are scored and enter the heaps is that of the
    /// plain algorithm, so results are the same as without prefetching.
    func searchLayer(
        _ q: UnsafePointer<Float>, entry: Int32, ef: Int, level: Int,
        accept: ((Int32) -> Bool)?, context ctx: SearchContext, locking: Bool
    ) {
        ctx.begin(nodes: nodeCount)
        // Hot loop: everything read once into locals (no class-field reads,
        // reference counting or exclusivity checks inside).
        var candidates = ctx.candidates, results = ctx.results
        candidates.removeAll()
        results.removeAll()
        defer {
            ctx.candidates = candidates
            ctx.results = results
        }
        let marks = ctx.marks, tag = ctx.tag, fresh = ctx.fresh
        let d = vectors.dimensions, recs = UnsafeRawPointer(records), rb = recordBytes, hb = halfBytes
        let up = upper, strideUp = 1 + m, ahead = HNSWGraph.prefetchAhead
        // On the bottom layer a scored node's whole record is fetched, so
        // its links are in cache if it is expanded soon after.
        let lines = level == 0 ? rb / 64 : hb / 64
        let listBytes = (level == 0 ? 1 + m0 : strideUp) * 4
        @inline(__always) func list(_ node: Int32) -> UnsafePointer<Int32> {
            level == 0
                ? (recs + Int(node) * rb + hb).assumingMemoryBound(to: Int32.self)
                : UnsafePointer(up[Int(node)]! + (level - 1) * strideUp)
        }
        @inline(__always) func score(_ node: Int32) -> Float {
            InnerProduct.dot(q, half: (recs + Int(node) * rb).assumingMemoryBound(to: Float16.self), d)
        }
        let s0 = score(entry)
        marks[Int(entry)] = tag
        candidates.push(Scored(score: s0, slot: entry))
        if accept == nil || accept!(entry) { results.push(Scored(score: s0, slot: entry)) }
        var worst = results.count > 0 ? results.top.score : -Float.infinity
        while !candidates.isEmpty {
            let c = candidates.top
            if results.count >= ef && c.score < worst { break }
            candidates.pop()
            if !candidates.isEmpty {
                HNSWGraph.prefetch(list(candidates.top.slot), bytes: listBytes)
            }
            let links = list(c.slot)
            if locking { locks.lock(c.slot) }
            let n = Int(links[0])
            var u = 0
            var i = 1
            while i <= n {
                let v = links[i]
                if marks[Int(v)] != tag {
                    marks[Int(v)] = tag
                    fresh[u] = v
                    u += 1
                }
                i += 1
            }
            if locking { locks.unlock(c.slot) }
            var p = 0
            while p < min(ahead, u) {
                HNSWGraph.prefetch(recs + Int(fresh[p]) * rb, lines: lines)
                p += 1
            }
            var j = 0
            while j < u {
                if j + ahead < u { HNSWGraph.prefetch(recs + Int(fresh[j + ahead]) * rb, lines: lines) }
                let v = fresh[j]
                j += 1
                let s = score(v)
                if results.count < ef || s > worst {
                    candidates.push(Scored(score: s, slot: v))
                    if accept == nil || accept!(v) {
                        results.push(Scored(score: s, slot: v))
                        if results.count > ef { results.pop() }
                        worst = results.top.score
                    }
                }
            }
        }
    }

    /// Largest difference between a half-precision score and the exact
    /// one, for unit vectors: each component of a copy is within 2⁻¹¹ of
    /// its value relative to it, so by Cauchy–Schwarz the score is within
    /// 2⁻¹¹; the rest covers Float rounding and half-precision subnormals.
    static let halfScoreError: Float = 1.0 / 2048 + 1e-5

    /// The `k` best accepted nodes for a normalised query, best first.
    func search(_ query: UnsafePointer<Float>, k: Int, ef: Int, accept: ((Int32) -> Bool)?) -> [Scored] {
        guard entryPoint >= 0 else { return [] }
        let ctx = contexts.acquire(nodes: nodeCount)
        defer { contexts.release(ctx) }
        // An aligned copy: rows are 64-byte aligned too, so no load of the
        // dot product straddles two cache lines.
        ctx.query.update(from: query, count: vectors.dimensions)
        let q = UnsafePointer(ctx.query)
        var cur = entryPoint
        var curSim = sim(q, cur)
        var l = Int(maxLevel)
        while l > 0 {
            (cur, curSim) = greedy(q, from: cur, sim: curSim, level: l, locking: false)
            l -= 1
        }
        searchLayer(q, entry: cur, ef: max(ef, k), level: 0, accept: accept, context: ctx, locking: false)
        // Rescore against the exact Float rows, so the scores returned and
        // their order are exact. Only candidates that can still be in the
        // exact top k are read: a half-precision score is within
        // `halfScoreError` of the exact one, so a candidate more than twice
        // that below the k-th best half-precision score cannot be.
        var sorted = Array(ctx.results.elements)
        sorted.sort { $0.score > $1.score }
        if sorted.count > k {
            let cut = sorted[k - 1].score - 2 * HNSWGraph.halfScoreError
            var keep = k
            while keep < sorted.count && sorted[keep].score >= cut { keep += 1 }
            sorted.removeLast(sorted.count - keep)
        }
        let d = vectors.dimensions, rows = UnsafePointer(vectors.base), ahead = 4
        for c in sorted.prefix(ahead) { HNSWGraph.prefetch(rows + Int(c.slot) * d, bytes: d * 4) }
        for i in sorted.indices {
            if i + ahead < sorted.count { HNSWGraph.prefetch(rows + Int(sorted[i + ahead].slot) * d, bytes: d * 4) }
            sorted[i].score = InnerProduct.dot(q, rows + Int(sorted[i].slot) * d, d)
        }
        sorted.sort { $0.score != $1.score ? $0.score > $1.score : $0.slot < $1.slot }
        if sorted.count > k { sorted.removeLast(sorted.count - k) }
        return sorted
    }
}

// MARK: - Restoring from a snapshot

extension HNSWGraph {
    /// Rebuilds the in-memory graph from checked snapshot fields: `levels`
    /// has one entry per node, `level0` `(nodes, 1 + m0)` and `upperLinks`
    /// the concatenated upper blocks in node order. Returns nil when a
    /// count or link is out of bounds.
    static func restore(
        vectors: VectorStore, m: Int, efConstruction: Int, entryPoint: Int32, maxLevel: Int32,
        levels lv: [Int32], level0 l0: [Int32], upperLinks: [Int32]
    ) -> HNSWGraph? {
        let g = HNSWGraph(vectors: vectors, m: m, efConstruction: efConstruction)
        let n = lv.count
        guard n <= vectors.count, l0.count == n * (1 + g.m0) else { return nil }
        guard (n == 0 && entryPoint == -1) || (entryPoint >= 0 && Int(entryPoint) < n && lv[Int(entryPoint)] == maxLevel)
        else { return nil }
        var upperOffset = 0
        g.reserve(n)
        for i in 0..<n {
            guard lv[i] >= 0, lv[i] <= maxLevel else { return nil }
            _ = g.addNode(level: lv[i])
            let dst = g.links(Int32(i), 0)
            for j in 0..<(1 + g.m0) { dst[j] = l0[i * (1 + g.m0) + j] }
            guard dst[0] >= 0, Int(dst[0]) <= g.m0 else { return nil }
            for j in 0..<Int(dst[0]) where dst[1 + j] < 0 || Int(dst[1 + j]) >= n { return nil }
            if lv[i] > 0 {
                let size = Int(lv[i]) * (1 + m)
                guard upperOffset + size <= upperLinks.count else { return nil }
                let block = g.upper[i]!
                for j in 0..<size { block[j] = upperLinks[upperOffset + j] }
                upperOffset += size
                for l in 0..<Int(lv[i]) {
                    let c = Int(block[l * (1 + m)])
                    guard c >= 0, c <= m else { return nil }
                    for j in 0..<c where block[l * (1 + m) + 1 + j] < 0 || Int(block[l * (1 + m) + 1 + j]) >= n { return nil }
                }
            }
        }
        guard upperOffset == upperLinks.count else { return nil }
        g.entryPoint = entryPoint
        g.maxLevel = maxLevel
        return g
    }

    /// The bottom-layer link lists `(nodes, 1 + m0)`, in node order (see `restore`).
    func level0LinksFlat() -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(nodeCount * (1 + m0))
        for i in 0..<nodeCount { out.append(contentsOf: UnsafeBufferPointer(start: links(Int32(i), 0), count: 1 + m0)) }
        return out
    }

    /// The concatenated upper-layer blocks, in node order (see `restore`).
    func upperLinksFlat() -> [Int32] {
        var out: [Int32] = []
        for i in 0..<nodeCount where levels[i] > 0 {
            out.append(contentsOf: UnsafeBufferPointer(start: upper[i]!, count: Int(levels[i]) * (1 + m)))
        }
        return out
    }
}
