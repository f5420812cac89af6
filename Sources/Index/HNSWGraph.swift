import Foundation
import CPrefetch
import Numerics

// MARK: - HNSW graph

/// A hierarchical navigable small-world graph (Malkov & Yashunin, 2016) over
/// the rows of a `VectorStore`: node id == slot. Similarity is the inner
/// product of unit vectors (cosine); "closer" means a higher score.
///
/// Layout (per node, `capacity` nodes):
/// - `level0`: `(capacity, 1 + m0)` Int32 — link count, then up to `m0 = 2·m` links;
/// - `levels`: `(capacity)` Int32 — the node's top layer (0 for most nodes);
/// - `upper[node]`: `(levels[node], 1 + m)` Int32 — count + links for layers 1…level, or nil.
///
/// Deleted documents stay in the graph as tombstones (they keep it
/// navigable); searches skip them through `accept`. The owner rebuilds the
/// graph when tombstones pile up.
///
/// Concurrency: searches may run in parallel with each other (each takes
/// its own `SearchContext` from a locked pool). Inserts run one at a time, except inside
/// `insertParallel`, where neighbour lists are guarded by striped locks.
final class HNSWGraph {
    let m: Int
    let m0: Int
    let efConstruction: Int
    let vectors: VectorStore
    private let levelMultiplier: Double

    private(set) var capacity = 0
    private(set) var nodeCount = 0
    private(set) var level0: UnsafeMutablePointer<Int32>
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
        capacity = 16
        level0 = .allocate(capacity: capacity * (1 + m0))
        levels = .allocate(capacity: capacity)
        upper = .allocate(capacity: capacity)
    }

    deinit {
        for i in 0..<nodeCount { upper[i]?.deallocate() }
        level0.deallocate()
        levels.deallocate()
        upper.deallocate()
    }

    /// Bytes held by the graph's link lists (not the vectors).
    var allocatedBytes: Int {
        var b = capacity * ((1 + m0) * 4 + 4 + 8)
        for i in 0..<nodeCount where levels[i] > 0 { b += Int(levels[i]) * (1 + m) * 4 }
        return b
    }

    // MARK: Node storage

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        var c = capacity
        while c < n { c *= 2 }
        let l0 = UnsafeMutablePointer<Int32>.allocate(capacity: c * (1 + m0))
        l0.update(from: level0, count: nodeCount * (1 + m0))
        level0.deallocate()
        level0 = l0
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

    /// Adds a node with empty link lists at `level` (drawn at random when nil).
    private func addNode(level: Int32? = nil) -> Int32 {
        reserve(nodeCount + 1)
        let id = nodeCount
        let lv = level ?? Int32(min(16.0, floor(-log(max(rng.nextUnit(), 1e-12)) * levelMultiplier)))
        levels[id] = lv
        level0[id * (1 + m0)] = 0
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

    /// Link list of `node` at `level`: element 0 is the count.
    @inline(__always) func links(_ node: Int32, _ level: Int) -> UnsafeMutablePointer<Int32> {
        level == 0 ? level0 + Int(node) * (1 + m0) : upper[Int(node)]! + (level - 1) * (1 + m)
    }

    @inline(__always) private func sim(_ q: UnsafePointer<Float>, _ node: Int32) -> Float {
        InnerProduct.dot(q, vectors.row(Int(node)), vectors.dimensions)
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
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
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
        let d = vectors.dimensions, vbase = vectors.base
        for c in candidates {
            if kept.count >= limit { break }
            let cv = vbase + Int(c.slot) * d
            var good = true
            for k in kept where InnerProduct.dot(cv, vbase + Int(k.slot) * d, d) > c.score {
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
                let d = vectors.dimensions, vbase = vectors.base
                let ov = vbase + Int(other) * d
                var cands = [Scored(score: c.score, slot: node)]
                cands.reserveCapacity(count + 1)
                for i in 0..<count { cands.append(Scored(score: InnerProduct.dot(ov, vbase + Int(list[1 + i]) * d, d), slot: list[1 + i])) }
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

    /// Cache lines of a row of `d` floats (rows are 64-byte aligned, see `VectorStore`).
    @inline(__always) static func rowLines(_ d: Int) -> Int { (d * 4 + 63) / 64 }

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
        let d = vectors.dimensions, vbase = UnsafePointer(vectors.base), up = upper, strideUp = 1 + m
        let rowLines = HNSWGraph.rowLines(d)
        var changed = true
        while changed {
            changed = false
            if locking { locks.lock(cur) }
            let list = up[Int(cur)]! + (level - 1) * strideUp
            let n = Int(list[0])
            var bestNode = cur, bestSim = curSim
            if n > 0 { HNSWGraph.prefetch(vbase + Int(list[1]) * d, lines: rowLines) }
            for i in 0..<n {
                let v = list[1 + i]
                if i + 1 < n { HNSWGraph.prefetch(vbase + Int(list[2 + i]) * d, lines: rowLines) }
                let s = InnerProduct.dot(q, vbase + Int(v) * d, d)
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
        let d = vectors.dimensions, vbase = UnsafePointer(vectors.base)
        let l0 = UnsafePointer(level0), up = upper, stride0 = 1 + m0, strideUp = 1 + m
        let rowLines = HNSWGraph.rowLines(d), ahead = HNSWGraph.prefetchAhead
        let listBytes = (level == 0 ? stride0 : strideUp) * 4
        let s0 = InnerProduct.dot(q, vbase + Int(entry) * d, d)
        marks[Int(entry)] = tag
        candidates.push(Scored(score: s0, slot: entry))
        if accept == nil || accept!(entry) { results.push(Scored(score: s0, slot: entry)) }
        var worst = results.count > 0 ? results.top.score : -Float.infinity
        while !candidates.isEmpty {
            let c = candidates.top
            if results.count >= ef && c.score < worst { break }
            candidates.pop()
            if !candidates.isEmpty {
                let next = candidates.top.slot
                let nextList = level == 0 ? l0 + Int(next) * stride0 : UnsafePointer(up[Int(next)]! + (level - 1) * strideUp)
                HNSWGraph.prefetch(nextList, bytes: listBytes)
            }
            let list = level == 0 ? l0 + Int(c.slot) * stride0 : UnsafePointer(up[Int(c.slot)]! + (level - 1) * strideUp)
            if locking { locks.lock(c.slot) }
            let n = Int(list[0])
            var u = 0
            var i = 1
            while i <= n {
                let v = list[i]
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
                HNSWGraph.prefetch(vbase + Int(fresh[p]) * d, lines: rowLines)
                p += 1
            }
            var j = 0
            while j < u {
                if j + ahead < u { HNSWGraph.prefetch(vbase + Int(fresh[j + ahead]) * d, lines: rowLines) }
                let v = fresh[j]
                j += 1
                let s = InnerProduct.dot(q, vbase + Int(v) * d, d)
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
        var sorted = Array(ctx.results.elements)
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
            let dst = g.level0 + i * (1 + g.m0)
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

    /// The concatenated upper-layer blocks, in node order (see `restore`).
    func upperLinksFlat() -> [Int32] {
        var out: [Int32] = []
        for i in 0..<nodeCount where levels[i] > 0 {
            out.append(contentsOf: UnsafeBufferPointer(start: upper[i]!, count: Int(levels[i]) * (1 + m)))
        }
        return out
    }
}
