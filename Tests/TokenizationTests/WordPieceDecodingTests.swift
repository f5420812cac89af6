// Decoding: ids back to text as Hugging Face `tokenizers` decodes them with
// BERT's WordPiece decoder. The expected strings are what
// `Tokenizer.from_file(".../all-MiniLM-L6-v2/tokenizer.json").decode(ids)`
// returns (the e2e suite compares against the package itself).

import XCTest
import Tokenization

final class WordPieceDecodingTests: XCTestCase {
    func testDecodeJoinsPiecesAndDropsSpecialTokens() throws {
        let t = try TokenizerFixtures.tokenizer()
        let ids: [Int64] = [101, 7592, 1010, 2088, 999, 102]
        XCTAssertEqual(try t.decode(ids), "hello, world!")
        XCTAssertEqual(try t.decode(ids, skipSpecialTokens: false), "[CLS] hello, world! [SEP]")
        XCTAssertEqual(try t.decode([]), "")
    }

    func testContinuationPiecesJoinTheirWord() throws {
        let t = try TokenizerFixtures.tokenizer()
        let ids = t.encode("unaffable tokenization", maxLength: 256).ids.map(Int64.init)
        XCTAssertEqual(try t.decode(ids), "unaffable tokenization")
    }

    func testCleanupIsPerPieceLikeTokenizers() throws {
        let t = try TokenizerFixtures.tokenizer()
        // "don't" is three pieces; tokenizers' cleanup only removes the
        // space before "'" when a space follows it, so it stays "don ' t".
        let ids = t.encode("I don't know; it's 3.14", maxLength: 256).ids.map(Int64.init)
        XCTAssertEqual(try t.decode(ids), "i don ' t know ; it ' s 3. 14")
    }

    func testRoundTripOfNormalisedText() throws {
        let t = try TokenizerFixtures.tokenizer()
        for text in ["a man is playing a guitar.", "paris is the capital of france!", "what?"] {
            XCTAssertEqual(try t.decode(t.encode(text, maxLength: 256).ids.map(Int64.init)), text)
        }
    }

    func testUnknownIdsAreRefusedWithTheirPlace() throws {
        let t = try TokenizerFixtures.tokenizer()
        XCTAssertThrowsError(try t.decode([101, 30522])) {
            XCTAssertEqual($0 as? WordPieceTokenizer.UnknownTokenId, .init(index: 1, id: 30522))
        }
        XCTAssertThrowsError(try t.decode([-1])) {
            XCTAssertEqual($0 as? WordPieceTokenizer.UnknownTokenId, .init(index: 0, id: -1))
        }
        XCTAssertTrue(t.hasPiece(0))
        XCTAssertFalse(t.hasPiece(Int64(Int32.max) + 1))
    }
}
