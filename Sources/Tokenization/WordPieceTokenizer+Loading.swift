// Loading a WordPiece tokenizer from a model folder.
//
// tokenizer.json (Hugging Face tokenizers' serialisation), the fields read:
//   model:          {"type": "WordPiece", "vocab": {piece: id}, "unk_token",
//                    "continuing_subword_prefix" ("##"), "max_input_chars_per_word" (100)}
//   normalizer:     null | {"type": "BertNormalizer", "clean_text", "handle_chinese_chars",
//                           "strip_accents" (null: follow lowercase), "lowercase"}
//   pre_tokenizer:  {"type": "BertPreTokenizer"} (or a Sequence holding only that)
//   added_tokens:   [{"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"}]
//   post_processor: null | TemplateProcessing | BertProcessing
//   truncation:     null | {"max_length"}       padding: null | {"pad_id"}
// Anything else in those places is refused with `.unsupported`, rather
// than tokenised differently from the reference.
//
// vocab.txt (the older format): one piece per line, its id the line number
// (a piece listed twice keeps the later id, as Python's dict does). Settings
// come from tokenizer_config.json when present (do_lower_case,
// strip_accents, tokenize_chinese_chars, the special tokens) and otherwise
// are BERT's defaults; the result is what transformers' converter builds.

import Foundation

extension WordPieceTokenizer {
    /// Loads `tokenizer.json` from a sentence-transformers / Hugging Face
    /// model folder, or `vocab.txt` (+ `tokenizer_config.json`) when there is
    /// no tokenizer.json.
    public convenience init(modelDirectory: URL) throws {
        let json = modelDirectory.appendingPathComponent("tokenizer.json")
        let vocab = modelDirectory.appendingPathComponent("vocab.txt")
        if FileManager.default.fileExists(atPath: json.path) {
            try self.init(tokenizerJSON: json)
        } else if FileManager.default.fileExists(atPath: vocab.path) {
            let config = try VocabularyFileSettings.read(modelDirectory.appendingPathComponent("tokenizer_config.json"))
            try self.init(vocabFile: vocab, settings: config)
        } else {
            throw TokenizerError.noTokenizerFiles(directory: modelDirectory.path)
        }
    }

    /// Loads a tokenizer.json describing a WordPiece tokenizer.
    public convenience init(tokenizerJSON url: URL) throws {
        let path = url.path
        let root = try JSONFile(url).root
        func field(_ name: String) -> JSONField { root.child(name) }

        // Model.
        let modelField = field("model")
        _ = try modelField.members()
        if let type = modelField.type, type != "WordPiece" {
            throw TokenizerError.unsupported(path: path, feature: "model type '\(type)' (only WordPiece)")
        }
        let vocabMembers = try modelField.child("vocab").members()
        var vocabulary: [(piece: String, id: Int32)] = []
        vocabulary.reserveCapacity(vocabMembers.count)
        for (piece, value) in vocabMembers {
            let id = try JSONField(path: path, name: "model.vocab[\(piece)]", value: value).int(in: 0...Int(Int32.max))
            vocabulary.append((piece, Int32(id)))
        }
        guard !vocabulary.isEmpty else { throw TokenizerError.emptyVocabulary(path: path) }
        let unkToken = try modelField.child("unk_token").string(default: "[UNK]")
        let prefix = try modelField.child("continuing_subword_prefix").string(default: "##")
        let maxChars = try modelField.child("max_input_chars_per_word").int(default: 100, in: 0...Int(Int32.max))

        // Added tokens.
        var added: [AddedToken] = []
        if !field("added_tokens").isMissing {
            for f in try field("added_tokens").elements() {
                _ = try f.members()
                added.append(AddedToken(
                    content: try f.child("content").string(),
                    id: Int32(try f.child("id").int(in: 0...Int(Int32.max))),
                    singleWord: try f.child("single_word").bool(default: false),
                    lstrip: try f.child("lstrip").bool(default: false),
                    rstrip: try f.child("rstrip").bool(default: false),
                    normalized: try f.child("normalized").bool(default: true),
                    special: try f.child("special").bool(default: false)))
            }
        }

        let normalizer = try Self.normalizer(field("normalizer"))
        try Self.checkPreTokenizer(field("pre_tokenizer"))
        let postProcessor = try Self.postProcessor(field("post_processor"), added: added, vocabulary: vocabulary)

        var configuredMaxLength: Int?
        if !field("truncation").isMissing {
            configuredMaxLength = try field("truncation").child("max_length").int(in: 0...Int(Int32.max))
        }
        var padId: Int32?
        if !field("padding").isMissing {
            padId = Int32(try field("padding").child("pad_id").int(default: 0, in: 0...Int(Int32.max)))
        }
        try self.init(path: path, vocabulary: vocabulary, added: added, unkToken: unkToken, prefix: prefix,
                      maxInputCharsPerWord: maxChars, normalizer: normalizer, postProcessor: postProcessor,
                      padId: padId, configuredMaxLength: configuredMaxLength)
    }

