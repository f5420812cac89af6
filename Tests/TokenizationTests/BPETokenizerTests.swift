import Tokenization
import XCTest

/// The byte-level BPE tokenizer on a hand-made vocabulary; parity with
/// llama.cpp on the real vocabulary lives in GeneratorTests.
final class BPETokenizerTests: XCTestCase {
    func pieces(_ pre: ByteLevelPreTokenizer, _ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        return pre.split(s).map { r in
            var v = String.UnicodeScalarView()
            v.append(contentsOf: s[r])
            return String(v)
        }
    }

    func testByteAlphabetIsABijection() {
        XCTAssertEqual(Set(ByteLevelEncoding.scalarForByte.map(\.value)).count, 256)
        XCTAssertEqual(ByteLevelEncoding.scalarForByte[32], "Ġ")
        XCTAssertEqual(ByteLevelEncoding.scalarForByte[10], "Ċ")
        XCTAssertEqual(ByteLevelEncoding.scalarForByte[65], "A")
        let all = (0...255).map(UInt8.init)
        XCTAssertEqual(ByteLevelEncoding.decode(ByteLevelEncoding.encode(all)), all)
    }

    func testGPT2Splitting() {
        XCTAssertEqual(pieces(.gpt2, "Hello world"), ["Hello", " world"])
        XCTAssertEqual(pieces(.gpt2, "don't stop"), ["don", "'t", " stop"])
        XCTAssertEqual(pieces(.gpt2, "a  b"), ["a", " ", " b"])
        XCTAssertEqual(pieces(.gpt2, "end   "), ["end", "   "])
        XCTAssertEqual(pieces(.gpt2, "x12 !!?"), ["x", "12", " !!?"])
        XCTAssertEqual(pieces(.gpt2, "line\n\nnext"), ["line", "\n", "\n", "next"])
    }

    func testSmolLMSplitsEveryDigit() {
        XCTAssertEqual(pieces(.smollm, "in 2024!"), ["in", " ", "2", "0", "2", "4", "!"])
        XCTAssertEqual(pieces(.smollm, "٣x"), ["٣", "x"])
    }

    func testLlama3Splitting() {
        XCTAssertEqual(pieces(.llama3, "Hello world"), ["Hello", " world"])
        XCTAssertEqual(pieces(.llama3, "DON'T"), ["DON", "'T"])
        XCTAssertEqual(pieces(.llama3, "12345"), ["123", "45"])
        XCTAssertEqual(pieces(.llama3, "(hello)"), ["(hello", ")"])
        XCTAssertEqual(pieces(.llama3, "a \n\n b"), ["a", " \n\n", " b"])
        XCTAssertEqual(pieces(.llama3, "x  y"), ["x", " ", " y"])
        XCTAssertEqual(pieces(.llama3, "ok.\n"), ["ok", ".\n"])
    }

    func testQwen2SplitsEveryDigitAndKeepsLlama3Rules() {
        XCTAssertEqual(pieces(.qwen2, "12345"), ["1", "2", "3", "4", "5"])
        XCTAssertEqual(pieces(.qwen2, "in 2024!"), ["in", " ", "2", "0", "2", "4", "!"])
        XCTAssertEqual(pieces(.qwen2, "DON'T"), ["DON", "'T"])
        XCTAssertEqual(pieces(.qwen2, "(hello)"), ["(hello", ")"])
        XCTAssertEqual(pieces(.qwen2, "a \n\n b"), ["a", " \n\n", " b"])
        XCTAssertEqual(ByteLevelPreTokenizer(ggufName: "qwen2"), .qwen2)
    }

    func testPiecesCoverTheText() {
        let text = "Mixed: 日本語 😀 e\u{301} \t\n 42 don't"
        for pre in ByteLevelPreTokenizer.allCases {
            XCTAssertEqual(pieces(pre, text).joined(), text, pre.rawValue)
        }
    }

    /// A toy vocabulary: bytes of "a", "b", "c", space, and merges a+b → ab, ab+c → abc, Ġ+a → Ġa.
    func toy() throws -> BPETokenizer {
        var tokens = ByteLevelEncoding.scalarForByte.map { String($0) }
        tokens += ["ab", "abc", "Ġa", "<|special|>", "<user>"]
        var types = [Int32](repeating: 1, count: tokens.count)
        types[tokens.count - 2] = 3  // control
        types[tokens.count - 1] = 4  // user-defined
        return try BPETokenizer(tokens: tokens, merges: ["a b", "ab c", "Ġ a"], types: types, preTokenizer: .gpt2)
    }

    func testMergesByRank() throws {
        let t = try toy()
        let ab = t.id(of: "ab")!, abc = t.id(of: "abc")!, ga = t.id(of: "Ġa")!
        XCTAssertEqual(t.encode("abc"), [abc])
        XCTAssertEqual(t.encode("abab"), [ab, ab])
        // " ab": a+b (rank 0) wins over Ġ+a (rank 2).
        XCTAssertEqual(t.encode("abc ab"), [abc, t.id(of: "Ġ")!, ab])
        XCTAssertEqual(t.encode(" ac"), [ga, t.id(of: "c")!])
        XCTAssertEqual(t.decode(t.encode("abc ab ca")), "abc ab ca")
    }

    func testSpecialTokens() throws {
        let t = try toy()
        let special = t.id(of: "<|special|>")!, user = t.id(of: "<user>")!
        XCTAssertEqual(t.encode("ab<|special|>ab", parseSpecial: true), [t.id(of: "ab")!, special, t.id(of: "ab")!])
        XCTAssertFalse(t.encode("<|special|>", parseSpecial: false).contains(special))
        XCTAssertEqual(t.encode("<user>", parseSpecial: false), [user])
        XCTAssertEqual(t.decode([special]), "")
        XCTAssertEqual(t.decode([special], special: true), "<|special|>")
    }

    func testInvalidInputs() {
        XCTAssertThrowsError(try BPETokenizer(tokens: [], merges: [], types: [], preTokenizer: .gpt2))
        XCTAssertThrowsError(try BPETokenizer(tokens: ["a"], merges: [], types: [1, 1], preTokenizer: .gpt2))
        XCTAssertNil(ByteLevelPreTokenizer(ggufName: "no-such-pre"))
        XCTAssertEqual(ByteLevelPreTokenizer(ggufName: "llama-bpe"), .llama3)
        XCTAssertEqual(ByteLevelPreTokenizer(ggufName: "smollm"), .smollm)
    }
}
