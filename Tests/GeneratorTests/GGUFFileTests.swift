import Foundation
import Generator
import Numerics
import XCTest

/// Builds GGUF images byte by byte, so tests control every field.
struct GGUFBuilder {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }

    /// A version-`version` file with a few metadata values and the given
    /// tensors `(name, shape, type, data)`.
    static func file(version: UInt32 = 3, tensors: [(String, [Int], GGMLType, [UInt8])], extraKV: Int = 0) -> [UInt8] {
        var b = GGUFBuilder()
        b.u32(0x4655_4747); b.u32(version)
        b.u64(UInt64(tensors.count)); b.u64(UInt64(5 + extraKV))
        b.string("general.architecture"); b.u32(8); b.string("test")
        b.string("test.count"); b.u32(4); b.u32(7)
        b.string("test.names"); b.u32(9); b.u32(8); b.u64(2); b.string("a"); b.string("bé")
        b.string("test.scale"); b.u32(6); b.u32(Float(0.5).bitPattern)
        b.string("test.ids"); b.u32(9); b.u32(5); b.u64(3); b.u32(1); b.u32(UInt32(bitPattern: -2)); b.u32(3)
        for k in 0..<extraKV { b.string("test.extra\(k)"); b.u32(7); b.bytes.append(1) }
        var offset = 0
        for (name, shape, type, data) in tensors {
            b.string(name); b.u32(UInt32(shape.count))
            for d in shape { b.u64(UInt64(d)) }
            b.u32(type.rawValue); b.u64(UInt64(offset))
            offset += (data.count + 31) / 32 * 32
        }
        b.pad(to: 32)
        for (_, _, _, data) in tensors { b.bytes += data; b.pad(to: 32) }
        return b.bytes
    }
}

