#if RANKSMITH_AVX2
import _Builtin_intrinsics.intel
#endif

// MARK: - Fast quantised kernels
//
// Two strategies, chosen per type by `QuantTraits.usesQ8Activations`:
//  * Q4_0 / Q4_1 / Q8_0 and the K-quants Q4_K / Q5_K / Q6_K: activations
//    are quantised to Q8 blocks of 32 once per product, and each block pair
//    is an integer dot product (AVX2 `maddubs`/`madd`, as llama.cpp does),
//    scaled by `d_w · d_x`. A K-quant super-block of 256 is read as 8 such
//    blocks, each with its own scale (two for Q6_K, whose scales cover 16).
//    One weight block is unpacked once and multiplied with a tile of 8, 4
//    or 1 activation rows (packed so a tile reads one contiguous run), so
//    batched rows share every weight load and unpack.
//  * every other type (F16, BF16, F32), and every type without AVX2: a
//    weight row is decoded to Float on the stack (SIMD decoders), then SIMD
//    dot products with each activation row.
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
            var i = 0
            while i + 8 <= count {
                let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)
                UnsafeMutableRawPointer(out + i).storeBytes(of: SIMD8<Float>(unsafeBitCast(h, to: SIMD8<Float16>.self)), as: SIMD8<Float>.self)
                i += 8
            }
            while i < count { out[i] = loadF16(src, 2 * i); i += 1 }
        case .bf16:
            var i = 0
            while i + 8 <= count {
                let h = SIMD8<UInt32>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self))
                UnsafeMutableRawPointer(out + i).storeBytes(of: unsafeBitCast(h &<< 16, to: SIMD8<Float>.self), as: SIMD8<Float>.self)
                i += 8
            }
            while i < count { out[i] = Half.bf16ToFloat(loadU16(src, 2 * i)); i += 1 }
        case .q4_1:
            for b in 0..<(count / 32) {
                let p = src + 20 * b
                let d = SIMD16<Float>(repeating: loadF16(p, 0)), m = SIMD16<Float>(repeating: loadF16(p, 2))
                let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
                store(d * floats(q & 0x0F) + m, out + 32 * b)
                store(d * floats(q &>> 4) + m, out + 32 * b + 16)
            }
        case .q4_0, .q8_0:
            // The compiler vectorises the reference decoders of these two as well as a hand-written loop.
            let t = type.traits
            for b in 0..<(count / t.blockSize) {
                QuantReference.dequantizeBlock(type, src + b * t.bytesPerBlock, out + b * t.blockSize)
            }
        case .q4_K, .q5_K:
            let five = type == .q5_K
            let bpb = five ? 176 : 144
            for b in 0..<(count / 256) {
                let p = src + bpb * b
                let d = loadF16(p, 0), dmin = loadF16(p, 2)
                let scales = p.assumingMemoryBound(to: UInt8.self) + 4
                let qh = scales + 12
                let ql = five ? qh + 32 : scales + 12
                let y = out + 256 * b
                for chunk in 0..<4 {
                    let (sc1, m1) = QuantReference.scaleMinK4(2 * chunk, scales)
                    let (sc2, m2) = QuantReference.scaleMinK4(2 * chunk + 1, scales)
                    let d1 = SIMD16<Float>(repeating: d * Float(sc1)), mm1 = SIMD16<Float>(repeating: dmin * Float(m1))
                    let d2 = SIMD16<Float>(repeating: d * Float(sc2)), mm2 = SIMD16<Float>(repeating: dmin * Float(m2))
                    for half in 0..<2 {
                        let l = 16 * half
                        let q = UnsafeRawPointer(ql + 32 * chunk + l).loadUnaligned(as: SIMD16<UInt8>.self)
                        var lo = q & 0x0F, hi = q &>> 4
                        if five {
                            let h = UnsafeRawPointer(qh + l).loadUnaligned(as: SIMD16<UInt8>.self)
                            lo |= ((h &>> UInt8(2 * chunk)) & 1) &<< 4
                            hi |= ((h &>> UInt8(2 * chunk + 1)) & 1) &<< 4
                        }
                        store(d1 * floats(lo) - mm1, y + 64 * chunk + l)
                        store(d2 * floats(hi) - mm2, y + 64 * chunk + 32 + l)
                    }
                }
            }
        case .q6_K:
            for b in 0..<(count / 256) {
                let p = src + 210 * b
                let d = loadF16(p, 208)
                let sc = (p + 192).assumingMemoryBound(to: Int8.self)
                let y = out + 256 * b
                for half in 0..<2 {
                    let l0 = p + 64 * half, h0 = p + 128 + 32 * half
                    for part in 0..<2 {
                        let l = 16 * part
                        let a = l0.loadUnaligned(fromByteOffset: l, as: SIMD16<UInt8>.self)
                        let c = l0.loadUnaligned(fromByteOffset: l + 32, as: SIMD16<UInt8>.self)
                        let h = h0.loadUnaligned(fromByteOffset: l, as: SIMD16<UInt8>.self)
                        @inline(__always) func put(_ q: SIMD16<UInt8>, _ k: Int) {
                            let scale = SIMD16<Float>(repeating: d * Float(sc[8 * half + part + 2 * k]))
                            store(scale * floats(q, minus: 32), y + 128 * half + 32 * k + l)
                        }
                        put((a & 0x0F) | (h & 3) &<< 4, 0)
                        put((c & 0x0F) | ((h &>> 2) & 3) &<< 4, 1)
                        put((a &>> 4) | ((h &>> 4) & 3) &<< 4, 2)
                        put((c &>> 4) | ((h &>> 6) & 3) &<< 4, 3)
                    }
                }
            }
        }
    }

    /// `Float(q − offset)` lane-wise.
    @inline(__always)
    static func floats(_ q: SIMD16<UInt8>, minus offset: Int32 = 0) -> SIMD16<Float> {
        SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q) &- offset)
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
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
            case .q4_0: rowsQ8(Q4_0Weights.self, w, acts, rowRange, y, ldy)
            case .q4_1: rowsQ8(Q4_1Weights.self, w, acts, rowRange, y, ldy)
            case .q4_K: rowsQ8(Q4_KWeights.self, w, acts, rowRange, y, ldy)
            case .q5_K: rowsQ8(Q5_KWeights.self, w, acts, rowRange, y, ldy)
            case .q6_K: rowsQ8(Q6_KWeights.self, w, acts, rowRange, y, ldy)
            default: rowsQ8(Q8_0Weights.self, w, acts, rowRange, y, ldy)
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

    /// `y[i, r] = x_i · w_r` over `rowRange` for Q4_0/Q4_1/Q8_0 weights and
    /// the prepared Q8 activations, in tiles of 8, 4 and 1 activation rows.
    @inline(__always)
    static func rowsQ8<W: Q8DotWeights>(
        _ format: W.Type, _ w: QuantizedMatrix, _ acts: QuantizedActivations, _ rowRange: Range<Int>,
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int
    ) {
        let nb = w.cols / 32, n = acts.rows
        for r in rowRange {
            let row = w.data + r * w.rowBytes
            var i = 0
            while i + 8 <= n {
                tile8(W.self, row, blocks: nb, acts.packedRow(i), y + i * ldy + r, ldy)
                i += 8
            }
            if i + 4 <= n {
                tile4(W.self, row, blocks: nb, acts.packedRow(i), y + i * ldy + r, ldy)
                i += 4
            }
            while i < n {
                tile1(W.self, row, blocks: nb, acts.packedRow(i), y + i * ldy + r)
                i += 1
            }
        }
    }

    // One row's arithmetic, the same in every tile size so that a row's
    // result does not depend on how many rows share the product:
    //   acc += (Σ_pairs w·x as Float) · d_x · d_w      (8 lanes, per block)
    //   minAcc = fma(m_w, d_x·Σx, minAcc)                (Q4 formats, per block)
    //   y = Σ lanes(acc) + minAcc

    /// `(Σ w·x per lane pair-sums as Float) · d_x` for one 32-code block.
    @inline(__always)
    static func blockProducts<W: Q8DotWeights>(_: W.Type, _ codes: __m256i, _ x: UnsafePointer<Int8>, _ dx: UnsafePointer<Float>) -> __m256 {
        let xv = _mm256_loadu_si256(UnsafeRawPointer(x).assumingMemoryBound(to: __m256i.self))
        let p16 = W.isUnsigned
            ? _mm256_maddubs_epi16(codes, xv)
            : _mm256_maddubs_epi16(_mm256_sign_epi8(codes, codes), _mm256_sign_epi8(xv, codes))
        let p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1))
        return _mm256_mul_ps(_mm256_cvtepi32_ps(p32), _mm256_broadcast_ss(dx))
    }

    // tile8, tile4 and tile1 are written out rather than one function
    // generic over the row count: an `InlineArray` of accumulators with
    // scalar offset sums measured 5 % slower at decoding 8 CFG pairs.

    /// Dots one weight row with 8 packed activation rows (a whole group).
    @inline(__always)
    static func tile8<W: Q8DotWeights>(
        _: W.Type, _ row: UnsafeRawPointer, blocks nb: Int,
        _ a: (qs: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>),
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int
    ) {
        let g = QuantizedActivations.group
        var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps()
        var a4 = _mm256_setzero_ps(), a5 = _mm256_setzero_ps(), a6 = _mm256_setzero_ps(), a7 = _mm256_setzero_ps()
        var mins = _mm256_setzero_ps()
        for b in 0..<nb {
            let (codes, dw, m) = W.unpack(row, block: b)
            let x = a.qs + b * g * 32, s = a.scales + b * g
            a0 = _mm256_fmadd_ps(blockProducts(W.self, codes, x, s), dw, a0)
            a1 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 32, s + 1), dw, a1)
            a2 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 64, s + 2), dw, a2)
            a3 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 96, s + 3), dw, a3)
            a4 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 128, s + 4), dw, a4)
            a5 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 160, s + 5), dw, a5)
            a6 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 192, s + 6), dw, a6)
            a7 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 224, s + 7), dw, a7)
            if W.isUnsigned { mins = _mm256_fmadd_ps(_mm256_set1_ps(m), _mm256_loadu_ps(a.sums + b * g), mins) }
        }
        let m: SIMD8<Float> = mins
        y[0] = hsum(a0) + m[0]; y[ldy] = hsum(a1) + m[1]
        y[2 * ldy] = hsum(a2) + m[2]; y[3 * ldy] = hsum(a3) + m[3]
        y[4 * ldy] = hsum(a4) + m[4]; y[5 * ldy] = hsum(a5) + m[5]
        y[6 * ldy] = hsum(a6) + m[6]; y[7 * ldy] = hsum(a7) + m[7]
    }

    /// Dots one weight row with 4 packed activation rows of one group.
    @inline(__always)
    static func tile4<W: Q8DotWeights>(
        _: W.Type, _ row: UnsafeRawPointer, blocks nb: Int,
        _ a: (qs: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>),
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int
    ) {
        let g = QuantizedActivations.group
        var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps()
        var mins = _mm_setzero_ps()
        for b in 0..<nb {
            let (codes, dw, m) = W.unpack(row, block: b)
            let x = a.qs + b * g * 32, s = a.scales + b * g
            a0 = _mm256_fmadd_ps(blockProducts(W.self, codes, x, s), dw, a0)
            a1 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 32, s + 1), dw, a1)
            a2 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 64, s + 2), dw, a2)
            a3 = _mm256_fmadd_ps(blockProducts(W.self, codes, x + 96, s + 3), dw, a3)
            if W.isUnsigned { mins = _mm_fmadd_ps(_mm_set1_ps(m), _mm_loadu_ps(a.sums + b * g), mins) }
        }
        let m: SIMD4<Float> = mins
        y[0] = hsum(a0) + m[0]; y[ldy] = hsum(a1) + m[1]
        y[2 * ldy] = hsum(a2) + m[2]; y[3 * ldy] = hsum(a3) + m[3]
    }

    /// Dots one weight row with one packed activation row.
    @inline(__always)
    static func tile1<W: Q8DotWeights>(
        _: W.Type, _ row: UnsafeRawPointer, blocks nb: Int,
        _ a: (qs: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>),
        _ y: UnsafeMutablePointer<Float>
    ) {
        let g = QuantizedActivations.group
        var a0 = _mm256_setzero_ps()
        var mins: Float = 0
        for b in 0..<nb {
            let (codes, dw, m) = W.unpack(row, block: b)
            a0 = _mm256_fmadd_ps(blockProducts(W.self, codes, a.qs + b * g * 32, a.scales + b * g), dw, a0)
            if W.isUnsigned { mins = mins.addingProduct(m, a.sums[b * g]) }
        }
        y[0] = hsum(a0) + mins
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

#if RANKSMITH_AVX2
// MARK: - Weight block formats of the integer kernels

/// A weight format whose rows are read as blocks of 32 codes that meet Q8
/// activations in `maddubs`.
protocol Q8DotWeights {
    /// Codes are unsigned (0…15 or 0…31) with an offset `m` per block (Q4_0,
    /// Q4_1, Q4_K, Q5_K), so the block dot is `d·Σcode·x + m·Σx`; otherwise
    /// signed codes (Q8_0, Q6_K) and m = 0.
    static var isUnsigned: Bool { get }
    /// Block `block` (of 32 weights) of the row at `row`: its codes, the
    /// scale of each of the 8 lanes of the `madd` sums (lane k sums codes
    /// 4k…4k+3, so formats with a scale per 16 codes give lanes 0–3 and 4–7
    /// their own), and its offset `m`.
    static func unpack(_ row: UnsafeRawPointer, block: Int) -> (codes: __m256i, d: __m256, m: Float)
}

/// Two f16 values at `p` (d, then m) as Floats.
@inline(__always)
private func halves(_ p: UnsafeRawPointer) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128(Int32(bitPattern: p.loadUnaligned(as: UInt32.self))))
}

