import Storage

// MARK: - Parsing filters from JSON

/// Why a filter could not be read; `field` is the path into the request
/// (e.g. `filter.must[1].range.gt`) so the caller can fix it.
public struct FilterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Path to the offending part of the filter.
    public var field: String
    /// What is wrong with it.
    public var reason: String

    /// An error at `field`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    /// "`field`: `reason`".
    public var message: String { "\(field): \(reason)" }
    /// Same as `message`.
    public var description: String { message }
}

extension Filter {
    /// Reads a filter in Qdrant's syntax. `path` names the filter in error
    /// messages (the request field it came from).
    ///
    /// Accepted: an object with any of `must`, `should`, `must_not` — each a
    /// condition or a list of conditions. A condition is a nested filter,
    /// `{"key", "match": {"value" | "any" | "except"}}`,
    /// `{"key", "range": {"gt", "gte", "lt", "lte"}}`, `{"is_empty": {"key"}}`,
    /// `{"is_null": {"key"}}` or `{"has_id": [ids]}`. Unknown members are errors,
    /// so a typo does not silently match everything.
    public init(json: JSONValue, path: String = "filter") throws(FilterError) {
        guard case .object(let o) = json else {
            throw FilterError(field: path, reason: "must be an object with must/should/must_not, got \(json.typeName)")
        }
        for k in o.keys where !["must", "should", "must_not"].contains(k) {
            throw FilterError(field: "\(path).\(k)", reason: "unknown member; expected must, should or must_not")
        }
        self.init(
            must: try Filter.conditions(o["must"], path: "\(path).must"),
            should: try Filter.conditions(o["should"], path: "\(path).should"),
            mustNot: try Filter.conditions(o["must_not"], path: "\(path).must_not"))
    }

    private static func conditions(_ v: JSONValue?, path: String) throws(FilterError) -> [Condition] {
        switch v {
        case nil, .null?: return []
        case .array(let a)?:
            var out: [Condition] = []
            for (i, e) in a.enumerated() { out.append(try Condition(json: e, path: "\(path)[\(i)]")) }
            return out
        case .object?: return [try Condition(json: v!, path: path)]
        case let other?:
            throw FilterError(field: path, reason: "must be a list of conditions, got \(other.typeName)")
        }
    }
}

extension Filter.Condition {
    /// Reads one condition (see `Filter.init(json:path:)`).
    public init(json: JSONValue, path: String) throws(FilterError) {
        guard case .object(let o) = json else {
            throw FilterError(field: path, reason: "condition must be an object, got \(json.typeName)")
        }
        if o["must"] != nil || o["should"] != nil || o["must_not"] != nil {
            self = .nested(try Filter(json: json, path: path))
            return
        }
        if let ids = o["has_id"] {
            guard case .array(let a) = ids else { throw FilterError(field: "\(path).has_id", reason: "must be a list of ids") }
            var set = Set<String>()
            for (i, e) in a.enumerated() {
                switch e {
                case .string(let s): set.insert(s)
                case .number(let n) where n == n.rounded(): set.insert(String(Int64(n)))
                default: throw FilterError(field: "\(path).has_id[\(i)]", reason: "must be a string id")
                }
            }
            self = .hasId(set)
            return
        }
        for special in ["is_empty", "is_null"] {
            guard let inner = o[special] else { continue }
            guard case .object(let io) = inner, case .string(let key)? = io["key"], !key.isEmpty else {
                throw FilterError(field: "\(path).\(special)", reason: "must be {\"key\": \"…\"}")
            }
            self = special == "is_empty" ? .isEmpty(key: key) : .isNull(key: key)
            return
        }
        guard let keyValue = o["key"] else {
            throw FilterError(
                field: path,
                reason: "condition needs \"key\" with \"match\" or \"range\", or is a nested filter, is_empty, is_null or has_id")
        }
        guard case .string(let key) = keyValue, !key.isEmpty else {
            throw FilterError(field: "\(path).key", reason: "must be a non-empty string")
        }
        for k in o.keys where !["key", "match", "range"].contains(k) {
            throw FilterError(field: "\(path).\(k)", reason: "unknown member; expected match or range")
        }
        if let m = o["match"] {
            if o["range"] != nil { throw FilterError(field: path, reason: "use either match or range, not both") }
            self = try Filter.Condition.match(key: key, json: m, path: "\(path).match")
        } else if let r = o["range"] {
            self = .range(key: key, try Filter.RangeBounds(json: r, path: "\(path).range"))
        } else {
            throw FilterError(field: path, reason: "condition on key '\(key)' needs \"match\" or \"range\"")
        }
    }

    private static func match(key: String, json: JSONValue, path: String) throws(FilterError) -> Filter.Condition {
        guard case .object(let o) = json, o.count == 1, let (kind, v) = o.first else {
            throw FilterError(field: path, reason: "must be {\"value\": v}, {\"any\": [...]} or {\"except\": [...]}")
        }
        switch kind {
        case "value":
            try scalar(v, path: "\(path).value")
            return .match(key: key, value: v)
        case "any", "except":
            guard case .array(let a) = v else { throw FilterError(field: "\(path).\(kind)", reason: "must be a list") }
            for (i, e) in a.enumerated() { try scalar(e, path: "\(path).\(kind)[\(i)]") }
            return kind == "any" ? .matchAny(key: key, values: a) : .matchExcept(key: key, values: a)
        default:
            throw FilterError(field: "\(path).\(kind)", reason: "unknown match kind; expected value, any or except")
        }
    }

    private static func scalar(_ v: JSONValue, path: String) throws(FilterError) {
        switch v {
        case .string, .number, .bool: return
        default: throw FilterError(field: path, reason: "must be a string, number or boolean, got \(v.typeName)")
        }
    }
}

extension Filter.RangeBounds {
    /// Reads `{"gt"|"gte"|"lt"|"lte": number}` (at least one).
    public init(json: JSONValue, path: String) throws(FilterError) {
        guard case .object(let o) = json, !o.isEmpty else {
            throw FilterError(field: path, reason: "must be an object with gt, gte, lt or lte")
        }
        self.init()
        for (k, v) in o {
            guard case .number(let n) = v, n.isFinite else {
                throw FilterError(field: "\(path).\(k)", reason: "must be a finite number, got \(v.typeName)")
            }
            switch k {
            case "gt": gt = n
            case "gte": gte = n
            case "lt": lt = n
            case "lte": lte = n
            default: throw FilterError(field: "\(path).\(k)", reason: "unknown bound; expected gt, gte, lt or lte")
            }
        }
    }
}
