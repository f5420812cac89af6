import Foundation
import Numerics

// MARK: - Bidirectional self-attention over packed sequences
//
// The encoder packs a batch without padding: the rows of every sequence lie
// one after another in `qkv (T, 3H)`, so linear layers never multiply
// padding. Attention is then computed per (sequence, head) over that
// sequence's own rows — nothing is masked because nothing is padded.

/// Self-attention kernels for the encoder.
public enum Attention {
    /// `context (T, H) = softmax(Q Kᵀ / √d) V` for each sequence and head.
    ///
    /// - `qkv`: (T, 3H) with Q in columns [0, H), K in [H, 2H), V in [2H, 3H);
    ///   head h uses columns [h·d, (h+1)·d) of each.
    /// - `offsets`: sequence s owns rows `offsets[s] ..< offsets[s+1]`.
    /// With `threads` > 1 the work is spread by (sequence, head); each
    /// worker has one score row of the longest sequence's length.
    public static func forward(
        context: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        offsets: [Int], hidden: Int, heads: Int, threads: Int = 1
    ) {
        let d = hidden / heads
        let scale = 1 / Float(d).squareRoot()
        let sequences = offsets.count - 1
        let maxLen = (0..<sequences).map { offsets[$0 + 1] - offsets[$0] }.max() ?? 0
        let tasks = sequences * heads
        let workers = max(1, min(tasks, threads))
        guard tasks > 0 else { return }
        let ctx = UnsafeMutableSendablePointer(context), src = UnsafeSendablePointer(qkv)
        ParallelRegions.shared.run(parts: workers) { w in
            // One score row, or a whole score matrix for long sequences.
            let scratch = maxLen >= blasThreshold ? maxLen * maxLen : maxLen
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(scratch, 1))
            defer { row.deallocate() }
            var task = w
            while task < tasks {
                let s = task / heads, h = task % heads
                let start = offsets[s], len = offsets[s + 1] - start
                head(context: ctx.pointer, qkv: src.pointer, start: start, length: len,
                     hidden: hidden, headOffset: h * d, headSize: d, scale: scale, row: row)
                task += workers
            }
        }
    }

    /// Sequences at least this long use two sgemm calls per head instead of
    /// per-pair dot products (whose call overhead dominates at L ≈ 256).
    static let blasThreshold = 32

    /// One (sequence, head): for each query row i, scores over the
    /// sequence's keys, softmax, then the weighted sum of values.
    @inline(__always)
    static func head(
        context: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        start: Int, length: Int, hidden: Int, headOffset: Int, headSize d: Int,
        scale: Float, row: UnsafeMutablePointer<Float>
    ) {
        let stride = 3 * hidden
        if length >= blasThreshold {
            headWithProbabilities(context: context + start * hidden + headOffset, probabilities: row,
                                  qkv: qkv + start * stride + headOffset, length: length, hidden: hidden,
                                  headSize: d, scale: scale)
            return
        }
        for i in 0..<length {
            let q = qkv + (start + i) * stride + headOffset
            for j in 0..<length {
                row[j] = Kernels.dot(q, qkv + (start + j) * stride + hidden + headOffset, d) * scale
            }
            Kernels.softmax(row, rows: 1, cols: length)
            let out = context + (start + i) * hidden + headOffset
            out.initialize(repeating: 0, count: d)
            for j in 0..<length {
                axpy(out, row[j], qkv + (start + j) * stride + 2 * hidden + headOffset, d)
            }
        }
    }

    /// One (sequence, head) through its whole probability matrix:
    /// `probabilities (L, L) = softmax(scale · Q Kᵀ)` by rows, then
    /// `context (L, d) = probabilities · V`. `qkv` points at the sequence's
    /// first row and the head's Q columns (row stride 3H), `context` at the
    /// same row and column of the (T, H) output. Long sequences are served
    /// this way; training runs every head this way and keeps the
    /// probabilities for its backward.
    static func headWithProbabilities(
        context: UnsafeMutablePointer<Float>, probabilities p: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        length l: Int, hidden: Int, headSize d: Int, scale: Float
    ) {
        let stride = 3 * hidden
        BLAS.sgemm(transB: true, m: l, n: l, k: d, alpha: scale,
                   a: qkv, lda: stride, b: qkv + hidden, ldb: stride, c: p, ldc: l)
        Kernels.softmax(p, rows: l, cols: l)
        BLAS.sgemm(m: l, n: d, k: l, a: UnsafePointer(p), lda: l,
                   b: qkv + 2 * hidden, ldb: stride, c: context, ldc: hidden)
    }

    /// `y += a · x` over `n` elements.
    @inline(__always)
    static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        let a8 = F8(repeating: a)
        var k = 0
        while k + 8 <= n {
            let v = UnsafeRawPointer(y + k).loadUnaligned(as: F8.self)
                .addingProduct(a8, UnsafeRawPointer(x + k).loadUnaligned(as: F8.self))
            UnsafeMutableRawPointer(y + k).storeBytes(of: v, as: F8.self)
            k += 8
        }
        while k < n { y[k] += a * x[k]; k += 1 }
    }

    /// The naive reference, in Double: same inputs and output as `forward`.
    public static func reference(qkv: [Float], offsets: [Int], hidden: Int, heads: Int) -> [Float] {
        let d = hidden / heads
        var out = [Float](repeating: 0, count: (offsets.last ?? 0) * hidden)
        for s in 0..<(offsets.count - 1) {
            let start = offsets[s], len = offsets[s + 1] - start
            for h in 0..<heads {
                for i in 0..<len {
                    var scores = [Double](repeating: 0, count: len)
                    for j in 0..<len {
                        var acc = 0.0
                        for k in 0..<d {
                            acc += Double(qkv[(start + i) * 3 * hidden + h * d + k])
                                * Double(qkv[(start + j) * 3 * hidden + hidden + h * d + k])
                        }
                        scores[j] = acc / Double(d).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let total = e.reduce(0, +)
                    for k in 0..<d {
                        var acc = 0.0
                        for j in 0..<len { acc += e[j] / total * Double(qkv[(start + j) * 3 * hidden + 2 * hidden + h * d + k]) }
                        out[(start + i) * hidden + h * d + k] = Float(acc)
                    }
                }
            }
        }
        return out
    }
}

/// A pointer that may cross into `concurrentPerform` workers, each of which
/// writes a disjoint part of the buffer.
struct UnsafeMutableSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { pointer = p }
}

/// A read-only pointer shared with `concurrentPerform` workers.
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    init(_ p: UnsafePointer<Float>) { pointer = p }
}
