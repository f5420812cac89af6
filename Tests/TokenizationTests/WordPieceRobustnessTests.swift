// Properties that must hold for any input: no crash on random Unicode,
// truncation that keeps a prefix and says so, pairs built from the singles,
// and the same answers from many threads at once.

import Foundation
import XCTest
import Numerics
import Tokenization

final class WordPieceRobustnessTests: XCTestCase {
    /// Random text: any scalar, plus weighted ASCII, marks, spaces, controls, CJK, emoji and specials.
    private func randomText(_ rng: inout SplitMix64, length: Int) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<length {
            let v: UInt32
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1: v = UInt32.random(in: 0...0x10FFFF, using: &rng)
            case 2, 3: v = UInt32.random(in: 0x20...0x7E, using: &rng)
            case 4: v = UInt32.random(in: 0x300...0x36F, using: &rng)
            case 5: v = [0x09, 0x0A, 0x0D, 0x20, 0x00, 0x85, 0xA0, 0x200B, 0x200D, 0x2028, 0x3000, 0xFEFF, 0xFFFD].randomElement(using: &rng)!
            case 6: v = UInt32.random(in: 0x4E00...0x9FFF, using: &rng)
            case 7: v = UInt32.random(in: 0x1F300...0x1FAFF, using: &rng)
            case 8: v = UInt32.random(in: 0x80...0x2FFF, using: &rng)
            default: v = UInt32.random(in: 0xAC00...0xD7A3, using: &rng)
            }
            if let scalar = Unicode.Scalar(v) { s.append(scalar) }
            if Int.random(in: 0..<200, using: &rng) == 0 { s.append(contentsOf: "[SEP]".unicodeScalars) }
        }
        return String(s)
    }

    func testRandomUnicodeNeverCrashesAndKeepsInvariants() throws {
        let t = try TokenizerFixtures.tokenizer()
        var rng = SplitMix64(seed: 0x5EED_0001)  // seeded, so a failure can be replayed
        for k in 0..<20_000 {
            let length = k % 500 == 0 ? Int.random(in: 5_000...50_000, using: &rng) : Int.random(in: 0...300, using: &rng)
            let text = randomText(&rng, length: length)
            let maxLength = [2, 3, 16, 128, 256, 512][k % 6]
            let e = t.encode(text, maxLength: maxLength)
            let pieces = t.tokenize(text)
            XCTAssertEqual(e.ids.first, t.clsId)
            XCTAssertEqual(e.ids.last, t.sepId)
            XCTAssertLessThanOrEqual(e.ids.count, maxLength)
            XCTAssertEqual(e.truncated, pieces.count > maxLength - 2)
            XCTAssertEqual(e.ids.count, min(pieces.count, maxLength - 2) + 2)
            XCTAssertTrue(e.ids.allSatisfy { $0 >= 0 && Int($0) < t.vocabularySize }, "seed case \(k)")
            XCTAssertEqual(e.typeIds.count, e.ids.count)
            if k % 7 == 0 {
                let other = randomText(&rng, length: Int.random(in: 0...400, using: &rng))
                let p = t.encodePair(text, other, maxLength: maxLength)
                XCTAssertLessThanOrEqual(p.ids.count, max(maxLength, 3))
                XCTAssertEqual(p.typeIds, p.typeIds.sorted(), "type ids are 0 … 0 1 … 1")
                XCTAssertEqual(p.typeIds.last, 1)
                XCTAssertEqual(p.ids.last, t.sepId)
            }
        }
    }

    func testTruncationKeepsThePrefixAndReportsIt() throws {
        let t = try TokenizerFixtures.tokenizer()
        let text = (0..<300).map { "word\($0 % 17)" }.joined(separator: " ")
        let full = t.encode(text, maxLength: Int.max)
        XCTAssertFalse(full.truncated)
        for maxLength in [2, 3, 4, 10, 64, 255, 256, full.ids.count - 1, full.ids.count, full.ids.count + 1] {
            let e = t.encode(text, maxLength: maxLength)
            let kept = max(0, maxLength - 2)
            XCTAssertEqual(e.ids, [t.clsId] + full.ids.dropFirst().dropLast().prefix(kept) + [t.sepId], "max \(maxLength)")
            XCTAssertEqual(e.truncated, full.ids.count > maxLength, "max \(maxLength)")
        }
        // 254 single-piece words fit in 256 with [CLS] and [SEP]; 255 do not.
        XCTAssertFalse(t.encode(Array(repeating: "word", count: 254).joined(separator: " "), maxLength: 256).truncated)
        XCTAssertTrue(t.encode(Array(repeating: "word", count: 255).joined(separator: " "), maxLength: 256).truncated)
        XCTAssertFalse(t.encode("", maxLength: 256).truncated)
        XCTAssertEqual(t.encode("", maxLength: 256).ids, [t.clsId, t.sepId])
        // Below the specials' own length the specials are still there.
        XCTAssertEqual(t.encode("hello", maxLength: 0), Encoding(ids: [101, 102], typeIds: [0, 0], truncated: true))
    }

    func testPairIsBuiltFromTheSingles() throws {
        let t = try TokenizerFixtures.tokenizer()
        let a = "A man is playing a guitar.", b = "Someone plays an instrument on stage tonight."
        let ea = t.encode(a, maxLength: 256).ids, eb = t.encode(b, maxLength: 256).ids
        let p = t.encodePair(a, b, maxLength: 256)
        XCTAssertEqual(p.ids, ea + eb.dropFirst())
        XCTAssertEqual(p.typeIds, [Int32](repeating: 0, count: ea.count) + [Int32](repeating: 1, count: eb.count - 1))
        XCTAssertFalse(p.truncated)
        // longest_first: the longer side loses pieces first.
        let long = Array(repeating: "word", count: 400).joined(separator: " ")
        let cut = t.encodePair(a, long, maxLength: 64)
        XCTAssertTrue(cut.truncated)
        XCTAssertEqual(cut.ids.count, 64)
        XCTAssertEqual(Array(cut.ids.prefix(ea.count)), ea, "the short side is kept whole")
    }

    func testConcurrentEncodingGivesTheSameIds() throws {
        let t = try TokenizerFixtures.tokenizer()
        var rng = SplitMix64(seed: 42)
        let texts = (0..<2_000).map { _ in randomText(&rng, length: Int.random(in: 0...120, using: &rng)) }
        let serial = texts.map { t.encode($0, maxLength: 128) }
        let results = UnsafeMutableBufferPointer<Encoding?>.allocate(capacity: texts.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in
            results[i] = t.encode(texts[i], maxLength: 128)
        }
        for i in texts.indices { XCTAssertEqual(results[i], serial[i]) }
    }
}
