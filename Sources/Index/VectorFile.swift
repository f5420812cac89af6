import Foundation
import Storage

// MARK: - Vector files (.npy and raw f32)

/// Reads a matrix of vectors from disk, for benchmarks and recall tests.
///
/// - `.npy` (NumPy format 1.0–3.0): magic `\x93NUMPY`, major u8, minor u8,
///   header length (u16 for 1.x, u32 for 2.x/3.x), then a Python dict
///   literal with `descr` (only `'<f4'` is read), `fortran_order` (must be
///   False) and `shape` (1 or 2 dimensions), then the data row-major.
/// - anything else: raw little-endian f32, row-major; `dimensions` says
///   the row length and the file size must be a multiple of it.
public enum VectorFile {
    /// Rows, row length and the data `(rows, dimensions)` row-major.
    public static func read(path: String, dimensions: Int? = nil) throws -> (rows: Int, dimensions: Int, data: [Float]) {
        guard let bytes = try indexErrors({ try FileIO.readFile(path) }) else {
            throw IndexError.ioFailed(path: path, operation: "open", errno: ENOENT)
        }
        func bad(_ reason: String) -> IndexError { .invalidParameter(field: path, reason: reason) }
        if bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) {
            let major = bytes[6]
            let headerLen: Int, start: Int
            if major == 1 {
                headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
                start = 10
            } else if major == 2 || major == 3, bytes.count >= 12 {
                headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
                start = 12
            } else {
                throw bad("unsupported .npy version \(major)")
            }
            guard start + headerLen <= bytes.count,
                let header = String(bytes: bytes[start..<(start + headerLen)], encoding: .ascii)
            else { throw bad(".npy header overruns the file") }
            guard header.contains("'descr': '<f4'") else { throw bad(".npy dtype must be little-endian float32 ('<f4')") }
            guard header.contains("'fortran_order': False") else { throw bad(".npy must be C order") }
            guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
                throw bad(".npy header has no shape")
            }
            let dims = header[open.upperBound..<close].split(separator: ",").compactMap {
                Int($0.trimmingCharacters(in: .whitespaces))
            }
            guard dims.count == 1 || dims.count == 2 else { throw bad(".npy shape must have 1 or 2 dimensions") }
            let rows = dims.count == 2 ? dims[0] : 1
            let cols = dims.count == 2 ? dims[1] : dims[0]
            let dataStart = start + headerLen
            guard rows >= 0, cols > 0, rows.multipliedReportingOverflow(by: cols * 4).partialValue == bytes.count - dataStart else {
                throw bad(".npy shape (\(rows), \(cols)) does not match \(bytes.count - dataStart) data bytes")
            }
            return (rows, cols, floats(bytes, from: dataStart, count: rows * cols))
        }
        guard let d = dimensions, d > 0 else { throw bad("raw f32 files need the number of dimensions") }
        guard bytes.count % (d * 4) == 0 else { throw bad("\(bytes.count) bytes is not a whole number of \(d)-float rows") }
        return (bytes.count / (d * 4), d, floats(bytes, from: 0, count: bytes.count / 4))
    }

    /// Writes a `(rows, dimensions)` float32 matrix as `.npy` (format 1.0).
    public static func writeNPY(path: String, rows: Int, dimensions: Int, data: [Float]) throws {
        precondition(data.count == rows * dimensions, "data does not match the shape")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(dimensions)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        out += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        out += Array(header.utf8)
        data.withUnsafeBytes { out += $0 }
        try indexErrors { try AtomicFile.write(out, to: path) }
    }

    private static func floats(_ bytes: [UInt8], from start: Int, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + count * 4)]))
            }
        }
        return out
    }
}
