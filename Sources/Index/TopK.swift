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

/// A binary heap of (distance, node) ordered by `less`; used as the
/// candidate queue (nearest first) and the result set (farthest first).
struct DistanceHeap {
    private(set) var items: [Scored] = []
    /// true: the root is the largest score (max-heap); false: the smallest.
    let maxAtRoot: Bool

    init(maxAtRoot: Bool, capacity: Int) {
        self.maxAtRoot = maxAtRoot
        items.reserveCapacity(capacity)
    }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var top: Scored { items[0] }

    @inline(__always) private func before(_ a: Float, _ b: Float) -> Bool {
        maxAtRoot ? a > b : a < b
    }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ e: Scored) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) >> 1
            if !before(e.score, items[p].score) { break }
            items[i] = items[p]
            i = p
        }
        items[i] = e
    }

    @discardableResult
    mutating func pop() -> Scored {
        let root = items[0]
        let last = items.removeLast()
        let n = items.count
        if n > 0 {
            var i = 0
            while true {
                var c = 2 * i + 1
                if c >= n { break }
                if c + 1 < n, before(items[c + 1].score, items[c].score) { c += 1 }
                if !before(items[c].score, last.score) { break }
                items[i] = items[c]
                i = c
            }
            items[i] = last
        }
        return root
    }
}
