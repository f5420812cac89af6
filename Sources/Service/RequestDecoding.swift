import Foundation
import HTTP

// MARK: - Decoding request bodies

/// Decodes JSON request bodies into API types, turning every failure into
/// an `APIError` that names the field and says what was expected.
enum RequestDecoding {
    /// Decodes `T` from the request body after checking its media type.
    static func decode<T: Decodable>(_ type: T.Type, from request: HTTPRequest) throws -> T {
        if let contentType = request.headers["Content-Type"] {
            let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" || media.hasSuffix("+json") else {
                throw APIError.unsupportedMediaType(contentType)
            }
        }
        guard !request.body.isEmpty else {
            throw APIError(status: 400, code: "empty_body", message: "the request needs a JSON body")
        }
        let data = Data(request.body)
        // Syntax first, so that malformed JSON is a 400 and a well-formed
        // body with a bad field is a 422.
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw APIError.malformed("check quotes, commas and brackets")
        }
        guard object is [String: Any] else {
            throw APIError(status: 422, code: "invalid_body", message: "the body must be a JSON object")
        }
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
            if context.codingPath.isEmpty {
                throw APIError(status: 422, code: "invalid_field",
                               message: "a number is out of range: integers must fit in 64 bits and floats in 32")
            }
            throw APIError.invalidField(path(context.codingPath), context.debugDescription)
        } catch {
            throw APIError(status: 422, code: "invalid_body", message: "\(error)")
        }
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

/// Small, fast JSON writers for responses made mostly of floats.
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
