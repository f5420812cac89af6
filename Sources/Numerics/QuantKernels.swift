#if RANKSMITH_AVX2
import _Builtin_intrinsics.intel
#endif

// MARK: - Fast quantised kernels
//
// Two strategies, chosen per type by `QuantTraits.usesQ8Activations`:
//  * Q4_0 / Q4_1 / Q8_0 weights: activations are quantised to Q8 blocks of
//    32 once per product, and each block pair is an integer dot product
//    (AVX2 `maddubs`/`madd`, as llama.cpp does), scaled by `d_w · d_x`.
//    One weight block is unpacked once and multiplied with up to four
//    activation rows, so batched rows share every weight load.
//  * every other type: a weight row is decoded to Float on the stack, then
//    SIMD dot products with each activation row.
// The reference for all of them is `QuantMatmul.multiplyReference`.

/// Kernels behind `QuantMatmul` and `QuantizedMatrix`.
public enum QuantKernels {
    // MARK: Activation quantisation

    /// Q8 blocks of 32 from `x (count)`: `q = round(x / d)`, `d = max|x| / 127`,
    /// `sums = d · Σq` (the Q8_1 extra, used by Q4_1 weights).
    public static func quantizeQ8(
        _ x: UnsafePointer<Float>, count: Int,
        qs: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>
    ) {
        #if RANKSMITH_AVX2
        quantizeQ8AVX2(x, count: count, qs: qs, scales: scales, sums: sums)
        #else
        quantizeQ8Portable(x, count: count, qs: qs, scales: scales, sums: sums)
        #endif
    }

