import Foundation
import Numerics

// MARK: - The safetensors format
//
// A safetensors file is:
//
//     bytes 0..<8      N, the header length, little-endian UInt64
//     bytes 8..<8+N    a UTF-8 JSON object:
//                        "__metadata__": {string: string}        (optional)
//                        "<tensor name>": {"dtype": "F32"|"F16"|"BF16"|…,
//                                          "shape": [d0, d1, …],
//                                          "data_offsets": [begin, end]}
//     bytes 8+N..<EOF  the data buffer; each tensor's bytes lie at
//                      [begin, end) relative to the start of the buffer,
//                      row-major, little-endian.
//
// Everything is checked before it is trusted: the header length against the
// file size, every dtype, every shape's element count against its byte
// range, every range against the buffer.

/// Element types of a safetensors tensor that Ranksmith can read.
public enum SafeTensorsDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        }
    }
}

/// What is wrong with a safetensors file (each case names the file).
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case truncated(file: String, reason: String)
    case badHeader(file: String, reason: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case missingTensor(file: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case badOffsets(file: String, tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read: \(reason)"
        case let .truncated(file, reason): return "\(file): truncated: \(reason)"
        case let .badHeader(file, reason): return "\(file): bad safetensors header: \(reason)"
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' has dtype \(dtype); supported are F32, F16, BF16 (and I64/I32 for ids)"
        case let .missingTensor(file, tensor): return "\(file): tensor '\(tensor)' not found"
        case let .shapeMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)' has shape \(found), expected \(expected)"
        case let .badOffsets(file, tensor, reason): return "\(file): tensor '\(tensor)': \(reason)"
        }
    }
}

/// A safetensors file, read whole and indexed by tensor name.
public struct SafeTensorsFile: Sendable {
    /// One tensor's entry in the header.
    public struct Entry: Sendable {
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        /// Byte range inside the data buffer.
        public let range: Range<Int>
    }

    /// The file's path, used in error messages.
    public let path: String
    /// Tensors by name.
    public let entries: [String: Entry]
    /// `__metadata__`, if present.
    public let metadata: [String: String]
    private let bytes: Data
    private let dataStart: Int

    /// Reads and validates `url`.
    public init(url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw SafeTensorsError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        try self.init(data: data, path: url.path)
    }

