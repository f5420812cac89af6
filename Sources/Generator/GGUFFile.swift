#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Numerics

// MARK: - GGUF file format (versions 2 and 3)
//
// All integers little-endian. A file is:
//
//   u32 magic          "GGUF" (0x46554747 read as little-endian u32)
//   u32 version        2 or 3 (1 used u32 counts and is not supported)
//   u64 tensor_count
//   u64 kv_count
//   kv_count × { string key; u32 value_type; value }
//   tensor_count × { string name; u32 n_dims (≤ 4); n_dims × u64 ne;
//                    u32 ggml_type; u64 offset }
//   padding to `general.alignment` (u32 key, default 32)
//   tensor data: each tensor at data_start + offset (offset a multiple of
//   the alignment), ne[0] the fastest-varying dimension.
//
//   string = u64 length; length bytes of UTF-8 (no terminator)
//   value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (u8),
//                8 string, 9 array { u32 element_type; u64 count; elements },
//                10 u64, 11 i64, 12 f64
//
// Every length and count is checked against the bytes left in the file
// before anything is allocated or read, so a truncated or hostile file
// throws `GGUFError` instead of trapping.

/// Why a GGUF file could not be read or used.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case notGGUF
    case unsupportedVersion(UInt32)
    case truncated(String)
    case invalid(String)
    case unsupportedTensorType(tensor: String, type: String)
    case unsupportedArchitecture(String)
    case missingKey(String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot open GGUF file \(path): \(reason)"
        case .notGGUF: return "not a GGUF file (bad magic)"
        case let .unsupportedVersion(v): return "unsupported GGUF version \(v) (supported: 2, 3)"
        case let .truncated(what): return "GGUF file truncated while reading \(what)"
        case let .invalid(what): return "invalid GGUF file: \(what)"
        case let .unsupportedTensorType(t, type): return "tensor \(t) has unsupported type \(type)"
        case let .unsupportedArchitecture(a): return "unsupported model architecture '\(a)' (supported: llama, qwen2)"
        case let .missingKey(k): return "GGUF metadata key \(k) is missing"
        case let .missingTensor(t): return "GGUF tensor \(t) is missing"
        case let .shapeMismatch(t, e, f): return "tensor \(t) has shape \(f), expected \(e)"
        }
    }
}

/// One tensor's description from the header.
public struct GGUFTensorInfo: Sendable {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// Dimensions, fastest-varying first (ggml's `ne`).
    public let shape: [Int]
    /// Storage type.
    public let type: GGMLType
    /// Byte offset from the start of the file.
    public let fileOffset: Int
    /// Bytes of data.
    public let byteCount: Int
    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped GGUF file: metadata, tensor descriptions and raw tensor
/// bytes (valid as long as this object lives).
public final class GGUFFile: @unchecked Sendable {
    /// Format version (2 or 3).
    public let version: UInt32
    /// All metadata key/values, in file order.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors by name.
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    /// Alignment of the data section.
    public let alignment: Int
    /// Start of the mapping.
    public let base: UnsafeRawPointer
    /// Size of the file in bytes.
    public let size: Int
    private let ownsMapping: Bool

    /// Maps and parses the file at `path`.
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size >= 24 else { throw size >= 4 ? GGUFError.truncated("header") : GGUFError.notGGUF }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        do {
            try self.init(base: UnsafeRawPointer(p), size: size, ownsMapping: true)
        } catch {
            munmap(p, size)
            throw error
        }
    }

    /// Parses a GGUF image held in memory (borrowed; the caller keeps it alive).
    public convenience init(borrowing base: UnsafeRawPointer, size: Int) throws {
        try self.init(base: base, size: size, ownsMapping: false)
    }

