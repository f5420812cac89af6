// MARK: - JSON values of job parameters and results

/// A JSON value: job parameters and results are whatever the job kind's
/// runner defines, so the queue stores them as plain JSON.
public enum JobValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JobValue])
    case object([String: JobValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JobValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JobValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(n):
            // Whole numbers as integers, so counts read as counts.
            if n.rounded() == n && abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    /// The member `key` of an object (nil otherwise or when absent).
    public subscript(key: String) -> JobValue? {
        if case let .object(o) = self { return o[key] }
        return nil
    }

    /// The string, if this is one.
    public var string: String? { if case let .string(s) = self { return s }; return nil }
    /// The number, if this is one.
    public var number: Double? { if case let .number(n) = self { return n }; return nil }
    /// The Boolean, if this is one.
    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    /// The elements, if this is an array.
    public var array: [JobValue]? { if case let .array(a) = self { return a }; return nil }
    /// The members, if this is an object.
    public var object: [String: JobValue]? { if case let .object(o) = self { return o }; return nil }
}