    /// Validates an in-memory file; `path` names it in errors.
    public init(data: Data, path: String) throws {
        self.path = path
        self.bytes = data
        guard data.count >= 8 else {
            throw SafeTensorsError.truncated(file: path, reason: "\(data.count) bytes, the 8-byte header length is missing")
        }
        let n = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(data.count - 8) else {
            throw SafeTensorsError.truncated(file: path, reason: "header length \(n) exceeds the \(data.count - 8) bytes after it")
        }
        let headerEnd = 8 + Int(n)
        dataStart = headerEnd
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd))
        } catch {
            throw SafeTensorsError.badHeader(file: path, reason: "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw SafeTensorsError.badHeader(file: path, reason: "header is not a JSON object")
        }
        let bufferSize = data.count - headerEnd
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            entries[name] = try Self.parseEntry(name: name, value: value, bufferSize: bufferSize, path: path)
        }
        self.entries = entries
        self.metadata = metadata
    }

    private static func parseEntry(name: String, value: Any, bufferSize: Int, path: String) throws -> Entry {
        guard let info = value as? [String: Any],
              let dtypeName = info["dtype"] as? String,
              let shapeAny = info["shape"] as? [Any],
              let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2
        else { throw SafeTensorsError.badHeader(file: path, reason: "entry '\(name)' lacks dtype, shape or data_offsets") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError.unsupportedDType(file: path, tensor: name, dtype: dtypeName)
        }
        let shape = shapeAny.compactMap { ($0 as? NSNumber)?.intValue }
        let offsets = offsetsAny.compactMap { ($0 as? NSNumber)?.intValue }
        guard shape.count == shapeAny.count, shape.allSatisfy({ $0 >= 0 }), offsets.count == 2 else {
            throw SafeTensorsError.badHeader(file: path, reason: "entry '\(name)' has a non-integer shape or offset")
        }
        var elements = 1
        for d in shape {
            let (m, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw SafeTensorsError.badOffsets(file: path, tensor: name, reason: "shape \(shape) overflows") }
            elements = m
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, end >= begin else {
            throw SafeTensorsError.badOffsets(file: path, tensor: name, reason: "data_offsets [\(begin), \(end)] are not an increasing pair")
        }
        guard end <= bufferSize else {
            throw SafeTensorsError.truncated(file: path, reason: "tensor '\(name)' ends at byte \(end) of a \(bufferSize)-byte data buffer")
        }
        guard end - begin == elements * dtype.size else {
            throw SafeTensorsError.badOffsets(
                file: path, tensor: name,
                reason: "\(end - begin) bytes for shape \(shape) of \(dtype.rawValue) (needs \(elements * dtype.size))")
        }
        return Entry(dtype: dtype, shape: shape, range: begin..<end)
    }

    /// The tensor `name` as Float, checked against `shape`.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let entry = entries[name] else { throw SafeTensorsError.missingTensor(file: path, tensor: name) }
        guard entry.shape == shape else {
            throw SafeTensorsError.shapeMismatch(file: path, tensor: name, expected: shape, found: entry.shape)
        }
        let count = shape.reduce(1, *)
        var out = [Float](repeating: 0, count: count)
        let start = dataStart + entry.range.lowerBound
        bytes.withUnsafeBytes { raw in
            let src = raw.baseAddress! + start
            out.withUnsafeMutableBufferPointer { dst in
                switch entry.dtype {
                case .f32:
                    memcpy(dst.baseAddress!, src, count * 4)
                case .f16:
                    for i in 0..<count { dst[i] = Half.f16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
                case .bf16:
                    for i in 0..<count { dst[i] = Half.bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
                case .i64:
                    for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
                case .i32:
                    for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
                }
            }
        }
        return out
    }
}

// MARK: - Writing

extension SafeTensorsFile {
    /// F32 tensors in the safetensors format (names sorted, offsets
    /// contiguous, header padded with spaces to 8 bytes), as bytes.
    public static func encode(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = ["format": "pt"]) throws -> [UInt8] {
        try encode(tensors.map { ($0.name, $0.shape, $0.values.count) }, metadata: metadata) { i, out in
            tensors[i].values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
    }

    /// `encode` of tensors that lie in `FloatBuffer`s, read in place (a
    /// training checkpoint: no copy of each buffer on the way).
    public static func encode(_ tensors: [(name: String, shape: [Int], buffer: FloatBuffer)], metadata: [String: String] = ["format": "pt"]) throws -> [UInt8] {
        try encode(tensors.map { ($0.name, $0.shape, $0.buffer.count) }, metadata: metadata) { i, out in
            let b = tensors[i].buffer
            out.append(contentsOf: UnsafeRawBufferPointer(start: b.pointer, count: b.count * MemoryLayout<Float>.stride))
        }
    }

    /// The header of `tensors` (name, shape, element count), then each
    /// tensor's F32 bytes, which `append(i, &out)` adds for `tensors[i]`.
    private static func encode(
        _ tensors: [(name: String, shape: [Int], count: Int)], metadata: [String: String],
        append: (Int, inout [UInt8]) -> Void
    ) throws -> [UInt8] {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        let order = tensors.indices.sorted { tensors[$0].name < tensors[$1].name }
        for t in order.map({ tensors[$0] }) {
            precondition(t.count == t.shape.reduce(1, *), "tensor \(t.name): values do not match shape")
            header[t.name] = ["dtype": SafeTensorsDType.f32.rawValue, "shape": t.shape,
                              "data_offsets": [offset, offset + 4 * t.count]] as [String: Any]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for i in order { append(i, &out) }
        return out
    }

    /// Writes `encode(tensors, metadata:)` to `url`, atomically.
    public static func write(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = ["format": "pt"], to url: URL) throws {
        var bytes = try encode(tensors, metadata: metadata)
        try bytes.withUnsafeMutableBytes { raw in
            try Data(bytesNoCopy: raw.baseAddress!, count: raw.count, deallocator: .none).write(to: url, options: .atomic)
        }
    }
}