final class GGUFFileTests: XCTestCase {
    func parse(_ bytes: [UInt8]) throws -> GGUFFile {
        try bytes.withUnsafeBytes { raw in
            // Copy into memory owned by the test for the file's lifetime.
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, raw.count), alignment: 64)
            p.copyMemory(from: raw.baseAddress!, byteCount: raw.count)
            addTeardownBlock { p.deallocate() }
            return try GGUFFile(borrowing: p, size: raw.count)
        }
    }

    static let q8Tensor: [UInt8] = QuantReference.quantize(.q8_0, (0..<64).map { Float($0) / 10 - 3 })

    func testParsesMetadataAndTensors() throws {
        for version: UInt32 in [2, 3] {
            let f = try parse(GGUFBuilder.file(version: version, tensors: [("w", [32, 2], .q8_0, Self.q8Tensor)]))
            XCTAssertEqual(f.version, version)
            XCTAssertEqual(try f.string("general.architecture"), "test")
            XCTAssertEqual(try f.int("test.count"), 7)
            XCTAssertEqual(f.metadata["test.names"], .strings(["a", "bé"]))
            XCTAssertEqual(f.metadata["test.scale"]?.double, 0.5)
            XCTAssertEqual(f.metadata["test.ids"], .ints([1, -2, 3], elementType: 5))
            let m = try f.matrix("w", rows: 2, cols: 32)
            XCTAssertEqual(m.type, .q8_0)
            XCTAssertEqual(m.dequantizedReference().count, 64)
            XCTAssertThrowsError(try f.matrix("w", rows: 3, cols: 32))
            XCTAssertThrowsError(try f.matrix("missing")) { XCTAssertEqual($0 as? GGUFError, .missingTensor("missing")) }
        }
    }

    func testEveryTruncationThrows() throws {
        let full = GGUFBuilder.file(tensors: [("w", [32, 2], .q8_0, Self.q8Tensor)])
        XCTAssertNoThrow(try parse(full))
        // The tensor data ends 30 bytes before the file (padding); cut into it and before.
        for n in 0..<(full.count - 30) {
            XCTAssertThrowsError(try parse(Array(full.prefix(n))), "prefix \(n) parsed") { e in
                XCTAssertTrue(e is GGUFError, "prefix \(n): \(e)")
            }
        }
    }

    func testRejectsBadFiles() throws {
        var bad = GGUFBuilder.file(tensors: [])
        bad[0] = 0x47 ^ 0xFF
        XCTAssertThrowsError(try parse(bad)) { XCTAssertEqual($0 as? GGUFError, .notGGUF) }
        XCTAssertThrowsError(try parse(GGUFBuilder.file(version: 1, tensors: []))) {
            XCTAssertEqual($0 as? GGUFError, .unsupportedVersion(1))
        }
        XCTAssertThrowsError(try parse(GGUFBuilder.file(version: 4, tensors: [])))
        // A Q2_K tensor (type 10) is named in the error.
        var b = GGUFBuilder.file(tensors: [("w", [32, 2], .q8_0, Self.q8Tensor)])
        let typeOffset = findTensorType(b)
        b.replaceSubrange(typeOffset..<(typeOffset + 4), with: [10, 0, 0, 0])
        XCTAssertThrowsError(try parse(b)) {
            XCTAssertEqual($0 as? GGUFError, .unsupportedTensorType(tensor: "w", type: "Q2_K"))
        }
        // A huge element count in a metadata array is refused before allocating.
        var h = GGUFBuilder()
        h.u32(0x4655_4747); h.u32(3); h.u64(0); h.u64(1)
        h.string("big"); h.u32(9); h.u32(4); h.u64(UInt64.max / 2)
        XCTAssertThrowsError(try parse(h.bytes)) { XCTAssertTrue($0 is GGUFError) }
        // A huge tensor count likewise.
        var t = GGUFBuilder()
        t.u32(0x4655_4747); t.u32(3); t.u64(1 << 60); t.u64(0)
        XCTAssertThrowsError(try parse(t.bytes)) { XCTAssertTrue($0 is GGUFError) }
        // A row that is not whole blocks.
        XCTAssertThrowsError(try parse(GGUFBuilder.file(tensors: [("w", [48, 1], .q8_0, Self.q8Tensor)]))) {
            XCTAssertTrue("\($0)".contains("not whole"))
        }
    }

    func testUnsupportedArchitectureIsNamed() throws {
        let f = try parse(GGUFBuilder.file(tensors: []))
        XCTAssertThrowsError(try LlamaConfig(file: f)) {
            XCTAssertEqual($0 as? GGUFError, .unsupportedArchitecture("test"))
        }
    }

    func testMissingFileIsATypedError() {
        XCTAssertThrowsError(try GGUFFile(path: "/nonexistent/model.gguf")) {
            guard case .cannotOpen? = $0 as? GGUFError else { return XCTFail("\($0)") }
        }
    }

    /// Offset of the first tensor's type field (after its name and dims).
    func findTensorType(_ b: [UInt8]) -> Int {
        let name: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, UInt8(ascii: "w")]
        for i in 0..<(b.count - name.count) where Array(b[i..<(i + name.count)]) == name {
            return i + name.count + 4 + 2 * 8
        }
        return 0
    }

    /// Tensors of every type written by the `gguf` Python package
    /// (scripts/golden_llama.py) decode to the values gguf's numpy code gives.
    func testTypesWrittenByGGUFPackageDecodeAsItDoes() throws {
        let gguf = TestPaths.fixtures.appendingPathComponent("gguf_types.gguf").path
        let json = TestPaths.fixtures.appendingPathComponent("gguf_types.json")
        guard FileManager.default.fileExists(atPath: gguf), let data = try? Data(contentsOf: json) else {
            throw MissingTestInput("gguf_types fixtures missing: run scripts/golden_llama.py")
        }
        let expected = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        let f = try GGUFFile(path: gguf)
        XCTAssertEqual(try f.int("test.answer"), 42)
        XCTAssertEqual(try f.string("test.greeting"), "héllo ✓")
        XCTAssertEqual(expected.count, GGMLType.allCases.count)
        for (name, e) in expected {
            let values = (e["values"] as! [Double]).map(Float.init)
            let m = try f.matrix(name)
            XCTAssertEqual(m.type.name, e["type"] as? String)
            let ref = m.dequantizedReference()
            XCTAssertEqual(ref.count, values.count, name)
            let worst = zip(ref, values).map { abs($0 - $1) / max(1e-3, abs($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(name): reference decoder differs from gguf's")
            var fast = [Float](repeating: 0, count: m.cols)
            for r in 0..<m.rows {
                m.dequantizeRow(r, into: &fast)
                XCTAssertEqual(fast, Array(ref[(r * m.cols)..<((r + 1) * m.cols)]), "\(name) row \(r)")
            }
        }
    }
}
