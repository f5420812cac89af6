// Errors from loading a tokenizer: each names the file and what is wrong
// with it, so a person can fix the model folder from the message alone.

/// Why a tokenizer could not be loaded.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file does not exist.
    case fileNotFound(path: String)
    /// The file exists but could not be read (permissions, a directory, not UTF-8).
    case unreadable(path: String, reason: String)
    /// The file is not valid JSON (truncated, wrong encoding, ...).
    case invalidJSON(path: String, reason: String)
    /// A field is missing or has the wrong type or value; `field` is its JSON path.
    case invalidField(path: String, field: String, reason: String)
    /// The file describes a tokenizer this implementation does not handle.
    case unsupported(path: String, feature: String)
    /// The vocabulary has no entries.
    case emptyVocabulary(path: String)
    /// A token the tokenizer needs (the unknown token, [CLS], [SEP]) is not in the vocabulary.
    case missingToken(path: String, token: String)
    /// A model folder has neither tokenizer.json nor vocab.txt.
    case noTokenizerFiles(directory: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): file not found"
        case .unreadable(let path, let reason):
            return "\(path): cannot be read: \(reason)"
        case .invalidJSON(let path, let reason):
            return "\(path): not valid JSON: \(reason)"
        case .invalidField(let path, let field, let reason):
            return "\(path): field '\(field)' \(reason)"
        case .unsupported(let path, let feature):
            return "\(path): unsupported tokenizer: \(feature)"
        case .emptyVocabulary(let path):
            return "\(path): the vocabulary is empty"
        case .missingToken(let path, let token):
            return "\(path): token '\(token)' is not in the vocabulary"
        case .noTokenizerFiles(let directory):
            return "\(directory): no tokenizer.json or vocab.txt in this model folder"
        }
    }

    /// The file (or folder) the error is about.
    public var path: String {
        switch self {
        case .fileNotFound(let path), .unreadable(let path, _), .invalidJSON(let path, _),
             .invalidField(let path, _, _), .unsupported(let path, _), .emptyVocabulary(let path),
             .missingToken(let path, _):
            return path
        case .noTokenizerFiles(let directory):
            return directory
        }
    }
}
