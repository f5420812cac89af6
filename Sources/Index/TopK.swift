// MARK: - Top-k selection

/// A scored slot: `score` is the cosine similarity, `slot` the row in the store.
struct Scored: Sendable {
    var score: Float
    var slot: Int32
}

/// Keeps the `k` highest scores seen, in a binary min-heap whose root is the
/// weakest kept score — O(n log k) over n candidates and no full sort.
struct TopK {
    let k: Int
    private(set) var heap: [Scored]

    init(k: Int) {
        self.k = k
        heap = []
        heap.reserveCapacity(k + 1)
    }

    /// Smallest score that would still enter (−∞ until k are held).
    @inline(__always) var threshold: Float {
        heap.count < k ? -.infinity : heap[0].score
    }

    var count: Int { heap.count }

    /// Offers a candidate; kept if it beats the weakest of a full heap.
    @inline(__always) mutating func push(_ score: Float, _ slot: Int32) {
        if heap.count < k {
            heap.append(Scored(score: score, slot: slot))
            siftUp(heap.count - 1)
        } else if k > 0, score > heap[0].score {
            heap[0] = Scored(score: score, slot: slot)
            siftDown(0)
        }
    }

    /// The kept entries, best first (ties by lower slot).
    func sortedDescending() -> [Scored] {
        heap.sorted { $0.score != $1.score ? $0.score > $1.score : $0.slot < $1.slot }
    }

    private mutating func siftUp(_ i0: Int) {
        var i = i0
        let x = heap[i]
        while i > 0 {
            let p = (i - 1) >> 1
            if heap[p].score <= x.score { break }
            heap[i] = heap[p]
            i = p
        }
        heap[i] = x
    }

    private mutating func siftDown(_ i0: Int) {
        var i = i0
        let x = heap[i]
        let n = heap.count
        while true {
            var c = 2 * i + 1
            if c >= n { break }
            if c + 1 < n, heap[c + 1].score < heap[c].score { c += 1 }
            if heap[c].score >= x.score { break }
            heap[i] = heap[c]
            i = c
        }
        heap[i] = x
    }
}

// MARK: - Candidate heaps for graph search

/// The order of a `ScoredHeap`: `before(a, b)` when score `a` belongs nearer the root.
protocol HeapOrder {
    static func before(_ a: Float, _ b: Float) -> Bool
}

/// Highest score at the root: the candidate queue (nearest first).
enum MaxFirst: HeapOrder {
    @inline(__always) static func before(_ a: Float, _ b: Float) -> Bool { a > b }
}

/// Lowest score at the root: the result set (weakest first, so it is evicted).
enum MinFirst: HeapOrder {
    @inline(__always) static func before(_ a: Float, _ b: Float) -> Bool { a < b }
}

/// A binary heap of scored nodes in a buffer it owns `(capacity)`, growing
/// by doubling; `base[0..<count]` is the heap in array order. A value type
/// with a pointer inside, so the search loop keeps it in registers and no
/// reference counting or uniqueness checks run per push; its owner
/// (`SearchContext`) calls `deallocate`.
struct ScoredHeap<Order: HeapOrder> {
    private(set) var base: UnsafeMutablePointer<Scored>
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = ScoredHeap.allocate(self.capacity)
    }

    /// Room for `n` entries in whole cache lines (see `IndexBuffer`): the
    /// root is written on every push.
    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Scored> {
        IndexBuffer.allocate(byteCount: n * MemoryLayout<Scored>.stride).bindMemory(to: Scored.self, capacity: n)
    }

    func deallocate() { base.deallocate() }

    var isEmpty: Bool { count == 0 }
    @inline(__always) var top: Scored { base[0] }

    /// The entries in array (not sorted) order.
    var elements: UnsafeBufferPointer<Scored> { UnsafeBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    @inline(__always) mutating func push(_ e: Scored) {
        if count == capacity { grow() }
        var i = count
        count += 1
        while i > 0 {
            let p = (i - 1) >> 1
            if !Order.before(e.score, base[p].score) { break }
            base[i] = base[p]
            i = p
        }
        base[i] = e
    }

    @inline(__always) @discardableResult
    mutating func pop() -> Scored {
        let root = base[0]
        count -= 1
        let n = count
        if n > 0 {
            let last = base[n]
            var i = 0
            while true {
                var c = 2 * i + 1
                if c >= n { break }
                if c + 1 < n, Order.before(base[c + 1].score, base[c].score) { c += 1 }
                if !Order.before(base[c].score, last.score) { break }
                base[i] = base[c]
                i = c
            }
            base[i] = last
        }
        return root
    }

    private mutating func grow() {
        let bigger = ScoredHeap.allocate(capacity * 2)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }
}