/// 16 bytes of packed nibbles → 32 codes: low nibbles first, then high.
@inline(__always)
private func nibbles(_ p: UnsafeRawPointer) -> __m256i {
    let raw = _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F))
}

/// Q4_0: f16 d, 16 bytes of nibbles; value = d·(code − 8).
enum Q4_0Weights: Q8DotWeights {
    static var isUnsigned: Bool { true }
    @inline(__always) static func unpack(_ row: UnsafeRawPointer, block: Int) -> (codes: __m256i, d: __m256, m: Float) {
        let p = row + 18 * block
        let d = Float(p.loadUnaligned(as: Float16.self))
        return (nibbles(p + 2), _mm256_set1_ps(d), -8 * d)
    }
}

/// Q4_1: f16 d, f16 m, 16 bytes of nibbles; value = d·code + m.
enum Q4_1Weights: Q8DotWeights {
    static var isUnsigned: Bool { true }
    @inline(__always) static func unpack(_ row: UnsafeRawPointer, block: Int) -> (codes: __m256i, d: __m256, m: Float) {
        let p = row + 20 * block
        let dm = halves(p)
        return (nibbles(p + 4), _mm256_broadcastss_ps(dm), _mm_cvtss_f32(_mm_movehdup_ps(dm)))
    }
}