    /// The portable version of `quantizeQ8` (rounding half away from zero).
    public static func quantizeQ8Portable(
        _ x: UnsafePointer<Float>, count: Int,
        qs: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>
    ) {
        for b in 0..<(count / 32) {
            let p = x + 32 * b
            let v0 = load(p), v1 = load(p + 8), v2 = load(p + 16), v3 = load(p + 24)
            let m = pointwiseMax(pointwiseMax(abs8(v0), abs8(v1)), pointwiseMax(abs8(v2), abs8(v3))).max()
            let d = Float(Float16(m / 127))
            let id: Float = m != 0 ? 127 / m : 0
            let q = qs + 32 * b
            var total = SIMD8<Int32>(repeating: 0)
            @inline(__always) func put(_ v: SIMD8<Float>, _ k: Int) {
                let r = SIMD8<Int32>((v * id).rounded(.toNearestOrAwayFromZero))
                total &+= r
                UnsafeMutableRawPointer(q + 8 * k).storeBytes(of: SIMD8<Int8>(truncatingIfNeeded: r), as: SIMD8<Int8>.self)
            }
            put(v0, 0); put(v1, 1); put(v2, 2); put(v3, 3)
            scales[b] = d
            sums[b] = Float(Float16(m / 127 * Float(total.wrappedSum())))
        }
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always) static func abs8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        v.replacing(with: -v, where: v .< 0)
    }

    // MARK: Row decoding

    /// Decodes `count` values of `type` at `src` into `out`; the block-sized
    /// types go block by block, the float types element-wise.
    public static func dequantizeRow(_ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32:
            UnsafeMutableRawPointer(out).copyMemory(from: src, byteCount: count * 4)
        case .f16:
            for i in 0..<count { out[i] = loadF16(src, 2 * i) }
        case .bf16:
            for i in 0..<count { out[i] = Half.bf16ToFloat(loadU16(src, 2 * i)) }
        case .q4_1:
            for b in 0..<(count / 32) {
                let p = src + 20 * b
                let d = SIMD16<Float>(repeating: loadF16(p, 0)), m = SIMD16<Float>(repeating: loadF16(p, 2))
                let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
                let lo = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q & 0x0F))
                let hi = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q &>> 4))
                UnsafeMutableRawPointer(out + 32 * b).storeBytes(of: lo * d + m, as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(out + 32 * b + 16).storeBytes(of: hi * d + m, as: SIMD16<Float>.self)
            }
        default:
            let t = type.traits
            for b in 0..<(count / t.blockSize) {
                QuantReference.dequantizeBlock(type, src + b * t.bytesPerBlock, out + b * t.blockSize)
            }
        }
    }

    // MARK: Products over a range of weight rows

    /// `y[i, r] = x_i · w_r` for `r` in `rowRange` and every prepared row `i`.
    static func multiplyRows(
        _ w: QuantizedMatrix, _ acts: QuantizedActivations, rowRange: Range<Int>,
        y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        let n = acts.rows
        #if RANKSMITH_AVX2
        if w.type.traits.usesQ8Activations && acts.hasQ8 {
            // One specialised loop per (type, rows-at-once): the switches are
            // resolved here, outside the block loop.
            switch w.type {
            case .q4_0: rowsQ8(.q4_0, w, acts, rowRange, y, ldy)
            case .q4_1: rowsQ8(.q4_1, w, acts, rowRange, y, ldy)
            default: rowsQ8(.q8_0, w, acts, rowRange, y, ldy)
            }
            return
        }
        #endif
        guard let x = acts.floats else { return }
        let cols = w.cols
        if w.type == .f32 {
            for r in rowRange {
                let row = (w.data + r * w.rowBytes).assumingMemoryBound(to: Float.self)
                for i in 0..<n { y[i * ldy + r] = Kernels.dot(row, x + i * cols, cols) }
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { buf in
            let scratch = buf.baseAddress!
            for r in rowRange {
                dequantizeRow(w.type, w.data + r * w.rowBytes, count: cols, into: scratch)
                for i in 0..<n { y[i * ldy + r] = Kernels.dot(scratch, x + i * cols, cols) }
            }
        }
    }

    #if RANKSMITH_AVX2
    // MARK: AVX2 integer dot products

    @inline(__always)
    static func rowsQ8(
        _ type: GGMLType, _ w: QuantizedMatrix, _ acts: QuantizedActivations, _ rowRange: Range<Int>,
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int
    ) {
        let nb = w.cols / 32, n = acts.rows
        withUnsafeTemporaryAllocation(of: Float.self, capacity: nb) { mins in
            let m = mins.baseAddress!
            for r in rowRange {
                let row = w.data + r * w.rowBytes
                var i = 0
                while i + 4 <= n {
                    dotQ8Family(type, row, blocks: nb, acts: acts, firstRow: i, count: 4, y: y + i * ldy + r, ldy: ldy, mins: m)
                    i += 4
                }
                while i < n {
                    dotQ8Family(type, row, blocks: nb, acts: acts, firstRow: i, count: 1, y: y + i * ldy + r, ldy: ldy, mins: m)
                    i += 1
                }
            }
        }
    }

    /// Dots one weight row of Q4_0/Q4_1/Q8_0 blocks with `count` (1 or 4)
    /// consecutive Q8 activation rows; results go to `y[j · ldy]`.
    ///
    /// Per block: the weight codes are unpacked once; per activation row,
    /// `maddubs` (u8 × i8 pairs) and `madd` give 8 int32 partial sums, which
    /// are scaled by the activation's pre-broadcast `d_x` and accumulated
    /// with the weight's `d_w`. Q4_0 and Q4_1 use the codes unsigned
    /// (0…15) and add `m · Σx` per block (Q4_0: m = −8·d_w), so only Q8_0
    /// needs the sign trick (`|w| · sign(x, w)`).
    @inline(__always)
    static func dotQ8Family(
        _ type: GGMLType, _ row: UnsafeRawPointer, blocks nb: Int,
        acts: QuantizedActivations, firstRow: Int, count: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, mins: UnsafeMutablePointer<Float>
    ) {
        let cols = acts.cols
        let nbRow = cols / 32
        let aq = acts.qs + firstRow * cols
        let ad8 = acts.scales8 + firstRow * nbRow
        let asum = acts.sums + firstRow * nbRow
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
        var acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps()
        let mask = _mm256_set1_epi8(0x0F)
        let ones = _mm256_set1_epi16(1)
        let bpb = type == .q4_1 ? 20 : type == .q4_0 ? 18 : 34
        let unsigned = type != .q8_0

        @inline(__always) func products(_ wAbs: __m256i, _ wSigned: __m256i, _ a: UnsafePointer<Int8>, _ d8: UnsafePointer<SIMD8<Float>>) -> __m256 {
            let x = _mm256_loadu_si256(UnsafeRawPointer(a).assumingMemoryBound(to: __m256i.self))
            let p16 = unsigned
                ? _mm256_maddubs_epi16(wAbs, x)
                : _mm256_maddubs_epi16(wAbs, _mm256_sign_epi8(x, wSigned))
            let dx = d8.pointee
            return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones)), dx)
        }

        for b in 0..<nb {
            let p = row + b * bpb
            // d (and m for Q4_1) are the block's first halves: convert both with F16C.
            let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(Int32(bitPattern: p.loadUnaligned(as: UInt32.self))))
            let d = _mm_cvtss_f32(dm)
            let dw = _mm256_set1_ps(d)
            var wq: __m256i
            var m: Float = 0
            switch type {
            case .q8_0:
                wq = _mm256_loadu_si256((p + 2).assumingMemoryBound(to: __m256i.self))
            case .q4_0:
                m = -8 * d
                let raw = _mm_loadu_si128((p + 2).assumingMemoryBound(to: __m128i.self))
                wq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), mask)
            default:  // .q4_1
                m = _mm_cvtss_f32(_mm_movehdup_ps(dm))
                let raw = _mm_loadu_si128((p + 4).assumingMemoryBound(to: __m128i.self))
                wq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), mask)
            }
            let wAbs = unsigned ? wq : _mm256_sign_epi8(wq, wq)
            let o = 32 * b
            if unsigned { mins[b] = m }  // the m·Σx terms are one dot product per row, after the loop
            acc0 = _mm256_fmadd_ps(products(wAbs, wq, aq + o, ad8 + b), dw, acc0)
            if count == 4 {
                acc1 = _mm256_fmadd_ps(products(wAbs, wq, aq + cols + o, ad8 + nbRow + b), dw, acc1)
                acc2 = _mm256_fmadd_ps(products(wAbs, wq, aq + 2 * cols + o, ad8 + 2 * nbRow + b), dw, acc2)
                acc3 = _mm256_fmadd_ps(products(wAbs, wq, aq + 3 * cols + o, ad8 + 3 * nbRow + b), dw, acc3)
            }
        }
        @inline(__always) func minTerm(_ j: Int) -> Float {
            unsigned ? Kernels.dot(mins, asum + j * nbRow, nb) : 0
        }
        y[0] = hsum(acc0) + minTerm(0)
        if count == 4 {
            y[ldy] = hsum(acc1) + minTerm(1)
            y[2 * ldy] = hsum(acc2) + minTerm(2)
            y[3 * ldy] = hsum(acc3) + minTerm(3)
        }
    }

    /// `quantizeQ8` with AVX2 (rounding half to even, as llama.cpp's AVX path).
    static func quantizeQ8AVX2(
        _ x: UnsafePointer<Float>, count: Int,
        qs: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>
    ) {
        let signBit = _mm256_set1_ps(-0.0)
        let perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)
        let ones = _mm256_set1_epi16(1)
        for b in 0..<(count / 32) {
            let p = x + 32 * b
            let v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8)
            let v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24)
            var m = _mm256_max_ps(_mm256_andnot_ps(signBit, v0), _mm256_andnot_ps(signBit, v1))
            m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(signBit, v2), _mm256_andnot_ps(signBit, v3)))
            let amax = m.max()
            // Scales are stored as f16 in llama.cpp's Q8 blocks; round them the same way.
            let d = Float(Float16(amax / 127))
            let id = _mm256_set1_ps(d != 0 ? 127 / amax : 0)
            let i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id))
            let i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id))
            let s16 = _mm256_packs_epi32(i0, i1), t16 = _mm256_packs_epi32(i2, i3)
            let total = _mm256_madd_epi16(_mm256_add_epi16(s16, t16), ones)
            let packed = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(s16, t16), perm)
            _mm256_storeu_si256(UnsafeMutableRawPointer(qs + 32 * b).assumingMemoryBound(to: __m256i.self), packed)
            scales[b] = d
            sums[b] = Float(Float16(amax / 127 * Float(unsafeBitCast(total, to: SIMD8<Int32>.self).wrappedSum())))
        }
    }

    @inline(__always) static func hsum(_ v: __m256) -> Float {
        v.sum()
    }
    #endif
}
