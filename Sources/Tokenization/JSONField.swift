// Reading JSON files (tokenizer.json, tokenizer_config.json) with errors
// that name the file and the JSON path of the field that is wrong.

import Foundation

/// The bytes of a file, or a TokenizerError naming it.
func readTokenizerFile(_ url: URL) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
        throw TokenizerError.fileNotFound(path: url.path)
    }
    if isDirectory.boolValue { throw TokenizerError.unreadable(path: url.path, reason: "is a directory") }
    do {
        return try Data(contentsOf: url)
    } catch {
        throw TokenizerError.unreadable(path: url.path, reason: error.localizedDescription)
    }
}

/// A JSON file whose top level is an object.
struct JSONFile {
    let root: JSONField

    init(_ url: URL) throws {
        let data = try readTokenizerFile(url)
        let value: TokenizerJSON
        do {
            value = try TokenizerJSON.parse([UInt8](data))
        } catch let error as JSONSyntaxError {
            throw TokenizerError.invalidJSON(path: url.path, reason: "\(error) (the file has \(data.count) bytes)")
        }
        guard case .object = value else {
            throw TokenizerError.invalidJSON(path: url.path, reason: "the top level is not an object")
        }
        root = JSONField(path: url.path, name: "", value: value)
    }
}

/// A value found at a JSON path, with typed accessors that throw `.invalidField`.
struct JSONField {
    /// The file.
    let path: String
    /// The JSON path, e.g. `model.vocab` or `added_tokens[3].content`.
    let name: String
    /// nil when absent.
    let value: TokenizerJSON?

    func child(_ key: String) -> JSONField {
        JSONField(path: path, name: name.isEmpty ? key : name + "." + key, value: value?[key])
    }

    func index(_ k: Int) -> JSONField {
        var element: TokenizerJSON?
        if case .array(let list)? = value, k < list.count { element = list[k] }
        return JSONField(path: path, name: "\(name)[\(k)]", value: element)
    }

    /// Absent or null.
    var isMissing: Bool { value == nil || value!.isNull }

    /// The `type` member of an object, if it is a string.
    var type: String? {
        if case .string(let s)? = value?["type"] { return s }
        return nil
    }

    func fail(_ reason: String) -> TokenizerError {
        .invalidField(path: path, field: name, reason: isMissing ? "is missing" : reason)
    }

    /// The members of an object, in file order.
    func members() throws -> [(key: String, value: TokenizerJSON)] {
        guard case .object(let m)? = value else { throw fail("is not an object") }
        return m
    }

    /// The elements of a list, as fields.
    func elements() throws -> [JSONField] {
        guard case .array(let list)? = value else { throw fail("is not a list") }
        return list.indices.map { index($0) }
    }

    func string() throws -> String {
        guard case .string(let s)? = value else { throw fail("is not a string") }
        return s
    }

    func string(default d: String) throws -> String {
        isMissing ? d : try string()
    }

    func int(in range: ClosedRange<Int>) throws -> Int {
        guard case .number(let n)? = value, let i = Int(exactly: n), range.contains(i) else {
            throw fail("is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    func int(default d: Int, in range: ClosedRange<Int>) throws -> Int {
        isMissing ? d : try int(in: range)
    }

    func bool(default d: Bool) throws -> Bool {
        if isMissing { return d }
        guard case .bool(let b)? = value else { throw fail("is not true or false") }
        return b
    }

    func optionalBool() throws -> Bool? {
        if isMissing { return nil }
        guard case .bool(let b)? = value else { throw fail("is not true, false or null") }
        return b
    }
}
