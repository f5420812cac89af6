// MARK: - GGML tensor types
//
// The element types a GGUF tensor can be stored in, and one traits table
// (block size, bytes per block) that every reader and kernel consults instead
// of switching on the type itself.
//
// Block layouts (little-endian, packed, as ggml writes them):
//
//   Q4_0  (32 values, 18 bytes): f16 d | 16 × u8 nibbles.            x = d·(q − 8)
//   Q4_1  (32 values, 20 bytes): f16 d | f16 m | 16 × u8 nibbles.    x = d·q + m
//   Q8_0  (32 values, 34 bytes): f16 d | 32 × i8.                    x = d·q
//   Q4_K (256 values, 144 bytes): f16 d | f16 dmin | 12 × u8 packed 6-bit
//         (scale, min) pairs for 8 sub-blocks of 32 | 128 × u8 nibbles.
//         x = d·sc·q − dmin·m
//   Q5_K (256 values, 176 bytes): as Q4_K plus 32 × u8 high bits (qh) before
//         the nibbles: q = nibble + 16·bit.
//   Q6_K (256 values, 210 bytes): 128 × u8 low nibbles (ql) | 64 × u8 high
//         2-bit pairs (qh) | 16 × i8 sub-block scales | f16 d.
//         x = d·sc·(q − 32), q 6 bits.
//
// In the 32-value blocks of Q4_0/Q4_1 the low nibble of byte j is element j
// and the high nibble is element j + 16.

/// A GGML tensor element type, numbered as in GGUF files.
public enum GGMLType: UInt32, CaseIterable, Sendable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q8_0 = 8
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case bf16 = 30

    /// The name llama.cpp prints for this type (`Q4_K`, `F16`, …).
    public var name: String { traits.name }

    /// Block size and bytes per block of this type (a switch, not a
    /// dictionary: kernels ask for it per row).
    @inlinable
    public var traits: QuantTraits {
        switch self {
        case .f32: return QuantTraits.f32
        case .f16: return QuantTraits.f16
        case .bf16: return QuantTraits.bf16
        case .q4_0: return QuantTraits.q4_0
        case .q4_1: return QuantTraits.q4_1
        case .q8_0: return QuantTraits.q8_0
        case .q4_K: return QuantTraits.q4_K
        case .q5_K: return QuantTraits.q5_K
        case .q6_K: return QuantTraits.q6_K
        }
    }

    /// Bytes one row of `count` values occupies, or nil when `count` is not a
    /// whole number of blocks (or overflows).
    public func rowBytes(count: Int) -> Int? {
        let t = traits
        guard count >= 0, count % t.blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / t.blockSize).multipliedReportingOverflow(by: t.bytesPerBlock)
        return overflow ? nil : bytes
    }

    /// The name of a GGML type number this reader does not support (for
    /// error messages), e.g. `Q2_K` for 10.
    public static func unsupportedName(_ raw: UInt32) -> String {
        let names: [UInt32: String] = [
            6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K",
            16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL",
            21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32",
            27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
        ]
        return names[raw] ?? "type \(raw)"
    }
}

/// Storage facts about one `GGMLType`.
public struct QuantTraits: Sendable {
    /// A traits entry.
    public init(name: String, blockSize: Int, bytesPerBlock: Int, usesQ8Activations: Bool) {
        self.name = name
        self.blockSize = blockSize
        self.bytesPerBlock = bytesPerBlock
        self.usesQ8Activations = usesQ8Activations
    }

    /// The type's printed name.
    public let name: String
    /// Values per block (1 for the float types).
    public let blockSize: Int
    /// Bytes per block.
    public let bytesPerBlock: Int
    /// Whether matrix products quantise the activations to 8 bits (Q8 blocks
    /// of 32) and use integer dot products; otherwise weights are
    /// dequantised to Float on the fly.
    public let usesQ8Activations: Bool

    // The one place block sizes are written down; tests pin them.
    public static let f32 = QuantTraits(name: "F32", blockSize: 1, bytesPerBlock: 4, usesQ8Activations: false)
    public static let f16 = QuantTraits(name: "F16", blockSize: 1, bytesPerBlock: 2, usesQ8Activations: false)
    public static let bf16 = QuantTraits(name: "BF16", blockSize: 1, bytesPerBlock: 2, usesQ8Activations: false)
    public static let q4_0 = QuantTraits(name: "Q4_0", blockSize: 32, bytesPerBlock: 18, usesQ8Activations: true)
    public static let q4_1 = QuantTraits(name: "Q4_1", blockSize: 32, bytesPerBlock: 20, usesQ8Activations: true)
    public static let q8_0 = QuantTraits(name: "Q8_0", blockSize: 32, bytesPerBlock: 34, usesQ8Activations: true)
    public static let q4_K = QuantTraits(name: "Q4_K", blockSize: 256, bytesPerBlock: 144, usesQ8Activations: true)
    public static let q5_K = QuantTraits(name: "Q5_K", blockSize: 256, bytesPerBlock: 176, usesQ8Activations: true)
    public static let q6_K = QuantTraits(name: "Q6_K", blockSize: 256, bytesPerBlock: 210, usesQ8Activations: true)
}

// MARK: - Unaligned little-endian loads

@inline(__always)
func loadU16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
    UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

@inline(__always)
func loadF16(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Half.f16ToFloat(loadU16(p, offset))
}
