import Foundation
import HTTP

// MARK: - Decoding request bodies

/// Decodes JSON request bodies into API types, turning every failure into
/// an `APIError` that names the field and says what was expected.
enum RequestDecoding {
    /// Arrays and objects a body may nest (the body's own object is 1);
    /// `--max-json-depth` changes it. A search filter needs a few levels.
    static let defaultMaxDepth = 32

    /// Decodes `T` from the request body after checking its media type,
    /// its syntax, its nesting (at most `maxDepth`) and its member names
    /// (each once per object).
    static func decode<T: Decodable>(_ type: T.Type, from request: HTTPRequest,
                                     maxDepth: Int = RequestDecoding.defaultMaxDepth) throws -> T {
        if let contentType = request.headers["Content-Type"] {
            let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" || media.hasSuffix("+json") else {
                throw APIError.unsupportedMediaType(contentType)
            }
        }
        guard !request.body.isEmpty else {
            throw APIError(status: 400, code: "empty_body", message: "the request needs a JSON body")
        }
        // Syntax first, so that malformed JSON is a 400 and a well-formed
        // body with a bad field is a 422.
        let checked = try check(request.body, maxDepth: maxDepth)
        guard checked.isObject else {
            throw APIError(status: 422, code: "invalid_body", message: "the body must be a JSON object")
        }
        let data = Data(request.body)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as APIError {
            throw error
        } catch let DecodingError.keyNotFound(key, context) {
            throw APIError.invalidField(path(context.codingPath + [key]), "is required")
        } catch let DecodingError.typeMismatch(expected, context) {
            throw APIError.invalidField(path(context.codingPath), "expected \(describe(expected))")
        } catch let DecodingError.valueNotFound(expected, context) {
            throw APIError.invalidField(path(context.codingPath), "expected \(describe(expected)), got null")
        } catch let DecodingError.dataCorrupted(context) {
            // The syntax was checked above, so a complaint about the data
            // itself with no field is a number the decoder cannot hold.
            if context.codingPath.isEmpty { throw numberError(checked.inexactNumbers) }
            throw APIError.invalidField(path(context.codingPath), context.debugDescription)
        } catch {
            throw APIError(status: 422, code: "invalid_body", message: "\(error)")
        }
    }

    /// Runs ``JSONCheck`` and turns its refusals into API errors.
    static func check(_ body: [UInt8], maxDepth: Int) throws -> JSONCheck {
        switch JSONCheck.check(body, maxDepth: maxDepth) {
        case .success(let checked):
            return checked
        case .failure(.syntax(let offset, let detail)):
            throw APIError.malformed("\(detail) at byte \(offset); check quotes, commas and brackets")
        case .failure(.notUTF8):
            throw APIError.malformed("the body is not UTF-8")
        case .failure(.tooDeep(let limit, let path)):
            throw APIError(status: 422, code: "too_deep",
                           message: "the body nests arrays and objects more than \(limit) levels deep (at '\(path)'); the limit is \(limit) (--max-json-depth): flatten the request")
        case .failure(.duplicateKey(let path)):
            // Parsers differ on which copy wins, so neither is guessed.
            throw APIError(status: 400, code: "duplicate_key",
                           message: "member '\(path)' appears twice in one object; send each member once")
        }
    }

    /// The decoder refused a number without naming its field; name the
    /// numbers that can be the cause and say what to send instead.
    static func numberError(_ numbers: [JSONCheck.Number]) -> APIError {
        if let huge = numbers.first(where: { $0.kind == .beyondFloat }) {
            return APIError.invalidField(huge.path, "\(huge.text) is out of range; numbers must be within ±3.4e38")
        }
        if numbers.count == 1, let number = numbers.first {
            if number.kind == .beyondInteger {
                return APIError.invalidField(number.path, "\(number.text) is out of range for a count; send an integer below 2^63, such as 10")
            }
            return APIError.invalidField(number.path, "\(number.text) is not a whole number; send an integer such as 10")
        }
        if !numbers.isEmpty {
            let listed = numbers.prefix(3).map { "'\($0.path)' (\($0.text))" }.joined(separator: ", ")
            return APIError(status: 422, code: "invalid_field",
                            message: "a count must be a whole number (an integer such as 10), but one of \(listed) is not")
        }
        return APIError(status: 422, code: "invalid_field", message: "a number cannot be read; send integers such as 10 for counts")
    }

    static func path(_ keys: [CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
        }
        return out.isEmpty ? "(body)" : out
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type: return "an integer"
        case is Float.Type, is Double.Type: return "a number"
        case is [String].Type: return "an array of strings"
        case is [Float].Type: return "an array of numbers"
        default: return "\(type)"
        }
    }
}

/// A JSON field that may be one string or an array of strings
/// (`inputs`, `input`).
struct OneOrMany: Decodable, Sendable {
    var values: [String]
    var wasArray: Bool

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(String.self) {
            values = [one]
            wasArray = false
        } else if let many = try? container.decode([String].self) {
            values = many
            wasArray = true
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected a string or an array of strings"))
        }
    }
}

// MARK: - Encoding responses

/// Small, fast JSON writers for responses made mostly of floats (strings
/// go through `JSONString` of the HTTP module).
enum JSONWriter {
    /// Appends a float the way JSON expects (shortest round-trip form;
    /// non-finite values, which a model should never produce, become 0).
    static func append(_ value: Float, to out: inout [UInt8]) {
        if value.isFinite { out.append(contentsOf: value.description.utf8) } else { out.append(UInt8(ascii: "0")) }
    }

    /// Appends `[f, f, …]`.
    static func append(_ values: UnsafeBufferPointer<Float>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            append(v, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// A value encoded with JSONEncoder (for small structured responses).
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? Array(#"{"error":{"code":"internal","message":"encoding failed"}}"#.utf8)
    }
}

extension RanksmithService {
    /// Decodes a request body with this server's limits (`--max-json-depth`).
    func decodeBody<T: Decodable>(_ type: T.Type, from request: HTTPRequest) throws -> T {
        try RequestDecoding.decode(type, from: request, maxDepth: configuration.maxJSONDepth)
    }
}
