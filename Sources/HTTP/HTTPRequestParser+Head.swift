// MARK: - Head parsing
//
// Foundation-free (part of the parser fuzz target).

extension HTTPRequestParser {
    /// Framing-relevant facts gathered while reading header lines.
    private struct FramingFacts {
        var contentLength: Int?
        var contentLengthInvalid = false
        var contentLengthConflict = false
        var transferEncodings: [[UInt8]] = []
        var sawTransferEncoding = false
        var hostCount = 0
        var connectionClose = false
        var connectionKeepAlive = false
        var expectContinue = false
        var expectOther = false
        /// Occurrences of fields that must be single (see ``HTTPParseError/duplicateHeader``).
        var authorizationCount = 0
        var contentTypeCount = 0
        var contentEncodingCount = 0
        var duplicate: Bool { authorizationCount > 1 || contentTypeCount > 1 || contentEncodingCount > 1 }
    }

    /// Parses the head in `p[headStart..<end]`; line endings are already checked.
    mutating func parseHead(_ p: UnsafeBufferPointer<UInt8>, end: Int) -> Result<Head, HTTPParseError> {
        // Request line: METHOD SP target SP HTTP/x.y
        let lineEnd = firstLineEnd - 2
        var index = headStart
        while index < lineEnd && ASCII.isTokenChar(p[index]) { index += 1 }
        guard index > headStart, index < lineEnd, p[index] == ASCII.space else { return .failure(.invalidRequestLine) }
        let method = String(decoding: UnsafeBufferPointer(rebasing: p[headStart..<index]), as: UTF8.self)
        let targetStart = index + 1
        index = targetStart
        while index < lineEnd && p[index] > 0x20 && p[index] < 0x7F { index += 1 }
        guard index > targetStart, index < lineEnd, p[index] == ASCII.space else {
            if index - targetStart > limits.maxTargetBytes { return .failure(.targetTooLong) }
            return .failure(index == targetStart || index == lineEnd ? .invalidRequestLine : .invalidTarget)
        }
        if index - targetStart > limits.maxTargetBytes { return .failure(.targetTooLong) }
        let targetBytes = UnsafeBufferPointer(rebasing: p[targetStart..<index])
        guard let target = HTTPRequestParser.normalizeTarget(targetBytes, method: method) else {
            return .failure(.invalidTarget)
        }
        let version: HTTPVersion
        switch HTTPRequestParser.parseVersion(UnsafeBufferPointer(rebasing: p[(index + 1)..<lineEnd])) {
        case .failure(let error): return .failure(error)
        case .success(let parsed): version = parsed
        }

        // Header lines.
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(8)
        var facts = FramingFacts()
        var lineStart = firstLineEnd
        let headEnd = end - 2
        while lineStart < headEnd {
            var lineStop = lineStart
            while p[lineStop] != ASCII.cr { lineStop += 1 }
            let first = p[lineStart]
            if first == ASCII.space || first == ASCII.tab { return .failure(.obsoleteLineFolding) }
            var colon = lineStart
            while colon < lineStop && ASCII.isTokenChar(p[colon]) { colon += 1 }
            guard colon > lineStart, colon < lineStop, p[colon] == ASCII.colon else { return .failure(.invalidHeaderName) }
            var valueStart = colon + 1
            var valueEnd = lineStop
            while valueStart < valueEnd && (p[valueStart] == ASCII.space || p[valueStart] == ASCII.tab) { valueStart += 1 }
            while valueEnd > valueStart && (p[valueEnd - 1] == ASCII.space || p[valueEnd - 1] == ASCII.tab) { valueEnd -= 1 }
            for i in valueStart..<valueEnd where !ASCII.isFieldValueChar(p[i]) { return .failure(.invalidHeaderValue) }
            if headers.count >= limits.maxHeaderCount { return .failure(.tooManyHeaders) }
            let name = UnsafeBufferPointer(rebasing: p[lineStart..<colon])
            let value = UnsafeBufferPointer(rebasing: p[valueStart..<valueEnd])
            HTTPRequestParser.note(name: name, value: value, into: &facts)
            headers.append((name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
            lineStart = lineStop + 2
        }

        // Framing decisions (RFC 9112 §6).
        if version == .http1_1 && facts.hostCount != 1 { return .failure(.invalidHost) }
        if facts.hostCount > 1 { return .failure(.invalidHost) }
        if facts.expectOther { return .failure(.unsupportedExpectation) }
        if facts.duplicate { return .failure(.duplicateHeader) }
        var framing = Framing.none
        if facts.sawTransferEncoding {
            if facts.contentLength != nil || facts.contentLengthInvalid || facts.contentLengthConflict {
                return .failure(.contentLengthWithTransferEncoding)
            }
            if version != .http1_1 { return .failure(.invalidTransferEncoding) }
            var chunkedCount = 0
            for coding in facts.transferEncodings {
                if coding.isEmpty { return .failure(.invalidTransferEncoding) }
                if coding == Array("chunked".utf8) { chunkedCount += 1 } else { return .failure(.unsupportedTransferEncoding) }
            }
            guard chunkedCount == 1 else { return .failure(.invalidTransferEncoding) }
            framing = .chunked
        } else if facts.contentLengthInvalid {
            return .failure(.invalidContentLength)
        } else if facts.contentLengthConflict {
            return .failure(.conflictingContentLength)
        } else if let length = facts.contentLength {
            if length > limits.maxBodyBytes { return .failure(.bodyTooLarge) }
            framing = length > 0 ? .length(length) : .none
        } else if method == "POST" {
            // Only POST needs a body on every endpoint; a PUT or DELETE without
            // framing has an empty body (RFC 9112 §6.3), as `curl -X PUT` sends it.
            return .failure(.lengthRequired)
        }

        let keepAlive = version == .http1_1 ? !facts.connectionClose : (facts.connectionKeepAlive && !facts.connectionClose)
        let request = HTTPParsedRequest(
            method: method, target: target, version: version,
            headers: HTTPHeaders(fields: headers), body: [],
            keepAlive: keepAlive, expectsContinue: facts.expectContinue && version == .http1_1)
        return .success(Head(request: request, framing: framing))
    }

    // MARK: - Pieces

    /// `HTTP/1.1` → 1.1; other well-formed versions → 505; anything else → 400.
    private static func parseVersion(_ v: UnsafeBufferPointer<UInt8>) -> Result<HTTPVersion, HTTPParseError> {
        guard v.count == 8, v[0] == UInt8(ascii: "H"), v[1] == UInt8(ascii: "T"), v[2] == UInt8(ascii: "T"),
              v[3] == UInt8(ascii: "P"), v[4] == UInt8(ascii: "/"), v[6] == UInt8(ascii: "."),
              (0x30...0x39).contains(v[5]), (0x30...0x39).contains(v[7]) else { return .failure(.invalidRequestLine) }
        let version = HTTPVersion(major: Int(v[5] - 0x30), minor: Int(v[7] - 0x30))
        guard version == .http1_1 || version == .http1_0 else { return .failure(.unsupportedVersion) }
        return .success(version)
    }

    /// Origin-form stays as is; `*` only for OPTIONS; absolute-form
    /// (`http://host/path`) is reduced to its path and query.
    private static func normalizeTarget(_ t: UnsafeBufferPointer<UInt8>, method: String) -> String? {
        if t[0] == UInt8(ascii: "/") { return String(decoding: t, as: UTF8.self) }
        if t.count == 1 && t[0] == UInt8(ascii: "*") { return method == "OPTIONS" ? "*" : nil }
        for scheme in ["http://", "https://"] {
            let s = Array(scheme.utf8)
            guard t.count > s.count, (0..<s.count).allSatisfy({ ASCII.lower(t[$0]) == s[$0] }) else { continue }
            var index = s.count
            while index < t.count && t[index] != UInt8(ascii: "/") && t[index] != UInt8(ascii: "?") { index += 1 }
            if index == s.count { return nil }
            if index == t.count { return "/" }
            let rest = String(decoding: UnsafeBufferPointer(rebasing: t[index...]), as: UTF8.self)
            return t[index] == UInt8(ascii: "?") ? "/" + rest : rest
        }
        return nil
    }

    /// Records what framing needs from one header field.
    private static func note(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, into facts: inout FramingFacts) {
        switch name.count {
        case 4 where ASCII.equalsLowercased(name, "host"):
            facts.hostCount += 1
        case 13 where ASCII.equalsLowercased(name, "authorization"):
            facts.authorizationCount += 1
        case 12 where ASCII.equalsLowercased(name, "content-type"):
            facts.contentTypeCount += 1
        case 16 where ASCII.equalsLowercased(name, "content-encoding"):
            facts.contentEncodingCount += 1
        case 6 where ASCII.equalsLowercased(name, "expect"):
            if ASCII.equalsLowercased(value, "100-continue") { facts.expectContinue = true } else { facts.expectOther = true }
        case 10 where ASCII.equalsLowercased(name, "connection"):
            forEachListItem(value) { item in
                if ASCII.equalsLowercased(item, "close") { facts.connectionClose = true }
                if ASCII.equalsLowercased(item, "keep-alive") { facts.connectionKeepAlive = true }
            }
        case 14 where ASCII.equalsLowercased(name, "content-length"):
            // A list of identical values ("5, 5") counts as one (RFC 9110 §8.6).
            if value.isEmpty { facts.contentLengthInvalid = true }
            forEachListItem(value) { item in
                guard !item.isEmpty, item.count <= 18, item.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    facts.contentLengthInvalid = true
                    return
                }
                var number = 0
                for digit in item { number = number * 10 + Int(digit - 0x30) }
                if let existing = facts.contentLength, existing != number { facts.contentLengthConflict = true }
                facts.contentLength = number
            }
        case 17 where ASCII.equalsLowercased(name, "transfer-encoding"):
            facts.sawTransferEncoding = true
            if value.isEmpty { facts.transferEncodings.append([]) }
            forEachListItem(value) { item in facts.transferEncodings.append(item.map(ASCII.lower)) }
        default:
            break
        }
    }

    /// Calls `body` with each comma-separated item, OWS trimmed (empty items included).
    private static func forEachListItem(_ value: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard !value.isEmpty else { return }
        var start = 0
        while start <= value.count {
            var stop = start
            while stop < value.count && value[stop] != ASCII.comma { stop += 1 }
            var a = start, b = stop
            while a < b && (value[a] == ASCII.space || value[a] == ASCII.tab) { a += 1 }
            while b > a && (value[b - 1] == ASCII.space || value[b - 1] == ASCII.tab) { b -= 1 }
            body(UnsafeBufferPointer(rebasing: value[a..<b]))
            start = stop + 1
        }
    }
}
