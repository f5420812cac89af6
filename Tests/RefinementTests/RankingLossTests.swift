import Encoder
import Foundation
import Numerics
import Refinement
import XCTest

/// Paths the refinement tests need.
enum RefinementPaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("models/all-MiniLM-L6-v2")
    static let fixtures = root.appendingPathComponent("Tests/RefinementTests/Fixtures")

    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ranksmith-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}

/// Every step of the loss against the worked examples that
/// scripts/ranking_loss_fixture.py computes in NumPy.
final class RankingLossTests: XCTestCase {
    /// Fixture values are Double; Swift recomputes them in Double except S
    /// (from Float vectors), so the tolerance is relative 1e-9 for the
    /// teacher side and 1e-5 for the student side.
    static let teacherTolerance = 1e-9
    static let studentTolerance = 1e-5

    struct Case: Decodable {
        let name: String
        let teacher: [[Double]], student: [[Double]]
        let T: [[Double]], target: [[Double]], B: [[Double]], L: [[Double]], P: [[Double]], S: [[Double]]
        let orders: [[Int]]
        let row_losses: [Double]
        let loss: Double
        let dS: [[Double]]
        let dStudent: [[Double]]
    }

    struct Fixture: Decodable {
        let tau: Double, teacher_tau: Double, omega: Double
        let cases: [Case]
    }

    func load() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: RefinementPaths.fixtures.appendingPathComponent("ranking_loss.json")))
    }

    func assertClose(_ a: [Double], _ b: [Double], _ tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = max(1, b.map(abs).max() ?? 0)
        for (x, y) in zip(a, b) where abs(x - y) > tol * scale {
            XCTFail("\(what): \(x) vs \(y)", file: file, line: line)
            return
        }
    }

    func testEveryStepMatchesTheWorkedExamples() throws {
        let fixture = try load()
        let options = RankingLossOptions(tau: fixture.tau, teacherTau: fixture.teacher_tau, omega: fixture.omega)
        XCTAssertEqual(Set(fixture.cases.map(\.name)), ["teacher_agrees", "teacher_reverses", "random"])
        for c in fixture.cases {
            let n = c.teacher.count, h = c.teacher[0].count
            let target = RankingTarget(teacherVectors: c.teacher.flatMap { $0 }.map(Float.init), count: n, dimensions: h, options: options)
            // Teacher vectors went through Float: compare T at Float precision, then pin the
            // remaining steps exactly by rebuilding from the fixture's own T.
            assertClose(target.teacher, c.T.flatMap { $0 }, 1e-6, "\(c.name) T")
            let exact = RankingTarget(teacherMatrix: c.T.flatMap { $0 }, count: n, options: options)
            assertClose(exact.rankTarget, c.target.flatMap { $0 }, Self.teacherTolerance, "\(c.name) T'")
            assertClose(exact.correction, c.B.flatMap { $0 }, Self.teacherTolerance, "\(c.name) B")
            assertClose(exact.damped, c.L.flatMap { $0 }, Self.teacherTolerance, "\(c.name) L")
            assertClose(exact.scores, c.P.flatMap { $0 }, Self.teacherTolerance, "\(c.name) P")
            XCTAssertEqual(RankingLoss.orders(exact, shuffle: Array(0..<n)), c.orders, "\(c.name) orders")
            // A different tie-breaking shuffle changes nothing when P has no ties.
            XCTAssertEqual(RankingLoss.orders(exact, shuffle: Array((0..<n).reversed())), c.orders)
            for i in 0..<n {
                let r = RankingLoss.listMLE(row: c.S[i], order: c.orders[i])
                XCTAssertEqual(r.loss, c.row_losses[i], accuracy: 1e-9 * max(1, abs(c.row_losses[i])), "\(c.name) row \(i)")
                assertClose(r.gradient.map { $0 / Double(n) }, c.dS[i], Self.teacherTolerance, "\(c.name) dS row \(i)")
            }
            let student = c.student.flatMap { $0 }.map(Float.init)
            var dStudent = [Float](repeating: 0, count: n * h)
            let result = student.withUnsafeBufferPointer { u in
                dStudent.withUnsafeMutableBufferPointer { d in
                    RankingLoss.apply(target: exact, student: u.baseAddress!, dimensions: h, tau: options.tau,
                                      shuffle: Array(0..<n), weight: 1, dStudent: d.baseAddress!)
                }
            }
            XCTAssertEqual(result.loss, c.loss, accuracy: Self.studentTolerance * max(1, c.loss), c.name)
            assertClose(result.similarities, c.S.flatMap { $0 }, Self.studentTolerance, "\(c.name) S")
            assertClose(dStudent.map(Double.init), c.dStudent.flatMap { $0 }, Self.studentTolerance, "\(c.name) dU")
        }
    }

    /// B = 0 when the teacher already agrees with the list; where it
    /// reverses the anchor's row, B has the signs docs/method.md's relative-rank
    /// rule gives (positive: the teacher puts j too far).
    func testCorrectionSigns() throws {
        let fixture = try load()
        let options = RankingLossOptions()
        let agrees = fixture.cases.first { $0.name == "teacher_agrees" }!
        let a = RankingTarget(teacherMatrix: agrees.T.flatMap { $0 }, count: agrees.T.count, options: options)
        XCTAssertTrue(a.correction.allSatisfy { $0 == 0 })
        XCTAssertEqual(a.scores, a.teacher)
        let reverses = fixture.cases.first { $0.name == "teacher_reverses" }!
        let n = reverses.T.count
        let r = RankingTarget(teacherMatrix: reverses.T.flatMap { $0 }, count: n, options: options)
        // Row 0: the teacher ranks x1 last (too far: B > 0) and x_{n-1} first (too close: B < 0).
        XCTAssertGreaterThan(r.correction[1], 0)
        XCTAssertLessThan(r.correction[n - 1], 0)
        // Mirrored, and damped with the same sign.
        for i in 0..<n { for j in 0..<n { XCTAssertEqual(r.correction[i * n + j], r.correction[j * n + i]) } }
        for (b, l) in zip(r.correction, r.damped) { XCTAssertEqual(b.sign, l.sign); XCTAssertLessThanOrEqual(abs(l), abs(b) * 0.5 + 1e-12) }
    }

    /// Ties in P are broken by the shuffle: with every off-diagonal score
    /// equal, the order follows the shuffle.
    func testTiesFollowTheShuffle() {
        let n = 4
        var t = [Double](repeating: 5, count: n * n)
        for i in 0..<n { t[i * n + i] = 20 }
        let target = RankingTarget(teacherMatrix: t, count: n, options: RankingLossOptions())
        let orders = RankingLoss.orders(target, shuffle: [3, 1, 0, 2])
        XCTAssertEqual(orders[0], [0, 3, 1, 2])
        XCTAssertEqual(orders[2], [2, 3, 1, 0])
    }
}
