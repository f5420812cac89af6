import Storage

// MARK: - Filters (Qdrant syntax)

/// A metadata filter in Qdrant's syntax, applied during a search.
///
/// ```json
/// {"must":     [{"key": "lang", "match": {"value": "en"}}],
///  "should":   [{"key": "tag", "match": {"any": ["a", "b"]}}, {"must": [...]}],
///  "must_not": [{"key": "year", "range": {"lt": 2000}}]}
/// ```
///
/// A document passes when every `must` condition holds, at least one
/// `should` condition holds (when there are any), and no `must_not`
/// condition holds. Keys address nested objects with dots (`"a.b"`); when a
/// key leads to an array, a condition holds if it holds for any element, as
/// in Qdrant.
public struct Filter: Sendable, Hashable {
    /// Conditions that must all hold.
    public var must: [Condition]
    /// Conditions of which at least one must hold (ignored when empty).
    public var should: [Condition]
    /// Conditions of which none may hold.
    public var mustNot: [Condition]

    /// A filter from its three lists.
    public init(must: [Condition] = [], should: [Condition] = [], mustNot: [Condition] = []) {
        self.must = must
        self.should = should
        self.mustNot = mustNot
    }

    /// One condition of a filter.
    public indirect enum Condition: Sendable, Hashable {
        /// `{"key", "match": {"value": v}}`: the value at `key` equals `v` (string, number or boolean).
        case match(key: String, value: JSONValue)
        /// `{"key", "match": {"any": [...]}}`: the value at `key` equals one of these.
        case matchAny(key: String, values: [JSONValue])
        /// `{"key", "match": {"except": [...]}}`: the value at `key` exists and equals none of these.
        case matchExcept(key: String, values: [JSONValue])
        /// `{"key", "range": {"gt"|"gte"|"lt"|"lte": n}}`: a number within the bounds.
        case range(key: String, RangeBounds)
        /// `{"is_empty": {"key"}}`: the key is missing, null, or an empty array.
        case isEmpty(key: String)
        /// `{"is_null": {"key"}}`: the key is present and null.
        case isNull(key: String)
        /// `{"has_id": [...]}`: the document's id is one of these.
        case hasId(Set<String>)
        /// A nested filter (`{"must": …, "should": …, "must_not": …}`).
        case nested(Filter)
    }

    /// Numeric bounds; a nil bound is open.
    public struct RangeBounds: Sendable, Hashable {
        /// Exclusive lower bound.
        public var gt: Double?
        /// Inclusive lower bound.
        public var gte: Double?
        /// Exclusive upper bound.
        public var lt: Double?
        /// Inclusive upper bound.
        public var lte: Double?

        /// Bounds.
        public init(gt: Double? = nil, gte: Double? = nil, lt: Double? = nil, lte: Double? = nil) {
            self.gt = gt
            self.gte = gte
            self.lt = lt
            self.lte = lte
        }

        /// Whether `x` lies within every given bound.
        @inlinable public func contains(_ x: Double) -> Bool {
            if let b = gt, !(x > b) { return false }
            if let b = gte, !(x >= b) { return false }
            if let b = lt, !(x < b) { return false }
            if let b = lte, !(x <= b) { return false }
            return true
        }
    }
}

// MARK: - Evaluation

extension Filter {
    /// Whether a document with this id and metadata passes the filter.
    public func matches(id: String, metadata: [String: JSONValue]) -> Bool {
        for c in must where !c.holds(id: id, metadata: metadata) { return false }
        for c in mustNot where c.holds(id: id, metadata: metadata) { return false }
        if !should.isEmpty {
            return should.contains { $0.holds(id: id, metadata: metadata) }
        }
        return true
    }
}

extension Filter.Condition {
    /// Whether the condition holds for a document.
    public func holds(id: String, metadata: [String: JSONValue]) -> Bool {
        // Fast path, no allocation: a top-level key holding a scalar.
        switch self {
        case .match(let key, let value):
            if let v = metadata[key], v.isScalar { return v == value }
        case .matchAny(let key, let values):
            if let v = metadata[key], v.isScalar { return values.contains(v) }
        case .range(let key, let bounds):
            if let v = metadata[key], v.isScalar {
                if case .number(let x) = v { return bounds.contains(x) }
                return false
            }
        default: break
        }
        switch self {
        case .match(let key, let value):
            return Filter.values(at: key, in: metadata).contains { $0 == value }
        case .matchAny(let key, let values):
            return Filter.values(at: key, in: metadata).contains { values.contains($0) }
        case .matchExcept(let key, let values):
            let found = Filter.values(at: key, in: metadata)
            return !found.isEmpty && !found.contains { values.contains($0) }
        case .range(let key, let bounds):
            return Filter.values(at: key, in: metadata).contains {
                if case .number(let x) = $0 { return bounds.contains(x) }
                return false
            }
        case .isEmpty(let key):
            return Filter.values(at: key, in: metadata).allSatisfy { $0 == .null }
        case .isNull(let key):
            return Filter.raw(at: key, in: metadata) == .null
        case .hasId(let ids):
            return ids.contains(id)
        case .nested(let f):
            return f.matches(id: id, metadata: metadata)
        }
    }
}

extension JSONValue {
    /// True for null, booleans, numbers and strings.
    var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }
}

extension Filter {
    /// The value stored at a dotted key, without flattening arrays (nil when absent).
    static func raw(at key: String, in metadata: [String: JSONValue]) -> JSONValue? {
        if let v = metadata[key] { return v }  // a key that itself contains dots
        var current: JSONValue = .object(metadata)
        for part in key.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let o) = current, let next = o[String(part)] else { return nil }
            current = next
        }
        return current
    }

    /// The scalar values at a dotted key: arrays on the way are flattened,
    /// so `tags` holding `["a", "b"]` yields both. Empty when absent.
    static func values(at key: String, in metadata: [String: JSONValue]) -> [JSONValue] {
        if let v = metadata[key] { return flatten(v) }
        var level: [JSONValue] = [.object(metadata)]
        for part in key.split(separator: ".", omittingEmptySubsequences: false) {
            var next: [JSONValue] = []
            for v in level {
                switch v {
                case .object(let o): if let x = o[String(part)] { next.append(x) }
                case .array(let a):
                    for e in a { if case .object(let o) = e, let x = o[String(part)] { next.append(x) } }
                default: break
                }
            }
            if next.isEmpty { return [] }
            level = next
        }
        return level.flatMap(flatten)
    }

    private static func flatten(_ v: JSONValue) -> [JSONValue] {
        if case .array(let a) = v { return a.flatMap(flatten) }
        return [v]
    }
}
