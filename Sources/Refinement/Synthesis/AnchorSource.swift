import Foundation

// MARK: - Reading anchor sentences

/// Anchor sentences from a file: JSONL (`.jsonl`: one object per line with
/// a `text`, `sentence` or `anchor` string) or plain text (one sentence per
/// line).
public enum AnchorSource {
    /// The sentences of `path`, in file order; throws naming the bad line.
    public static func read(path: String, field: String = "file") throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SynthesisError.invalidInput(field: field, message: "\(field): \(path) does not exist or cannot be read")
        }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
        guard path.hasSuffix(".jsonl") else { return lines }
        var out: [String] = []
        for (n, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let text = (object["text"] ?? object["sentence"] ?? object["anchor"]) as? String
            else {
                throw SynthesisError.invalidInput(
                    field: field, message: "\(field): \(path) line \(n + 1) is not a JSON object with a \"text\" string")
            }
            out.append(text)
        }
        return out
    }
}