    private init(base: UnsafeRawPointer, size: Int, ownsMapping: Bool) throws {
        self.base = base
        self.size = size
        self.ownsMapping = ownsMapping
        var r = GGUFCursor(base: base, size: size)
        guard size >= 4, r.peekU32() == 0x4655_4747 else { throw GGUFError.notGGUF }
        _ = try r.u32("magic")
        let version = try r.u32("version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }
        self.version = version
        let tensorCount = try r.count("tensor count", minBytesEach: 8 + 4 + 8 + 4 + 8)
        let kvCount = try r.count("metadata count", minBytesEach: 8 + 4 + 1)
        var meta: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<kvCount {
            let key = try r.string("metadata key")
            let t = try r.u32("type of \(key)")
            meta[key] = try r.value(type: t, what: key)
            keys.append(key)
        }
        metadata = meta
        metadataKeys = keys
        var alignment = 32
        if let a = meta["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw GGUFError.invalid("general.alignment must be a power of two")
            }
            alignment = v
        }
        self.alignment = alignment

        var raw: [(String, [Int], UInt32, Int)] = []
        for _ in 0..<tensorCount {
            let name = try r.string("tensor name")
            let nd = try r.u32("dimensions of \(name)")
            guard nd >= 1, nd <= 4 else { throw GGUFError.invalid("tensor \(name) has \(nd) dimensions") }
            var shape: [Int] = []
            for _ in 0..<nd {
                let d = try r.u64("shape of \(name)")
                guard d <= UInt64(Int32.max) else { throw GGUFError.invalid("tensor \(name) dimension \(d) too large") }
                shape.append(Int(d))
            }
            let t = try r.u32("type of \(name)")
            let off = try r.u64("offset of \(name)")
            guard off <= UInt64(size) else { throw GGUFError.truncated("tensor \(name) (offset past end of file)") }
            raw.append((name, shape, t, Int(off)))
        }
        let dataStart = (r.offset + alignment - 1) / alignment * alignment
        var infos: [String: GGUFTensorInfo] = [:]
        var names: [String] = []
        for (name, shape, t, off) in raw {
            guard let type = GGMLType(rawValue: t) else {
                throw GGUFError.unsupportedTensorType(tensor: name, type: GGMLType.unsupportedName(t))
            }
            guard off % alignment == 0 else { throw GGUFError.invalid("tensor \(name) offset not aligned") }
            var count = 1
            for d in shape {
                let (c, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw GGUFError.invalid("tensor \(name) element count overflows") }
                count = c
            }
            guard let rowBytes = type.rowBytes(count: shape[0]) else {
                throw GGUFError.invalid("tensor \(name): row of \(shape[0]) is not whole \(type.name) blocks")
            }
            let bytes = rowBytes * (count / max(1, shape[0]))
            guard dataStart + off <= size, bytes <= size - dataStart - off else {
                throw GGUFError.truncated("data of tensor \(name)")
            }
            guard infos[name] == nil else { throw GGUFError.invalid("duplicate tensor \(name)") }
            infos[name] = GGUFTensorInfo(name: name, shape: shape, type: type, fileOffset: dataStart + off, byteCount: bytes)
            names.append(name)
        }
        tensors = infos
        tensorNames = names
    }

    deinit {
        if ownsMapping { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    // MARK: Typed access

    /// The bytes of tensor `name`.
    public func data(of info: GGUFTensorInfo) -> UnsafeRawPointer { base + info.fileOffset }

    /// Tensor `name` as a matrix of `shape[1]` rows × `shape[0]` columns
    /// (a 1-D tensor is one row), checked against `rows`/`cols` when given.
    public func matrix(_ name: String, rows: Int? = nil, cols: Int? = nil) throws -> QuantizedMatrix {
        guard let info = tensors[name] else { throw GGUFError.missingTensor(name) }
        let c = info.shape[0], rw = info.elementCount / max(1, c)
        if let rows, let cols, rows != rw || cols != c {
            throw GGUFError.shapeMismatch(tensor: name, expected: [cols, rows], found: info.shape)
        }
        return QuantizedMatrix(type: info.type, rows: rw, cols: c, data: data(of: info))
    }

    /// Tensor `name` decoded to Float (small tensors: norms, biases),
    /// checked to hold `count` elements.
    public func floats(_ name: String, count: Int) throws -> [Float] {
        guard let info = tensors[name] else { throw GGUFError.missingTensor(name) }
        guard info.elementCount == count else {
            throw GGUFError.shapeMismatch(tensor: name, expected: [count], found: info.shape)
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer {
            QuantReference.dequantize(info.type, data(of: info), count: count, into: $0.baseAddress!)
        }
        return out
    }

    /// Metadata value `key` as an integer, or throws `missingKey`.
    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key]?.int else { throw GGUFError.missingKey(key) }
        return v
    }

    /// Metadata value `key` as a string, or throws `missingKey`.
    public func string(_ key: String) throws -> String {
        guard let v = metadata[key]?.string else { throw GGUFError.missingKey(key) }
        return v
    }
}
