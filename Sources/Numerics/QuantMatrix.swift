import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Quantised matrices
//
// A weight matrix stored in one of the GGML block formats, read in place
// (typically from a memory-mapped GGUF file), and the products
// `y (n, rows) = x (n, cols) · Wᵀ` over it. Each weight row is one output
// feature, as in ggml (`ne0 = cols` is the fast dimension).

/// A view of a row-major quantised matrix `(rows, cols)`; the bytes belong
/// to someone else (a mapped file or an array kept alive by the owner).
public struct QuantizedMatrix: @unchecked Sendable {
    /// Element type of the stored blocks.
    public let type: GGMLType
    /// Output features.
    public let rows: Int
    /// Input features (a whole number of blocks).
    public let cols: Int
    /// Start of row 0.
    public let data: UnsafeRawPointer
    /// Bytes per row.
    public let rowBytes: Int

    /// A view of `rows × cols` values of `type` starting at `data`. The
    /// caller guarantees `rows · rowBytes` readable bytes; `cols` must be a
    /// multiple of the type's block size (checked by the GGUF reader).
    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer) {
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
        self.rowBytes = type.rowBytes(count: cols) ?? 0
    }

    /// Decodes row `r` into `out (cols)` with the fast per-block decoders.
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        QuantKernels.dequantizeRow(type, data + r * rowBytes, count: cols, into: out)
    }

    /// Decodes the whole matrix with the reference decoder (tests, small tensors).
    public func dequantizedReference() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        out.withUnsafeMutableBufferPointer { QuantReference.dequantize(type, data, count: rows * cols, into: $0.baseAddress!) }
        return out
    }
}

// MARK: - Activations

/// Activations prepared for a product with quantised weights: the Float
/// rows themselves and, when `cols` is a multiple of 32, their Q8 blocks
/// (per 32 values: int8 codes, a Float scale `d` and `d·Σq`), as llama.cpp's
/// Q8_0/Q8_1 activation formats. Allocated once; `prepare` allocates nothing.
public final class QuantizedActivations: @unchecked Sendable {
    /// Largest row count `prepare` accepts.
    public let maxRows: Int
    /// Values per row.
    public let cols: Int
    /// Rows currently held.
    public private(set) var rows = 0
    /// The Float rows last prepared (borrowed; valid until the caller changes them).
    public private(set) var floats: UnsafePointer<Float>?
    // The Q8 blocks, packed for the batched kernels: rows in groups of
    // `QuantizedActivations.group`; within a group, block `b` of every row
    // lies together (`group` × 32 codes, then `group` scales and sums), so a
    // tile of rows reads one contiguous run per weight block.
    let packedQs: UnsafeMutablePointer<Int8>  // (groups, cols/32, group, 32)
    let packedScales: UnsafeMutablePointer<Float>  // (groups, cols/32, group)
    let packedSums: UnsafeMutablePointer<Float>  // (groups, cols/32, group)
    /// Rows per packed group.
    static let group = 8
    /// Whether the Q8 blocks were filled by the last `prepare`.
    public private(set) var hasQ8 = false

    /// Buffers for up to `maxRows` rows of `cols` values.
    public init(maxRows: Int, cols: Int) {
        self.maxRows = maxRows
        self.cols = cols
        let packedRows = (maxRows + Self.group - 1) / Self.group * Self.group
        packedQs = .allocate(capacity: max(1, packedRows * cols))
        packedScales = .allocate(capacity: max(1, packedRows * cols / 32))
        packedSums = .allocate(capacity: max(1, packedRows * cols / 32))
    }

    deinit {
        packedQs.deallocate(); packedScales.deallocate(); packedSums.deallocate()
    }

    /// Takes `x (rows, cols)`; quantises it to Q8 blocks when `q8` is true
    /// (needed by Q4_0/Q4_1/Q8_0 weights).
    public func prepare(_ x: UnsafePointer<Float>, rows: Int, q8: Bool) {
        precondition(rows <= maxRows, "QuantizedActivations: too many rows")
        self.rows = rows
        floats = x
        hasQ8 = q8 && cols % 32 == 0
        if hasQ8 {
            // Each block of 32 is quantised straight into its packed slot.
            let nb = cols / 32, g = Self.group
            for i in 0..<rows {
                let (grp, j) = i.quotientAndRemainder(dividingBy: g)
                for b in 0..<nb {
                    let slot = (grp * nb + b) * g + j
                    QuantKernels.quantizeQ8(x + i * cols + b * 32, count: 32, qs: packedQs + slot * 32,
                                            scales: packedScales + slot, sums: packedSums + slot)
                }
            }
        }
    }

