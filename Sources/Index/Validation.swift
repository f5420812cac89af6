import Foundation
import Storage

// MARK: - Input checks

/// Checks on caller input, run before anything is written; each failure
/// names the field so the Service can answer 422 with it.
enum Validation {
    /// Ids are 1…`Limits.maxIdBytes` UTF-8 bytes without NUL.
    static func id(_ id: String, field: String) throws {
        let n = id.utf8.count
        if n == 0 { throw IndexError.invalidId(field: field, reason: "must not be empty") }
        if n > Limits.maxIdBytes {
            throw IndexError.invalidId(field: field, reason: "is \(n) bytes long, the limit is \(Limits.maxIdBytes)")
        }
        if id.utf8.contains(0) { throw IndexError.invalidId(field: field, reason: "must not contain NUL") }
    }

    /// Metadata nests at most 32 levels and holds only finite numbers.
    static func metadata(_ m: [String: JSONValue], field: String) throws {
        for (k, v) in m { try value(v, field: "\(field).\(k)", depth: 1) }
    }

    private static func value(_ v: JSONValue, field: String, depth: Int) throws {
        if depth > 32 { throw IndexError.invalidMetadata(field: field, reason: "nested deeper than 32 levels") }
        switch v {
        case .number(let n) where !n.isFinite:
            throw IndexError.invalidMetadata(field: field, reason: "numbers must be finite")
        case .array(let a):
            for (i, e) in a.enumerated() { try value(e, field: "\(field)[\(i)]", depth: depth + 1) }
        case .object(let o):
            for (k, e) in o { try value(e, field: "\(field).\(k)", depth: depth + 1) }
        default: break
        }
    }

    /// Metadata given as a JSON value must be an object.
    static func metadataObject(_ v: JSONValue, field: String) throws -> [String: JSONValue] {
        switch v {
        case .object(let o): return o
        case .null: return [:]
        default: throw IndexError.invalidMetadata(field: field, reason: "must be a JSON object, got \(v.typeName)")
        }
    }

    /// Collection names: 1…128 characters from `[A-Za-z0-9_-]`.
    static func name(_ name: String) throws {
        let ok = !name.isEmpty && name.utf8.count <= Limits.maxNameBytes
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
            }
        if !ok { throw IndexError.invalidName(name) }
    }
}

extension Document {
    /// A document whose metadata arrives as any JSON value (as in a request
    /// body); throws `invalidMetadata` naming `field` unless it is an object
    /// (null counts as empty).
    public init(id: String, text: String, metadataJSON: JSONValue, field: String = "metadata") throws {
        self.init(id: id, text: text, metadata: try Validation.metadataObject(metadataJSON, field: field))
    }
}
