// MARK: - HTTPHeaders
//
// Foundation-free on purpose: the parser fuzz target compiles this file
// directly, without the rest of the module.

/// An ordered list of header fields with case-insensitive name lookup.
///
/// Order and duplicates are kept exactly as received (or added), because
/// some fields (`Set-Cookie`, `Vary`) are lists and because the access log
/// and tests want to see what was on the wire.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// The fields in order, as `(name, value)` pairs. Names keep their case.
    public private(set) var fields: [(name: String, value: String)]

    /// An empty header list.
    public init() { fields = [] }

    /// Headers from `(name, value)` pairs, in order.
    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    /// Headers from labelled pairs, as the parser builds them.
    init(fields: [(name: String, value: String)]) {
        self.fields = fields
    }

    /// Headers from a literal, in source order.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The number of fields (duplicates counted).
    public var count: Int { fields.count }

    /// The first value of the field named `name` (any case), or nil.
    public subscript(name: String) -> String? {
        for field in fields where HTTPHeaders.equalCaseInsensitive(field.name, name) {
            return field.value
        }
        return nil
    }

    /// Every value of the field named `name` (any case), in order.
    public func values(for name: String) -> [String] {
        fields.compactMap { HTTPHeaders.equalCaseInsensitive($0.name, name) ? $0.value : nil }
    }

    /// Whether a field named `name` (any case) is present.
    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Appends a field, keeping any existing fields of the same name.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces every field named `name` with one field, or appends it.
    public mutating func replaceOrAdd(name: String, value: String) {
        if let first = fields.firstIndex(where: { HTTPHeaders.equalCaseInsensitive($0.name, name) }) {
            fields[first].value = value
            var index = fields.count - 1
            while index > first {
                if HTTPHeaders.equalCaseInsensitive(fields[index].name, name) { fields.remove(at: index) }
                index -= 1
            }
        } else {
            fields.append((name: name, value: value))
        }
    }

    /// Removes every field named `name` (any case).
    public mutating func remove(name: String) {
        fields.removeAll { HTTPHeaders.equalCaseInsensitive($0.name, name) }
    }

    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    /// `Name: value` lines, for debugging.
    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    // MARK: - ASCII case folding

    /// Compares two header names ignoring ASCII case, without allocating.
    @inlinable
    public static func equalCaseInsensitive(_ lhs: String, _ rhs: String) -> Bool {
        var left = lhs.utf8.makeIterator()
        var right = rhs.utf8.makeIterator()
        while true {
            let a = left.next(), b = right.next()
            guard let x = a, let y = b else { return a == nil && b == nil }
            if x == y { continue }
            if (x | 0x20) != (y | 0x20) { return false }
            let lower = x | 0x20
            if lower < UInt8(ascii: "a") || lower > UInt8(ascii: "z") { return false }
        }
    }
}