    /// Loads a vocab.txt with BERT's default settings (strip accents when lowercasing).
    public convenience init(vocabFile: URL, lowercase: Bool) throws {
        var settings = VocabularyFileSettings()
        settings.lowercase = lowercase
        try self.init(vocabFile: vocabFile, settings: settings)
    }

    convenience init(vocabFile url: URL, settings: VocabularyFileSettings) throws {
        let path = url.path
        let data = try readTokenizerFile(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.unreadable(path: path, reason: "not UTF-8 text")
        }
        let lines = Self.pythonLines(text)
        guard !lines.isEmpty else { throw TokenizerError.emptyVocabulary(path: path) }
        let vocabulary = lines.enumerated().map { (piece: String(decoding: $0.element, as: UTF8.self), id: Int32($0.offset)) }
        var ids: [String: Int32] = [:]
        for (piece, id) in vocabulary { ids[piece] = id }
        // transformers' BertTokenizer registers its special tokens as added tokens.
        let added = settings.specialTokens.compactMap { token in ids[token].map { AddedToken(content: token, id: $0) } }
        guard let cls = ids[settings.clsToken] else { throw TokenizerError.missingToken(path: path, token: settings.clsToken) }
        guard let sep = ids[settings.sepToken] else { throw TokenizerError.missingToken(path: path, token: settings.sepToken) }
        let normalizer = BertNormalizer(cleanText: true, handleChineseChars: settings.tokenizeChineseChars,
                                        stripAccents: settings.stripAccents, lowercase: settings.lowercase)
        try self.init(path: path, vocabulary: vocabulary, added: added, unkToken: settings.unkToken, prefix: "##",
                      maxInputCharsPerWord: 100, normalizer: normalizer,
                      postProcessor: .bert(cls: cls, sep: sep), padId: ids[settings.padToken], configuredMaxLength: nil)
    }

