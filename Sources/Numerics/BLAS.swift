import CBLAS

// MARK: - OpenBLAS

/// Thin wrappers over OpenBLAS's CBLAS interface. Every matrix product in
/// Ranksmith goes through `sgemm`, so the thread count set here governs them
/// all.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses for one call (≥ 1).
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// `C = alpha · op(A) · op(B) + beta · C`, all row-major.
    ///
    /// `op(A)` is `m × k`, `op(B)` is `k × n`, `C` is `m × n`; `lda`, `ldb`,
    /// `ldc` are the row strides of the matrices as stored.
    @inlinable
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor,
            transA ? CblasTrans : CblasNoTrans,
            transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }

    /// `y = alpha · op(A) · x + beta · y`, A row-major `m × n` as stored.
    @inlinable
    public static func sgemv(
        trans: Bool = false, m: Int, n: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0,
        y: UnsafeMutablePointer<Float>
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemv(
            CblasRowMajor, trans ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
}

// MARK: - Matrix products

extension Matrix {
    /// `a (M, K) · b (K, N) → (M, N)`, or with `transposeB`,
    /// `a (M, K) · bᵀ where b is (N, K)` — the layout of PyTorch linear weights.
    public static func multiply(_ a: Matrix, _ b: Matrix, transposeB: Bool = false) -> Matrix {
        let n = transposeB ? b.rows : b.cols
        let k = a.cols
        precondition((transposeB ? b.cols : b.rows) == k, "shape mismatch in multiply")
        var c = Matrix(rows: a.rows, cols: n)
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                c.data.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(
                        transB: transposeB, m: a.rows, n: n, k: k,
                        a: pa.baseAddress!, lda: a.cols,
                        b: pb.baseAddress!, ldb: b.cols,
                        c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }

    /// The naive triple loop, the reference `multiply` is tested against.
    public static func multiplyNaive(_ a: Matrix, _ b: Matrix, transposeB: Bool = false) -> Matrix {
        let n = transposeB ? b.rows : b.cols
        var c = Matrix(rows: a.rows, cols: n)
        for i in 0..<a.rows {
            for j in 0..<n {
                var s: Double = 0
                for p in 0..<a.cols {
                    s += Double(a[i, p]) * Double(transposeB ? b[j, p] : b[p, j])
                }
                c[i, j] = Float(s)
            }
        }
        return c
    }
}