/// Q8_0: f16 d, 32 signed bytes; value = d·code.
enum Q8_0Weights: Q8DotWeights {
    static var isUnsigned: Bool { false }
    @inline(__always) static func unpack(_ row: UnsafeRawPointer, block: Int) -> (codes: __m256i, d: __m256, m: Float) {
        let p = row + 34 * block
        return (_mm256_loadu_si256((p + 2).assumingMemoryBound(to: __m256i.self)),
                _mm256_set1_ps(Float(p.loadUnaligned(as: Float16.self))), 0)
    }
}

/// 32 bytes at `p`: their low nibbles when `high` is false, else their high ones.
@inline(__always)
private func nibbleHalf(_ p: UnsafeRawPointer, high: Bool) -> __m256i {
    let raw = _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self))
    return _mm256_and_si256(high ? _mm256_srli_epi16(raw, 4) : raw, _mm256_set1_epi8(0x0F))
}

/// Q4_K super-blocks of 256 (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit
/// scales and mins, 128 bytes of nibbles. Block j (of 8) is the low (even j)
/// or high (odd j) nibbles of bytes 32·(j/2)…; value = d·sc_j·code − dmin·m_j.
enum Q4_KWeights: Q8DotWeights {
    static var isUnsigned: Bool { true }
    @inline(__always) static func unpack(_ row: UnsafeRawPointer, block: Int) -> (codes: __m256i, d: __m256, m: Float) {
        let p = row + 144 * (block >> 3), j = block & 7
        let dm = halves(p)
        let (sc, mn) = QuantReference.scaleMinK4(j, (p + 4).assumingMemoryBound(to: UInt8.self))
        let codes = nibbleHalf(p + 16 + 32 * (j >> 1), high: j & 1 == 1)
        return (codes, _mm256_set1_ps(_mm_cvtss_f32(dm) * Float(sc)), -_mm_cvtss_f32(_mm_movehdup_ps(dm)) * Float(mn))
    }
}

