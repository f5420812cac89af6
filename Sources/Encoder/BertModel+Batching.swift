import Foundation
import Numerics
import Tokenization

// MARK: - Embedding many inputs

extension BertModel {
    /// Embeds any number of encodings in length-sorted batches of at most
    /// `batchSize` inputs (so little padding-free work is wasted on grouping
    /// long with short), returning rows in input order. `stop` is asked
    /// before each batch; once it says true the rest is skipped and those
    /// rows stay zero (a caller that passes it checks it again afterwards).
    public func embedAll(_ encodings: [Encoding], batchSize: Int = 32, normalize: Bool = true, threads: Int = 1,
                         stop: () -> Bool = { false }) -> Matrix {
        let h = dimensions
        var out = Matrix(rows: encodings.count, cols: h)
        let order = encodings.indices.sorted { encodings[$0].ids.count < encodings[$1].ids.count }
        var start = 0
        while start < order.count && !stop() {
            let end = min(start + max(1, batchSize), order.count)
            let indices = Array(order[start..<end])
            let vectors = embed(indices.map { encodings[$0] }, normalize: normalize, threads: threads)
            out.data.withUnsafeMutableBufferPointer { dst in
                vectors.data.withUnsafeBufferPointer { src in
                    for (k, i) in indices.enumerated() {
                        (dst.baseAddress! + i * h).update(from: src.baseAddress! + k * h, count: h)
                    }
                }
            }
            start = end
        }
        return out
    }

    /// Tokenises and embeds any number of texts; see `embedAll(_:batchSize:)`.
    public func embedAll(_ texts: [String], batchSize: Int = 32, normalize: Bool = true, threads: Int = 1,
                         stop: () -> Bool = { false }) -> (vectors: Matrix, truncated: Int) {
        let encodings = texts.map(encode)
        return (embedAll(encodings, batchSize: batchSize, normalize: normalize, threads: threads, stop: stop),
                encodings.filter(\.truncated).count)
    }
}
