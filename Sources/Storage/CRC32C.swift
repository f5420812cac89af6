import Foundation

// MARK: - CRC-32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
/// iSCSI, ext4 and LevelDB logs; slicing-by-8 in software.
public enum CRC32C {
    private static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for s in 1..<8 { t[s][i] = (t[s - 1][i] >> 8) ^ t[0][Int(t[s - 1][i] & 0xFF)] }
        }
        return t
    }()

    /// The checksum of `count` bytes at `p`, continuing from `crc` (0 to start).
    public static func checksum(_ p: UnsafeRawPointer, _ count: Int, crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        var i = 0
        tables.withUnsafeBufferPointer { t in
            let t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6], t7 = t[7]
            while i + 8 <= count {
                let lo = p.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian ^ c
                let hi = p.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                c = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)] ^ t4[Int(lo >> 24)]
                    ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)] ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                i += 8
            }
            while i < count {
                c = (c >> 8) ^ t0[Int((c ^ UInt32(p.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)]
                i += 1
            }
        }
        return ~c
    }

    /// The checksum of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0.baseAddress!, $0.count) }
    }
}
