import Foundation
import Storage

// MARK: - Per-search scratch

/// Everything one graph search writes, allocated once and reused through a
/// `SearchContextPool`, so a search allocates nothing:
/// - `marks`: `(markCapacity)` UInt16 — node `v` is visited when `marks[v] == tag`,
///   so starting a search is one increment (the array is cleared only when
///   the tag wraps, every 65,535 searches);
/// - `candidates`, `results`: the two heaps of the best-first walk;
/// - `fresh`: `(linkCapacity)` Int32 — the unvisited neighbours of the node being expanded;
/// - `query`: `(dimensions)` Float, 64-byte aligned — a copy of the query.
///
/// A context belongs to one search at a time (the pool hands it out).
final class SearchContext {
    private(set) var marks: UnsafeMutablePointer<UInt16>
    private(set) var markCapacity: Int
    private(set) var tag: UInt16 = 0
    var candidates = ScoredHeap<MaxFirst>(capacity: 64)
    var results = ScoredHeap<MinFirst>(capacity: 64)
    let fresh: UnsafeMutablePointer<Int32>
    let query: UnsafeMutablePointer<Float>

    init(nodes: Int, linkCapacity: Int, dimensions: Int) {
        markCapacity = max(nodes, 1024)
        marks = SearchContext.allocateMarks(markCapacity)
        fresh = IndexBuffer.allocate(byteCount: linkCapacity * 4).bindMemory(to: Int32.self, capacity: linkCapacity)
        query = UnsafeMutableRawPointer.allocate(byteCount: max(dimensions, 1) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(dimensions, 1))
    }

    deinit {
        marks.deallocate()
        fresh.deallocate()
        UnsafeMutableRawPointer(query).deallocate()
        candidates.deallocate()
        results.deallocate()
    }

    private static func allocateMarks(_ n: Int) -> UnsafeMutablePointer<UInt16> {
        let m = IndexBuffer.allocate(byteCount: n * 2).bindMemory(to: UInt16.self, capacity: n)
        m.initialize(repeating: 0, count: n)
        return m
    }

    /// Starts a new search over a graph of `nodes` nodes: nothing is visited.
    func begin(nodes: Int) {
        if nodes > markCapacity {
            marks.deallocate()
            markCapacity = max(nodes, markCapacity * 2)
            marks = SearchContext.allocateMarks(markCapacity)
            tag = 0
        }
        tag &+= 1
        if tag == 0 {
            marks.update(repeating: 0, count: markCapacity)
            tag = 1
        }
    }
}

/// Search contexts for concurrent searches: each search takes its own.
final class SearchContextPool: @unchecked Sendable {
    private let monitor = Monitor()
    private var free: [SearchContext] = []
    private let linkCapacity: Int
    private let dimensions: Int

    /// Contexts for graphs whose link lists hold at most `linkCapacity` links.
    init(linkCapacity: Int, dimensions: Int) {
        self.linkCapacity = linkCapacity
        self.dimensions = dimensions
    }

    /// A context with room for `nodes` visited marks.
    func acquire(nodes: Int) -> SearchContext {
        let ctx = monitor.locked { free.popLast() }
            ?? SearchContext(nodes: nodes, linkCapacity: linkCapacity, dimensions: dimensions)
        return ctx
    }

    func release(_ ctx: SearchContext) {
        monitor.locked { free.append(ctx) }
    }
}
