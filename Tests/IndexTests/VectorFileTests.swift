import Foundation
import Index
import XCTest

/// `.npy` and raw f32 files: what the recall test and the benchmark read.
final class VectorFileTests: XCTestCase {
    func testNPYRoundTripAndRawFloats() throws {
        let dir = temporaryDirectory(self)
        let data: [Float] = (0..<12).map { Float($0) * 0.5 }
        let npy = dir.appendingPathComponent("m.npy").path
        try VectorFile.writeNPY(path: npy, rows: 3, dimensions: 4, data: data)
        let (rows, dims, back) = try VectorFile.read(path: npy)
        XCTAssertEqual(rows, 3)
        XCTAssertEqual(dims, 4)
        XCTAssertEqual(back, data)
        let raw = dir.appendingPathComponent("m.f32")
        try data.withUnsafeBytes { try Data($0).write(to: raw) }
        XCTAssertEqual(try VectorFile.read(path: raw.path, dimensions: 6).rows, 2)
        XCTAssertThrowsError(try VectorFile.read(path: raw.path, dimensions: 5))
        XCTAssertThrowsError(try VectorFile.read(path: raw.path))
        // A header that promises more data than the file holds is refused.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: npy))
        bytes.removeLast(4)
        try bytes.write(to: URL(fileURLWithPath: npy))
        XCTAssertThrowsError(try VectorFile.read(path: npy))
    }
}
