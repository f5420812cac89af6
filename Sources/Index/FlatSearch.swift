import Foundation
import Numerics

// MARK: - Exact search

/// Exact inner-product search over every live row of a `VectorStore`.
///
/// One query: a SIMD dot product per row (four rows per pass so the query
/// is loaded once per four rows), split into chunks that run on all cores
/// for large stores, each chunk keeping its own top-k heap. A batch of
/// queries: `sgemm` against blocks of rows, then a top-k pass per query.
/// Candidates are tested against `accept` (tombstones, filters) only when
/// their score would enter the heap, so a filter costs little unless it is
/// selective.
enum FlatSearch {
    /// Rows per chunk below which one query runs on one thread.
    static let parallelChunkRows = 16_384
    /// Rows per `sgemm` block in batched search: (batch, block) scores stay in cache.
    static let batchBlockRows = 4096

    /// Top `k` rows for one normalised query, best first.
    static func search(
        _ store: VectorStore, query: UnsafePointer<Float>, k: Int,
        accept: ((Int32) -> Bool)?
    ) -> [Scored] {
        let n = store.count
        let d = store.dimensions
        let cores = max(1, System.activeCores)
        let chunks = min(cores, max(1, n / parallelChunkRows))
        if chunks == 1 {
            var top = TopK(k: k)
            scan(store.base, d: d, rows: 0..<n, query: query, top: &top, accept: accept)
            return top.sortedDescending()
        }
        let per = (n + chunks - 1) / chunks
        let partial = UnsafeMutableBufferPointer<TopK>.allocate(capacity: chunks)
        defer { partial.deallocate() }
        let base = store.base
        parallelFor(iterations: chunks) { c in
            var top = TopK(k: k)
            scan(base, d: d, rows: (c * per)..<min(n, (c + 1) * per), query: query, top: &top, accept: accept)
            (partial.baseAddress! + c).initialize(to: top)
        }
        var merged = TopK(k: k)
        for c in 0..<chunks {
            for e in partial[c].heap { merged.push(e.score, e.slot) }
        }
        _ = partial.baseAddress!.deinitialize(count: chunks)
        return merged.sortedDescending()
    }

    /// Dots `query` with each row in `rows`, pushing into `top`.
    static func scan(
        _ base: UnsafeMutablePointer<Float>, d: Int, rows: Range<Int>, query: UnsafePointer<Float>,
        top: inout TopK, accept: ((Int32) -> Bool)?
    ) {
        var r = rows.lowerBound
        while r + 4 <= rows.upperBound {
            let s = dot4(query, base + r * d, d)
            for j in 0..<4 where s[j] > top.threshold {
                let slot = Int32(r + j)
                if accept == nil || accept!(slot) { top.push(s[j], slot) }
            }
            r += 4
        }
        while r < rows.upperBound {
            let s = Kernels.dot(query, base + r * d, d)
            if s > top.threshold {
                let slot = Int32(r)
                if accept == nil || accept!(slot) { top.push(s, slot) }
            }
            r += 1
        }
    }

    /// Dot products of `q` with four consecutive rows of length `d` starting at `x`.
    @inline(__always)
    static func dot4(_ q: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ d: Int) -> SIMD4<Float> {
        typealias F8 = SIMD8<Float>
        var a0 = F8(repeating: 0), a1 = F8(repeating: 0), a2 = F8(repeating: 0), a3 = F8(repeating: 0)
        let raw = UnsafeRawPointer(x), qr = UnsafeRawPointer(q)
        let stride = d * 4
        var i = 0
        while i + 8 <= d {
            let o = i * 4
            let qv = qr.loadUnaligned(fromByteOffset: o, as: F8.self)
            a0 = a0.addingProduct(qv, raw.loadUnaligned(fromByteOffset: o, as: F8.self))
            a1 = a1.addingProduct(qv, raw.loadUnaligned(fromByteOffset: o + stride, as: F8.self))
            a2 = a2.addingProduct(qv, raw.loadUnaligned(fromByteOffset: o + 2 * stride, as: F8.self))
            a3 = a3.addingProduct(qv, raw.loadUnaligned(fromByteOffset: o + 3 * stride, as: F8.self))
            i += 8
        }
        var s = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while i < d {
            s[0] += q[i] * x[i]
            s[1] += q[i] * x[d + i]
            s[2] += q[i] * x[2 * d + i]
            s[3] += q[i] * x[3 * d + i]
            i += 1
        }
        return s
    }

    /// Top `k` rows for each of `batch` normalised queries stored row-major
    /// `(batch, d)` at `queries`; `accept` as in `search`.
    static func searchBatch(
        _ store: VectorStore, queries: UnsafePointer<Float>, batch: Int, k: Int,
        accept: ((Int32) -> Bool)?
    ) -> [[Scored]] {
        let n = store.count, d = store.dimensions
        var tops = [TopK](repeating: TopK(k: k), count: batch)
        let block = batchBlockRows
        // scores (batch, block) = queries (batch, d) · rowsᵀ (d, block)
        var scores = [Float](repeating: 0, count: batch * block)
        scores.withUnsafeMutableBufferPointer { sp in
            var start = 0
            while start < n {
                let rows = min(block, n - start)
                BLAS.sgemm(
                    transB: true, m: batch, n: rows, k: d,
                    a: queries, lda: d, b: store.row(start), ldb: d,
                    c: sp.baseAddress!, ldc: rows)
                tops.withUnsafeMutableBufferPointer { tp in
                    for b in 0..<batch {
                        let row = sp.baseAddress! + b * rows
                        for j in 0..<rows where row[j] > tp[b].threshold {
                            let slot = Int32(start + j)
                            if accept == nil || accept!(slot) { tp[b].push(row[j], slot) }
                        }
                    }
                }
                start += rows
            }
        }
        return tops.map { $0.sortedDescending() }
    }

    /// The naive reference: every live row scored with a scalar loop, fully sorted.
    static func searchNaive(
        _ store: VectorStore, query: UnsafePointer<Float>, k: Int, accept: ((Int32) -> Bool)?
    ) -> [Scored] {
        var all: [Scored] = []
        for r in 0..<store.count where accept == nil || accept!(Int32(r)) {
            var s: Float = 0
            let x = store.row(r)
            for i in 0..<store.dimensions { s += query[i] * x[i] }
            all.append(Scored(score: s, slot: Int32(r)))
        }
        all.sort { $0.score != $1.score ? $0.score > $1.score : $0.slot < $1.slot }
        return Array(all.prefix(k))
    }
}

// MARK: - Machine

/// Facts about the machine the searches run on.
enum System {
    /// Cores available to this process.
    static let activeCores: Int = ProcessInfo.processInfo.activeProcessorCount
}
