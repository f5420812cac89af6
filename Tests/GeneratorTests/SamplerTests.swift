import Foundation
import Generator
import XCTest

/// The sampler on synthetic score vectors.
final class SamplerTests: XCTestCase {
    /// Sampling frequency vs probability, 4,000 draws: ±4 standard errors.
    static let frequencyTolerance = 0.03

    func draw(_ scores: [Float], _ options: SamplingOptions, _ n: Int) -> [Int] {
        var sampler = Sampler(options: options, vocabSize: scores.count)
        var counts = [Int](repeating: 0, count: scores.count)
        for _ in 0..<n {
            var s = scores
            let t = s.withUnsafeMutableBufferPointer { sampler.sample($0) }
            counts[Int(t)] += 1
        }
        return counts
    }

    func testTemperatureOneFollowsSoftmax() {
        let counts = draw([0, Float(log(3.0)), -.infinity], SamplingOptions(temperature: 1, seed: 7), 4000)
        XCTAssertEqual(counts[2], 0)
        XCTAssertEqual(Double(counts[1]) / 4000, 0.75, accuracy: Self.frequencyTolerance)
    }

    func testTopKAndTopPCut() {
        let scores: [Float] = [3, 2.9, 0, -1]
        XCTAssertEqual(draw(scores, SamplingOptions(temperature: 1, topK: 2, seed: 1), 500)[2...].reduce(0, +), 0)
        XCTAssertEqual(draw(scores, SamplingOptions(temperature: 1, topP: 0.3, seed: 1), 200), [200, 0, 0, 0])
        XCTAssertEqual(draw(scores, SamplingOptions(temperature: 0), 5), [5, 0, 0, 0])
    }

    func testSameSeedSameDraws() {
        let scores = (0..<100).map { Float($0 % 7) / 3 }
        XCTAssertEqual(draw(scores, SamplingOptions(temperature: 0.8, seed: 99), 300),
                       draw(scores, SamplingOptions(temperature: 0.8, seed: 99), 300))
        XCTAssertNotEqual(draw(scores, SamplingOptions(temperature: 0.8, seed: 99), 300),
                          draw(scores, SamplingOptions(temperature: 0.8, seed: 100), 300))
    }

    func testAllBannedGivesMinusOne() {
        var s: [Float] = [-.infinity, -.infinity]
        XCTAssertEqual(s.withUnsafeBufferPointer { Sampler.argmax($0) }, -1)
        var sampler = Sampler(options: SamplingOptions(temperature: 1), vocabSize: 2)
        XCTAssertEqual(s.withUnsafeMutableBufferPointer { sampler.sample($0) }, -1)
    }
}
