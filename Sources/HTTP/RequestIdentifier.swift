// MARK: - RequestIdentifier

/// Request ids: the client's `X-Request-Id` when it is sane, else a new one.
enum RequestIdentifier {
    /// Longest accepted incoming id.
    static let maxLength = 128

    /// Whether `value` may be echoed: 1…128 characters of `A-Z a-z 0-9 - _ . : / + =`.
    static func isSane(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
            case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"),
                 UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "="): return true
            default: return false
            }
        }
    }

    /// `<server prefix>-<connection>-<request>` in hex: unique per process
    /// run without a shared counter.
    static func generate(prefix: String, connection: Int, sequence: Int) -> String {
        prefix + "-" + String(connection, radix: 16) + "-" + String(sequence, radix: 16)
    }

    /// Eight random hex digits identifying one server start.
    static func newPrefix() -> String {
        let value = UInt32.random(in: 0...UInt32.max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}