    /// Where row `i`'s packed blocks start: codes, then scales and sums
    /// (each advancing `group` entries per block).
    @inline(__always)
    func packedRow(_ i: Int) -> (qs: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>) {
        let nb = cols / 32, g = Self.group
        let (grp, j) = i.quotientAndRemainder(dividingBy: g)
        let slot = grp * nb * g + j
        return (UnsafePointer(packedQs + slot * 32), UnsafePointer(packedScales + slot), UnsafePointer(packedSums + slot))
    }
}

// MARK: - Products

/// Threading for quantised matrix products.
public enum QuantMatmul {
    /// Threads a product may use (≥ 1); defaults to the online cores. Set
    /// once at start-up.
    nonisolated(unsafe) public static var threads: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// `y (n, w.rows) = x (n, w.cols) · wᵀ` where `x` was handed to
    /// `acts.prepare`; row `i` of `y` starts at `y + i · ldy`.
    public static func multiply(
        _ w: QuantizedMatrix, _ acts: QuantizedActivations,
        into y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        precondition(acts.cols == w.cols, "QuantMatmul: activation width \(acts.cols) ≠ weight cols \(w.cols)")
        let n = acts.rows
        let work = w.rows * w.cols * max(1, n)
        let parts = work < 65_536 ? 1 : min(threads, w.rows)
        if parts <= 1 {
            QuantKernels.multiplyRows(w, acts, rowRange: 0..<w.rows, y: y, ldy: ldy)
            return
        }
        let yy = UnsafeMutablePointer<Float>(y)
        ParallelRegions.shared.run(parts: parts) { p in
            // Rows split in multiples of 8 to keep neighbours' stores apart.
            let per = (w.rows + parts - 1) / parts
            let chunk = (per + 7) / 8 * 8
            let lo = min(w.rows, p * chunk), hi = min(w.rows, lo + chunk)
            if lo < hi { QuantKernels.multiplyRows(w, acts, rowRange: lo..<hi, y: yy, ldy: ldy) }
        }
    }

    /// Several products over the same activations in one parallel region
    /// (e.g. Q, K and V; gate and up), so threads are woken once:
    /// `y_j = x · w_jᵀ` for each job.
    public static func multiply(_ a: MatmulJob, _ b: MatmulJob, _ c: MatmulJob? = nil, acts: QuantizedActivations) {
        let total = a.w.rows + b.w.rows + (c?.w.rows ?? 0)
        let work = total * a.w.cols * max(1, acts.rows)
        let parts = work < 65_536 ? 1 : threads
        @inline(__always) func run(_ lo: Int, _ hi: Int) {
            @inline(__always) func segment(_ job: MatmulJob, _ base: Int) {
                let l = max(lo, base), h = min(hi, base + job.w.rows)
                if l < h { QuantKernels.multiplyRows(job.w, acts, rowRange: (l - base)..<(h - base), y: job.y, ldy: job.ldy) }
            }
            segment(a, 0)
            segment(b, a.w.rows)
            if let c { segment(c, a.w.rows + b.w.rows) }
        }
        if parts <= 1 { run(0, total); return }
        ParallelRegions.shared.run(parts: parts) { p in
            let chunk = ((total + parts - 1) / parts + 7) / 8 * 8
            run(min(total, p * chunk), min(total, (p + 1) * chunk))
        }
    }

    /// The reference product: reference-dequantised weights, Double sums.
    public static func multiplyReference(_ w: QuantizedMatrix, x: [Float], n: Int) -> [Float] {
        let wf = w.dequantizedReference()
        var y = [Float](repeating: 0, count: n * w.rows)
        for i in 0..<n {
            for r in 0..<w.rows {
                var s: Double = 0
                for c in 0..<w.cols { s += Double(wf[r * w.cols + c]) * Double(x[i * w.cols + c]) }
                y[i * w.rows + r] = Float(s)
            }
        }
        return y
    }
}

/// One product of a fused `QuantMatmul.multiply` call: `y (n, w.rows)` with row stride `ldy`.
public struct MatmulJob {
    /// The weights.
    public let w: QuantizedMatrix
    /// The output.
    public let y: UnsafeMutablePointer<Float>
    /// Row stride of `y`.
    public let ldy: Int

    /// A product writing `x · wᵀ` to `y`.
    public init(_ w: QuantizedMatrix, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        self.w = w
        self.y = y
        self.ldy = ldy
    }
}