    /// Splits text into lines the way Python's universal-newline readlines() does.
    private static func pythonLines(_ text: String) -> [ArraySlice<UInt8>] {
        let bytes = Array(text.utf8)
        var lines: [ArraySlice<UInt8>] = []
        var start = 0, i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") || bytes[i] == UInt8(ascii: "\r") {
                lines.append(bytes[start..<i])
                if bytes[i] == UInt8(ascii: "\r") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n") { i += 1 }
                start = i + 1
            }
            i += 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }
        return lines
    }

    /// The common tail of both loaders.
    private convenience init(path: String, vocabulary: [(piece: String, id: Int32)], added: [AddedToken],
                             unkToken: String, prefix: String, maxInputCharsPerWord: Int,
                             normalizer: BertNormalizer, postProcessor: PostProcessor,
                             padId: Int32?, configuredMaxLength: Int?) throws {
        let maxId = max(vocabulary.map(\.id).max() ?? 0, added.map(\.id).max() ?? 0)
        // Ids index arrays (here and in the encoder's embedding table): refuse
        // absurd ones rather than allocate for them.
        guard maxId < Self.maxTokenId else {
            throw TokenizerError.invalidField(path: path, field: "vocab",
                                              reason: "has id \(maxId); ids must be below \(Self.maxTokenId)")
        }
        var byPiece: [String: Int32] = [:]
        for (piece, id) in vocabulary { byPiece[piece] = id }
        for token in added where byPiece[token.content] == nil { byPiece[token.content] = token.id }
        guard let unk = byPiece[unkToken] else { throw TokenizerError.missingToken(path: path, token: unkToken) }
        guard let cls = postProcessor.firstSpecial ?? byPiece["[CLS]"] else {
            throw TokenizerError.missingToken(path: path, token: "[CLS]")
        }
        guard let sep = postProcessor.lastSpecial ?? byPiece["[SEP]"] else {
            throw TokenizerError.missingToken(path: path, token: "[SEP]")
        }
        var pieces = [String](repeating: "", count: Int(maxId) + 1)
        for (piece, id) in byPiece { pieces[Int(id)] = piece }
        var distinct = Set(vocabulary.map(\.id))
        for token in added { distinct.insert(token.id) }
        // Every id an encoding can hold must be a vocabulary id (the encoder indexes its embeddings with them).
        for case .special(let ids, _) in postProcessor.single + postProcessor.pair {
            for id in ids where !distinct.contains(id) {
                throw TokenizerError.invalidField(path: path, field: "post_processor",
                                                  reason: "uses id \(id), which is not in the vocabulary")
            }
        }
        if let padId, !distinct.contains(padId) {
            throw TokenizerError.invalidField(path: path, field: "padding.pad_id",
                                              reason: "is \(padId), which is not in the vocabulary")
        }
        let model = WordPieceModel(vocabulary: vocabulary, unkId: unk, continuingSubwordPrefix: prefix,
                                   maxInputCharsPerWord: maxInputCharsPerWord)
        self.init(model: model, normalizer: normalizer, addedTokens: added, postProcessor: postProcessor,
                  pieces: pieces, vocabularySize: distinct.count, clsId: cls, sepId: sep,
                  padId: padId ?? byPiece["[PAD]"] ?? 0, configuredMaxLength: configuredMaxLength)
    }

    /// Ids must be below this (2^24: far above any real vocabulary).
    static let maxTokenId: Int32 = 1 << 24

    // MARK: - tokenizer.json parts

    private static func normalizer(_ f: JSONField) throws -> BertNormalizer {
        guard !f.isMissing else { return .identity }
        var f = f
        _ = try f.members()
        if f.type == "Sequence", let list = try? f.child("normalizers").elements(), list.count == 1 {
            f = list[0]
            _ = try f.members()
        }
        let type = f.type ?? "?"
        guard type == "BertNormalizer" else {
            throw TokenizerError.unsupported(path: f.path, feature: "normalizer '\(type)' (only BertNormalizer)")
        }
        var n = BertNormalizer()
        n.cleanText = try f.child("clean_text").bool(default: true)
        n.handleChineseChars = try f.child("handle_chinese_chars").bool(default: true)
        n.stripAccents = try f.child("strip_accents").optionalBool()
        n.lowercase = try f.child("lowercase").bool(default: true)
        return n
    }

    private static func checkPreTokenizer(_ f: JSONField) throws {
        var f = f
        _ = try f.members()
        if f.type == "Sequence", let list = try? f.child("pretokenizers").elements(), list.count == 1 {
            f = list[0]
            _ = try f.members()
        }
        let type = f.type ?? "?"
        guard type == "BertPreTokenizer" else {
            throw TokenizerError.unsupported(path: f.path, feature: "pre_tokenizer '\(type)' (only BertPreTokenizer)")
        }
    }

    private static func postProcessor(_ f: JSONField, added: [AddedToken],
                                      vocabulary: [(piece: String, id: Int32)]) throws -> PostProcessor {
        guard !f.isMissing else { return .none }
        _ = try f.members()
        let type = f.type ?? "?"
        switch type {
        case "BertProcessing":
            func pair(_ name: String) throws -> Int32 {
                let p = try f.child(name).elements()
                guard p.count == 2 else { throw f.child(name).fail("is not a [token, id] pair") }
                _ = try p[0].string()
                return Int32(try p[1].int(in: 0...Int(Int32.max)))
            }
            return .bert(cls: try pair("cls"), sep: try pair("sep"))
        case "TemplateProcessing":
            var specialIds: [String: [Int32]] = [:]
            for (key, _) in try f.child("special_tokens").members() {
                let ids = try f.child("special_tokens").child(key).child("ids").elements()
                specialIds[key] = try ids.map { Int32(try $0.int(in: 0...Int(Int32.max))) }
            }
            func template(_ name: String) throws -> [PostProcessor.Piece] {
                return try f.child(name).elements().map { item in
                    _ = try item.members()
                    if item.child("SpecialToken").value != nil {
                        let s = item.child("SpecialToken")
                        let id = try s.child("id").string()
                        guard let ids = specialIds[id] else {
                            throw TokenizerError.invalidField(path: f.path, field: s.name + ".id",
                                                              reason: "names '\(id)', which is not in special_tokens")
                        }
                        return .special(ids: ids, typeId: Int32(try s.child("type_id").int(default: 0, in: 0...Int(Int32.max))))
                    }
                    let s = item.child("Sequence")
                    let which = try s.child("id").string()
                    guard which == "A" || which == "B" else {
                        throw TokenizerError.invalidField(path: f.path, field: s.name + ".id", reason: "is '\(which)', not A or B")
                    }
                    return .sequence(second: which == "B", typeId: Int32(try s.child("type_id").int(default: 0, in: 0...Int(Int32.max))))
                }
            }
            return PostProcessor(single: try template("single"), pair: try template("pair"))
        default:
            throw TokenizerError.unsupported(path: f.path, feature: "post_processor '\(type)'")
        }
    }
}

