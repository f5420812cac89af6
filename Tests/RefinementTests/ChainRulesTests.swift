import Foundation
import Refinement
import XCTest

/// The filters and hygiene rules on hand-written outputs.
final class ChainRulesTests: XCTestCase {
    let anchor = "A man is playing a guitar on the street."

    func judge(_ text: String, _ list: [String]? = nil, hygiene: Bool = true, looped: Bool = false) -> ChainStop? {
        ChainRules.judge(text, list: list ?? [anchor], hygiene: hygiene, looped: looped)
    }

    func testCleaningStripsBackticksAndWhitespace() {
        XCTAssertEqual(ChainRules.clean("  ```A man plays.```\n"), "A man plays.")
        XCTAssertEqual(ChainRules.firstLine("A man plays.\n\nThis rewrite keeps the meaning."), "A man plays.")
    }

    func testPaperFiltersApplyWithAndWithoutHygiene() {
        for h in [true, false] {
            XCTAssertEqual(judge("", hygiene: h), .empty)
            XCTAssertEqual(judge("A man plays.\nMore.", hygiene: h), .newline)
        }
        XCTAssertNil(judge("Rewrite the sentence: a man plays.", hygiene: false), "meta-text is hygiene's, not the paper's")
    }

    func testHygieneStops() {
        XCTAssertEqual(judge("A man plays.", looped: true), .loop)
        XCTAssertEqual(judge(String(repeating: "A man plays a guitar. ", count: 6)), .tooLong)
        XCTAssertEqual(judge("a man is playing a guitar on the street"), .repeated)
        XCTAssertEqual(judge("The original sentence is about a man."), .metaText)
        XCTAssertEqual(judge("Rewrite: a man plays."), .metaText)
        XCTAssertEqual(judge("一个男人在街上弹吉他。"), .language)
        XCTAssertNil(judge("A man strums a guitar outdoors."))
        XCTAssertNil(judge("With pleasure, a man strums his guitar."), "phrases match at word starts only")
        XCTAssertNil(ChainRules.judge("The sentence was read out.", list: ["The judge read the sentence aloud."], hygiene: true, looped: false),
                     "a meta word the anchor itself uses is not meta-text")
    }

    func testCollapsedListAndLoopDetector() {
        XCTAssertTrue(ChainRules.collapsed(["a", "b", "c", "b", "b"]))
        XCTAssertTrue(ChainRules.collapsed(["a", "c", "c", "c", "d"]))
        XCTAssertFalse(ChainRules.collapsed(["a", "b", "c", "b", "d"]))
        let loop = LoopDetector()
        XCTAssertTrue(loop.isLooping([1, 7, 8, 7, 8, 7, 8]))
        XCTAssertFalse(loop.isLooping([1, 2, 0, 0, 0]), "a number's digits repeat without looping")
        XCTAssertTrue(loop.isLooping([1, 0, 0, 0, 0, 0]))
    }

    func testSettingsValidationNamesTheField() throws {
        var s = SynthesisSettings()
        XCTAssertEqual(s.rounds, 32); XCTAssertEqual(s.guidanceScale, 1.5); XCTAssertEqual(s.maxNewTokens, 100)
        XCTAssertEqual(s.ngramBlock, 3); XCTAssertTrue(s.hygiene); XCTAssertEqual(s.minListLength, 5)
        s.rounds = 0
        XCTAssertThrowsError(try s.validate()) {
            guard case let .invalidSetting(field, _)? = $0 as? SynthesisError else { return XCTFail("\($0)") }
            XCTAssertEqual(field, "rounds")
        }
        let decoded = try JSONDecoder().decode(SynthesisSettings.self, from: Data(#"{"rounds": 4, "ngram_block": 0}"#.utf8))
        XCTAssertEqual(decoded.rounds, 4); XCTAssertEqual(decoded.ngramBlock, 0); XCTAssertEqual(decoded.guidanceScale, 1.5)
    }
}

/// The lists file: whole lines, torn tails cut, anchors read back.
final class ListsFileTests: XCTestCase {
    func testTornTailIsCutAndAnchorsAreReadBack() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lists-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let f = try ListsFile(path: path)
        try f.append(["anchor": "one", "list": ["one", "uno"]])
        try f.append(["anchor": "two", "list": ["two", "dos"]])
        // A crash mid-append leaves part of a line.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        h.seekToEndOfFile(); h.write(Data(#"{"anchor":"thr"#.utf8)); h.closeFile()
        let reopened = try ListsFile(path: path)
        XCTAssertEqual(reopened.anchors, ["one", "two"])
        XCTAssertEqual(reopened.lines, 2)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("\n"))
        XCTAssertEqual(text.split(separator: "\n").count, 2)
        try reopened.append(["anchor": "three", "list": ["three", "tres"]])
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count, 3)
    }

    func testAGarbageLineIsAnErrorNotSilentlySkipped() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lists-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("not json\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ListsFile(path: path))
    }
}
