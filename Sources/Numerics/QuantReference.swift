// MARK: - Reference (de)quantisation
//
// Scalar, obviously-correct versions of every block format in
// QuantTypes.swift. The fast kernels in QuantKernels.swift are tested against
// `dequantize` here; `quantize` exists so tests can build blocks of every
// type from known values (it aims for a valid, reasonable encoding, not for
// llama.cpp's error-minimising search).

/// Reference dequantisers and quantisers for every `GGMLType`.
public enum QuantReference {
    /// Decodes `count` values (a whole number of blocks) of `type` from `src`.
    public static func dequantize(
        _ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let t = type.traits
        let blocks = count / t.blockSize
        for b in 0..<blocks {
            dequantizeBlock(type, src + b * t.bytesPerBlock, dst + b * t.blockSize)
        }
    }

    /// Convenience: decodes a whole byte array.
    public static func dequantize(_ type: GGMLType, bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dequantize(type, raw.baseAddress!, count: count, into: $0.baseAddress!) }
        }
        return out
    }

    /// Decodes one block of `type` into `type.traits.blockSize` floats.
    public static func dequantizeBlock(_ type: GGMLType, _ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32:
            y[0] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        case .f16:
            y[0] = loadF16(p, 0)
        case .bf16:
            y[0] = Half.bf16ToFloat(loadU16(p, 0))
        case .q4_0:
            let d = loadF16(p, 0)
            let q = p.assumingMemoryBound(to: UInt8.self) + 2
            for j in 0..<16 {
                y[j] = d * Float(Int(q[j] & 0x0F) - 8)
                y[j + 16] = d * Float(Int(q[j] >> 4) - 8)
            }
        case .q4_1:
            let d = loadF16(p, 0), m = loadF16(p, 2)
            let q = p.assumingMemoryBound(to: UInt8.self) + 4
            for j in 0..<16 {
                y[j] = d * Float(q[j] & 0x0F) + m
                y[j + 16] = d * Float(q[j] >> 4) + m
            }
        case .q8_0:
            let d = loadF16(p, 0)
            let q = (p + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 { y[j] = d * Float(q[j]) }
        case .q4_K, .q5_K:
            let d = loadF16(p, 0), dmin = loadF16(p, 2)
            let scales = p.assumingMemoryBound(to: UInt8.self) + 4
            let five = type == .q5_K
            let qh = scales + 12
            var ql = five ? qh + 32 : scales + 12
            for chunk in 0..<4 {
                let (sc1, m1) = scaleMinK4(2 * chunk, scales)
                let (sc2, m2) = scaleMinK4(2 * chunk + 1, scales)
                let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
                let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                let u1 = UInt8(1) << (2 * chunk), u2 = UInt8(2) << (2 * chunk)
                for l in 0..<32 {
                    let h1: Int = five && qh[l] & u1 != 0 ? 16 : 0
                    let h2: Int = five && qh[l] & u2 != 0 ? 16 : 0
                    y[64 * chunk + l] = d1 * Float(Int(ql[l] & 0x0F) + h1) - mm1
                    y[64 * chunk + 32 + l] = d2 * Float(Int(ql[l] >> 4) + h2) - mm2
                }
                ql += 32
            }
        case .q6_K:
            let ql = p.assumingMemoryBound(to: UInt8.self)
            let qh = ql + 128
            let sc = (p + 192).assumingMemoryBound(to: Int8.self)
            let d = loadF16(p, 208)
            for half in 0..<2 {
                let l0 = ql + 64 * half, h0 = qh + 32 * half
                let s0 = sc + 8 * half
                for l in 0..<32 {
                    let q1 = Int((l0[l] & 0x0F) | ((h0[l] >> 0) & 3) << 4) - 32
                    let q2 = Int((l0[l + 32] & 0x0F) | ((h0[l] >> 2) & 3) << 4) - 32
                    let q3 = Int((l0[l] >> 4) | ((h0[l] >> 4) & 3) << 4) - 32
                    let q4 = Int((l0[l + 32] >> 4) | ((h0[l] >> 6) & 3) << 4) - 32
                    let base = 128 * half + l, s = l / 16
                    y[base] = d * Float(s0[s]) * Float(q1)
                    y[base + 32] = d * Float(s0[s + 2]) * Float(q2)
                    y[base + 64] = d * Float(s0[s + 4]) * Float(q3)
                    y[base + 96] = d * Float(s0[s + 6]) * Float(q4)
                }
            }
        }
    }

    /// The 6-bit (scale, min) pair of sub-block `j` (0..<8) of a Q4_K/Q5_K block.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    // MARK: - Quantisers (for tests and synthetic files)

    /// Encodes `values` (a whole number of blocks) as `type`.
    public static func quantize(_ type: GGMLType, _ values: [Float]) -> [UInt8] {
        let t = type.traits
        precondition(values.count % t.blockSize == 0, "quantize: count must be a multiple of the block size")
        var out = [UInt8]()
        out.reserveCapacity(values.count / t.blockSize * t.bytesPerBlock)
        var i = 0
        while i < values.count {
            let block = Array(values[i..<(i + t.blockSize)])
            let before = out.count
            quantizeBlock(type, block, &out)
            assert(out.count - before == t.bytesPerBlock)
            i += t.blockSize
        }
        return out
    }

    private static func appendU16(_ v: UInt16, _ out: inout [UInt8]) {
        out.append(UInt8(v & 0xFF)); out.append(UInt8(v >> 8))
    }

    private static func f16(_ x: Float) -> UInt16 { Half.floatToF16(x) }
    private static func rf16(_ x: Float) -> Float { Half.f16ToFloat(Half.floatToF16(x)) }

    private static func quantizeBlock(_ type: GGMLType, _ x: [Float], _ out: inout [UInt8]) {
        switch type {
        case .f32:
            let b = x[0].bitPattern
            for k in 0..<4 { out.append(UInt8((b >> (8 * UInt32(k))) & 0xFF)) }
        case .f16:
            appendU16(f16(x[0]), &out)
        case .bf16:
            let b = x[0].bitPattern
            let rounded = (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16  // round to nearest even
            appendU16(UInt16(rounded), &out)
        case .q4_0:
            // Signed max-magnitude scale so that the extreme maps to −8.
            var amax: Float = 0, mx: Float = 0
            for v in x where abs(v) > amax { amax = abs(v); mx = v }
            let d = rf16(mx / -8), id: Float = d != 0 ? 1 / d : 0
            appendU16(f16(d), &out)
            for j in 0..<16 {
                let a = UInt8(min(15, max(0, Int((x[j] * id + 8.5).rounded(.down)))))
                let b = UInt8(min(15, max(0, Int((x[j + 16] * id + 8.5).rounded(.down)))))
                out.append(a | (b << 4))
            }
        case .q4_1:
            let lo = x.min()!, hi = x.max()!
            let d = rf16((hi - lo) / 15), m = rf16(lo), id: Float = d != 0 ? 1 / d : 0
            appendU16(f16(d), &out); appendU16(f16(m), &out)
            for j in 0..<16 {
                let a = UInt8(min(15, max(0, Int(((x[j] - m) * id).rounded()))))
                let b = UInt8(min(15, max(0, Int(((x[j + 16] - m) * id).rounded()))))
                out.append(a | (b << 4))
            }
        case .q8_0:
            let amax = x.map(abs).max()!
            let d = rf16(amax / 127), id: Float = d != 0 ? 1 / d : 0
            appendU16(f16(d), &out)
            for v in x { out.append(UInt8(bitPattern: Int8(max(-127, min(127, (v * id).rounded()))))) }
        case .q4_K, .q5_K:
            quantizeK45(x, five: type == .q5_K, &out)
        case .q6_K:
            quantizeK6(x, &out)
        }
    }

    /// Q4_K / Q5_K: per sub-block of 32 an affine (scale, min), themselves
    /// quantised to 6 bits against the block's `d` and `dmin`.
    private static func quantizeK45(_ x: [Float], five: Bool, _ out: inout [UInt8]) {
        let levels: Float = five ? 31 : 15
        var scale = [Float](repeating: 0, count: 8), mins = [Float](repeating: 0, count: 8)
        for s in 0..<8 {
            let sub = x[(32 * s)..<(32 * s + 32)]
            let lo = min(0, sub.min()!), hi = sub.max()!
            scale[s] = (hi - lo) / levels
            mins[s] = -lo
        }
        let d = rf16(scale.max()! / 63), dmin = rf16(mins.max()! / 63)
        var sc = [UInt8](repeating: 0, count: 8), mq = [UInt8](repeating: 0, count: 8)
        for s in 0..<8 {
            sc[s] = d > 0 ? UInt8(min(63, max(0, (scale[s] / d).rounded()))) : 0
            mq[s] = dmin > 0 ? UInt8(min(63, max(0, (mins[s] / dmin).rounded()))) : 0
        }
        var packed = [UInt8](repeating: 0, count: 12)
        for j in 0..<8 {
            if j < 4 {
                packed[j] = sc[j] & 63; packed[j + 4] = mq[j] & 63
            } else {
                packed[j + 4] = (sc[j] & 0x0F) | ((mq[j] & 0x0F) << 4)
                packed[j - 4] |= (sc[j] >> 4) << 6
                packed[j] |= (mq[j] >> 4) << 6
            }
        }
        var q = [Int](repeating: 0, count: 256)
        for i in 0..<256 {
            let s = i / 32
            let ds = d * Float(sc[s]), mm = dmin * Float(mq[s])
            q[i] = ds > 0 ? min(Int(levels), max(0, Int(((x[i] + mm) / ds).rounded()))) : 0
        }
        appendU16(f16(d), &out); appendU16(f16(dmin), &out)
        out.append(contentsOf: packed)
        if five {
            var qh = [UInt8](repeating: 0, count: 32)
            for chunk in 0..<4 {
                for l in 0..<32 {
                    if q[64 * chunk + l] >= 16 { qh[l] |= UInt8(1) << (2 * chunk) }
                    if q[64 * chunk + 32 + l] >= 16 { qh[l] |= UInt8(2) << (2 * chunk) }
                }
            }
            out.append(contentsOf: qh)
        }
        for chunk in 0..<4 {
            for l in 0..<32 {
                let a = UInt8(q[64 * chunk + l] & 0x0F), b = UInt8(q[64 * chunk + 32 + l] & 0x0F)
                out.append(a | (b << 4))
            }
        }
    }

    /// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales against `d`.
    private static func quantizeK6(_ x: [Float], _ out: inout [UInt8]) {
        var scale = [Float](repeating: 0, count: 16)
        for s in 0..<16 { scale[s] = x[(16 * s)..<(16 * s + 16)].map(abs).max()! / 31 }
        let d = rf16(scale.max()! / 127)
        var sc = [Int8](repeating: 0, count: 16)
        for s in 0..<16 { sc[s] = d > 0 ? Int8(min(127, max(-128, (scale[s] / d).rounded()))) : 0 }
        var q = [Int](repeating: 32, count: 256)
        for i in 0..<256 {
            let ds = d * Float(sc[i / 16])
            if ds != 0 { q[i] = min(31, max(-32, Int((x[i] / ds).rounded()))) + 32 }
        }
        var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        for half in 0..<2 {
            for l in 0..<32 {
                let n = 128 * half
                let q1 = q[n + l], q2 = q[n + l + 32], q3 = q[n + l + 64], q4 = q[n + l + 96]
                ql[64 * half + l] = UInt8((q1 & 0xF) | ((q3 & 0xF) << 4))
                ql[64 * half + l + 32] = UInt8((q2 & 0xF) | ((q4 & 0xF) << 4))
                qh[32 * half + l] = UInt8((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6))
            }
        }
        out.append(contentsOf: ql); out.append(contentsOf: qh)
        out.append(contentsOf: sc.map { UInt8(bitPattern: $0) })
        appendU16(f16(d), &out)
    }
}