/// Settings for a vocab.txt tokenizer, from tokenizer_config.json when present.
struct VocabularyFileSettings {
    var lowercase = true
    var stripAccents: Bool? = nil
    var tokenizeChineseChars = true
    var unkToken = "[UNK]", clsToken = "[CLS]", sepToken = "[SEP]", padToken = "[PAD]", maskToken = "[MASK]"

    /// The special tokens, in the order transformers registers them.
    var specialTokens: [String] { [unkToken, sepToken, padToken, clsToken, maskToken] }

    /// Reads tokenizer_config.json; BERT's defaults if the file is absent.
    static func read(_ url: URL) throws -> VocabularyFileSettings {
        var s = VocabularyFileSettings()
        guard FileManager.default.fileExists(atPath: url.path) else { return s }
        let root = try JSONFile(url).root
        func field(_ name: String) -> JSONField { root.child(name) }
        s.lowercase = try field("do_lower_case").bool(default: true)
        s.stripAccents = try field("strip_accents").optionalBool()
        s.tokenizeChineseChars = try field("tokenize_chinese_chars").bool(default: true)
        // A special token is a string or an AddedToken object {"content": ...}.
        func token(_ name: String, _ fallback: String) throws -> String {
            let f = field(name)
            if case .object? = f.value { return try f.child("content").string() }
            return try f.string(default: fallback)
        }
        s.unkToken = try token("unk_token", s.unkToken)
        s.clsToken = try token("cls_token", s.clsToken)
        s.sepToken = try token("sep_token", s.sepToken)
        s.padToken = try token("pad_token", s.padToken)
        s.maskToken = try token("mask_token", s.maskToken)
        return s
    }
}