/// Q5_K super-blocks of 256 (176 bytes): as Q4_K with 32 bytes of fifth
/// bits (qh) before the nibbles; bit j of qh[l] is code l's fifth bit in block j.
enum Q5_KWeights: Q8DotWeights {
    static var isUnsigned: Bool { true }
    @inline(__always) static func unpack(_ row: UnsafeRawPointer, block: Int) -> (codes: __m256i, d: __m256, m: Float) {
        let p = row + 176 * (block >> 3), j = block & 7
        let dm = halves(p)
        let (sc, mn) = QuantReference.scaleMinK4(j, (p + 4).assumingMemoryBound(to: UInt8.self))
        let low = nibbleHalf(p + 48 + 32 * (j >> 1), high: j & 1 == 1)
        let qh = _mm256_loadu_si256((p + 16).assumingMemoryBound(to: __m256i.self))
        let bit = _mm256_set1_epi8(Int8(truncatingIfNeeded: 1 << j))
        let fifth = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), _mm256_set1_epi8(0x10))
        return (_mm256_or_si256(low, fifth), _mm256_set1_ps(_mm_cvtss_f32(dm) * Float(sc)),
                -_mm_cvtss_f32(_mm_movehdup_ps(dm)) * Float(mn))
    }
}

/// Q6_K super-blocks of 256 (210 bytes): 128 bytes of low nibbles (ql), 64
/// of 2-bit high parts (qh), 16 int8 scales (one per 16 values), f16 d.
/// Block b lies in half h = b/4 as k = b mod 4: low (k < 2) or high nibbles
/// of ql[64h + 32·(k mod 2) …], high bits 2k…2k+1 of qh[32h …]; value =
/// d·sc·(code − 32) with sc[8h + 2k] for its first 16 codes and sc[8h + 2k + 1]
/// for the rest.
enum Q6_KWeights: Q8DotWeights {
    static var isUnsigned: Bool { false }
    @inline(__always) static func unpack(_ row: UnsafeRawPointer, block: Int) -> (codes: __m256i, d: __m256, m: Float) {
        let p = row + 210 * (block >> 3), b = block & 7
        let h = b >> 2, k = b & 3
        let low = nibbleHalf(p + 64 * h + 32 * (k & 1), high: k >= 2)
        let qh = _mm256_loadu_si256((p + 128 + 32 * h).assumingMemoryBound(to: __m256i.self))
        let high = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(Int32(2 * k))), _mm256_set1_epi8(3))
        let codes = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), _mm256_set1_epi8(32))
        let d = Float(p.loadUnaligned(fromByteOffset: 208, as: Float16.self))
        let sc = (p + 192).assumingMemoryBound(to: Int8.self) + 8 * h + 2 * k
        let first = _mm_set1_ps(d * Float(sc[0])), second = _mm_set1_ps(d * Float(sc[1]))
        return (codes, _mm256_set_m128(second, first), 0)
    }
}
#endif
