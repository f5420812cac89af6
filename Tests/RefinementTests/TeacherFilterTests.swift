import Encoder
import Foundation
import Refinement
import Storage
import XCTest

/// The teacher filter on hand-made lists, scored with the real
/// all-MiniLM-L6-v2 vectors: a near-copy round is cut, an off-topic round is
/// cut, a list that does not fall is dropped, a good list is kept whole.
final class TeacherFilterTests: XCTestCase {
    static let model = try! BertModel(directory: RefinementPaths.model)

    /// Drifts away from the anchor a little further every round.
    static let good = [
        "A man is playing a guitar on the street.",
        "A man plays the guitar outside on the road.",
        "A man plays guitar music in the city.",
        "A musician plays an instrument in the city.",
        "A musician performs a song for people.",
        "A singer performs a song on a stage.",
        "A band plays guitars at a concert.",
    ]

    func judge(_ list: [String], _ settings: TeacherFilterSettings = TeacherFilterSettings()) -> TeacherFilterOutcome {
        TeacherFilter(settings: settings).judge([list], teacher: Self.model)[0]
    }

    func testAGoodListIsKeptWhole() {
        let o = judge(Self.good)
        XCTAssertEqual(o.kept, Self.good)
        XCTAssertNil(o.reason)
        XCTAssertLessThan(o.spearman ?? 0, -0.3)
    }

    func testANearCopyRoundIsCut() {
        var list = Array(Self.good.prefix(5))
        list.append("A musician performs a song for the people.")  // round 5: near-copy of round 4
        list.append(Self.good[5])
        let o = judge(list)
        XCTAssertEqual(o.reason, .nearCopy)
        XCTAssertEqual(o.cutAt, 5)
        XCTAssertEqual(o.kept, Array(Self.good.prefix(5)))
    }

    func testAnOffTopicRoundIsCut() {
        var list = Array(Self.good.prefix(5))
        list.append("Quarterly tax filings are due at the end of April.")  // round 5: off the anchor's topic
        list.append(Self.good[5])
        let o = judge(list)
        XCTAssertEqual(o.reason, .offTopic)
        XCTAssertEqual(o.cutAt, 5)
        XCTAssertEqual(o.kept, Array(Self.good.prefix(5)))
    }

    func testACutLeavingTooFewSentencesDropsTheList() {
        let list = [Self.good[0], Self.good[1], "A man plays the guitar outside on the road!", Self.good[3], Self.good[4], Self.good[5]]
        let o = judge(list)
        XCTAssertNil(o.kept)
        XCTAssertEqual(o.reason, .nearCopy)
        XCTAssertEqual(o.cutAt, 2)
    }

    func testAListThatDoesNotFallIsDropped() {
        // The rewrites come back towards the anchor: similarity rises with rank.
        let list = [Self.good[0]] + Self.good[1...].reversed()
        let o = judge(list)
        XCTAssertNil(o.kept)
        XCTAssertEqual(o.reason, .notFalling)
        XCTAssertGreaterThan(o.spearman ?? -1, -0.3)
    }

    func testOffKeepsEverythingAndEachRuleCanBeLoosened() {
        let rising = [Self.good[0]] + Self.good[1...].reversed()
        var off = TeacherFilterSettings()
        off.enabled = false
        let f = TeacherFilter(settings: off).filter([rising, Self.good], teacher: Self.model)
        XCTAssertEqual(f.lists, [rising, Self.good])
        XCTAssertFalse(f.report.enabled)
        var loose = TeacherFilterSettings()
        loose.maxSpearman = 1
        XCTAssertEqual(judge(rising, loose).kept, rising)
    }

    func testTheReportCountsListsAndRoundsByReason() throws {
        var nearCopy = Array(Self.good.prefix(5))
        nearCopy += ["A musician performs a song for the people.", Self.good[5]]
        let rising = [Self.good[0]] + Self.good[1...].reversed()
        let (kept, r) = TeacherFilter().filter([Self.good, nearCopy, rising], teacher: Self.model)
        XCTAssertEqual(kept, [Self.good, Array(Self.good.prefix(5))])
        XCTAssertEqual(r.listsIn, 3)
        XCTAssertEqual(r.listsKept, 1)
        XCTAssertEqual(r.listsCut, 1)
        XCTAssertEqual(r.listsDropped, 1)
        XCTAssertEqual(r.cutBy, ["near_copy": 1])
        XCTAssertEqual(r.droppedBy, ["not_falling": 1])
        XCTAssertEqual(r.roundsIn, 18)
        XCTAssertEqual(r.roundsKept, 6 + 4)
        XCTAssertEqual(r.roundsRemovedBy, ["near_copy": 2, "not_falling": 6])
    }

    func testFilteringAFileWritesKeptAndDroppedLinesAndIsIdempotent() throws {
        let dir = try RefinementPaths.temporaryDirectory(self)
        var nearCopy = Array(Self.good.prefix(5))
        nearCopy += ["A musician performs a song for the people.", Self.good[5]]
        let rising = [Self.good[0]] + Self.good[1...].reversed()
        let lines = try [Self.good, nearCopy, rising].map {
            String(decoding: try JSONSerialization.data(withJSONObject: ["anchor": $0[0], "list": $0, "stopped": NSNull()]), as: UTF8.self)
        }
        let input = dir.appendingPathComponent("lists.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("kept.jsonl").path, dropped = dir.appendingPathComponent("dropped.jsonl").path
        let r = try TeacherFilter().filterFile(input: input, output: out, dropped: dropped, teacher: Self.model)
        XCTAssertEqual(r.listsOut, 2)
        let kept = try RankingLists(path: out)
        XCTAssertEqual(kept.lists, [Self.good, Array(Self.good.prefix(5))])
        let droppedText = try String(contentsOfFile: dropped, encoding: .utf8)
        XCTAssertTrue(droppedText.contains("\"reason\":\"not_falling\""), droppedText)
        // A second pass over the kept lists keeps them all, unchanged.
        let again = try TeacherFilter().filterFile(input: out, output: out + ".2", dropped: nil, teacher: Self.model)
        XCTAssertEqual(again.listsKept, 2)
        XCTAssertEqual(try RankingLists(path: out + ".2").lists, kept.lists)
    }

    func testSettingsFromJobFieldsNameTheBadField() throws {
        let s = try TeacherFilterSettings.parse(["teacher_filter": .bool(false), "filter_max_previous_cosine": .number(0.9)])
        XCTAssertFalse(s.enabled)
        XCTAssertEqual(s.maxPreviousCosine, 0.9)
        XCTAssertThrowsError(try TeacherFilterSettings.parse(["filter_min_anchor_cosine": .number(1.5)])) { e in
            guard case let SynthesisError.invalidSetting(field, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "filter_min_anchor_cosine")
        }
        XCTAssertThrowsError(try TeacherFilterSettings.parse(["teacher_filter": .string("yes")])) { e in
            guard case let SynthesisError.invalidSetting(field, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "teacher_filter")
        }
        XCTAssertThrowsError(try TeacherFilterSettings.parse(["filter_min_list_length": .number(2)]))
    }
}
