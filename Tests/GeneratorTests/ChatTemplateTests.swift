import Generator
import XCTest

/// Chat formats recognised from Jinja sources, rendered without Jinja.
final class ChatTemplateTests: XCTestCase {
    static let llama3Source = """
    {% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}
    """

    func testRecognisesLlama3AndRendersIt() throws {
        let t = try ChatTemplate(source: Self.llama3Source)
        XCTAssertEqual(t, .llama3)
        let text = t.render([ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: " Hi ")])
        XCTAssertEqual(text, "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    func testChatMLWithAndWithoutDefaultSystem() throws {
        let qwenLike = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        let t = try ChatTemplate(source: qwenLike)
        XCTAssertEqual(t, .chatML(defaultSystem: "You are a helpful assistant."))
        XCTAssertEqual(t.render([ChatMessage(role: "user", content: "x")]),
                       "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(t.render([ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "x")], addGenerationPrompt: false),
                       "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nx<|im_end|>\n")
        XCTAssertEqual(ChatTemplate(name: "chatml"), .chatML(defaultSystem: nil))
    }

    func testUnknownTemplateIsAnErrorUnlessNamed() throws {
        XCTAssertThrowsError(try ChatTemplate(source: "{{ messages[0]['content'] }} [INST]")) {
            guard case .unknownChatTemplate? = $0 as? GeneratorError else { return XCTFail("\($0)") }
        }
        XCTAssertNil(ChatTemplate(name: "vicuna"))
        let m = try SharedModel.require()
        XCTAssertThrowsError(try m.chatTemplate(override: "vicuna"))
        XCTAssertEqual(try m.chatTemplate(override: "llama3"), .llama3)
    }

    func testLocalChatGeneratorAnswers() async throws {
        let m = try SharedModel.require()
        let gen = try LocalChatGenerator(model: m)
        let g = try await gen.chat([ChatMessage(role: "user", content: "What is the capital of France?")],
                                   options: GenerationOptions(maxTokens: 6))
        XCTAssertEqual(g.tokens.count, 6)
        XCTAssertFalse(g.text.isEmpty)
    }
}
