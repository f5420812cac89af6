// MARK: - Chunked body decoding
//
// Foundation-free (part of the parser fuzz target).
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   last-chunk   = 1*("0") [ chunk-ext ] CRLF
// Trailer fields are checked for shape and size, then dropped.

extension HTTPRequestParser {
    /// Longest chunk-size line accepted, extensions included.
    static let maxChunkLineBytes = 4096

    /// Decodes chunks from `chunkCursor`; answers the offset just past the
    /// final CRLF once the body is complete, or nil when more bytes are needed.
    mutating func decodeChunks(_ p: UnsafeBufferPointer<UInt8>) -> Result<Int?, HTTPParseError> {
        let count = p.count
        // Framing overhead is bounded too, so tiny chunks can't make the
        // connection buffer many times the body limit.
        let maxWireBytes = limits.maxBodyBytes * 2 + 64 * 1024
        while true {
            if chunkCursor - bodyStart > maxWireBytes { return .failure(.bodyTooLarge) }
            switch chunkPhase {
            case .size:
                let lineEnd: Int
                switch scanLine(p, from: chunkCursor, limit: HTTPRequestParser.maxChunkLineBytes) {
                case .found(let end): lineEnd = end
                case .incomplete: return .success(nil)
                case .tooLong, .invalid: return .failure(.invalidChunkSize)
                }
                guard let size = HTTPRequestParser.parseChunkSize(UnsafeBufferPointer(rebasing: p[chunkCursor..<lineEnd])) else {
                    return .failure(.invalidChunkSize)
                }
                chunkCursor = lineEnd + 2
                if size == 0 {
                    chunkPhase = .trailers
                } else {
                    if size > limits.maxBodyBytes - chunkedBody.count { return .failure(.bodyTooLarge) }
                    chunkedBody.reserveCapacity(chunkedBody.count + size)
                    chunkPhase = .data(remaining: size)
                }
            case .data(let remaining):
                let available = min(remaining, count - chunkCursor)
                if available == 0 { return .success(nil) }
                chunkedBody.append(contentsOf: UnsafeBufferPointer(rebasing: p[chunkCursor..<(chunkCursor + available)]))
                chunkCursor += available
                chunkPhase = remaining == available ? .dataEnd : .data(remaining: remaining - available)
            case .dataEnd:
                guard count - chunkCursor >= 2 else {
                    if count > chunkCursor && p[chunkCursor] != ASCII.cr { return .failure(.invalidChunkData) }
                    return .success(nil)
                }
                guard p[chunkCursor] == ASCII.cr, p[chunkCursor + 1] == ASCII.lf else { return .failure(.invalidChunkData) }
                chunkCursor += 2
                chunkPhase = .size
            case .trailers:
                let budget = limits.maxHeaderBytes - trailerBytes
                let lineEnd: Int
                switch scanLine(p, from: chunkCursor, limit: budget) {
                case .found(let end): lineEnd = end
                case .incomplete: return .success(nil)
                case .tooLong, .invalid: return .failure(.invalidTrailers)
                }
                if lineEnd == chunkCursor { return .success(lineEnd + 2) }
                guard HTTPRequestParser.isTrailerLine(UnsafeBufferPointer(rebasing: p[chunkCursor..<lineEnd])) else {
                    return .failure(.invalidTrailers)
                }
                trailerBytes += lineEnd + 2 - chunkCursor
                chunkCursor = lineEnd + 2
            }
        }
    }

    /// What ``scanLine(_:from:limit:)`` found.
    private enum LineScan {
        /// The line's CR is at this offset (LF follows).
        case found(Int)
        /// No line end yet, and the line is still within its limit.
        case incomplete
        /// More than `limit` bytes without a line end.
        case tooLong
        /// A bare CR or LF.
        case invalid
    }

    /// Looks for the CRLF ending a line of at most `limit` bytes starting at
    /// `start`. Decided by byte position only, so pieces and whole agree.
    /// Resumes where the previous call for the same line stopped, so a line
    /// trickling in byte by byte costs linear, not quadratic, time.
    private mutating func scanLine(_ p: UnsafeBufferPointer<UInt8>, from start: Int, limit: Int) -> LineScan {
        let stop = min(p.count, start + max(0, limit) + 1)
        var index = max(start, lineScanResume)
        while index < stop {
            let byte = p[index]
            if byte == ASCII.lf { return .invalid }
            if byte == ASCII.cr {
                guard index + 1 < p.count else {
                    lineScanResume = index
                    return .incomplete
                }
                return p[index + 1] == ASCII.lf ? .found(index) : .invalid
            }
            index += 1
        }
        lineScanResume = index
        return index - start > max(0, limit) ? .tooLong : .incomplete
    }

    /// `1*HEXDIG [ BWS ";" ext ]` → size; nil when malformed or above 2^60.
    private static func parseChunkSize(_ line: UnsafeBufferPointer<UInt8>) -> Int? {
        var index = 0
        var size = 0
        while index < line.count, let digit = PercentDecoding.hexValue(line[index]) {
            if index >= 15 { return nil }
            size = size << 4 | Int(digit)
            index += 1
        }
        guard index > 0 else { return nil }
        while index < line.count && (line[index] == ASCII.space || line[index] == ASCII.tab) { index += 1 }
        if index == line.count { return size }
        guard line[index] == ASCII.semicolon else { return nil }
        for i in (index + 1)..<line.count where !ASCII.isFieldValueChar(line[i]) { return nil }
        return size
    }

    /// A trailer field has the shape of a header line; it is not kept.
    private static func isTrailerLine(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < line.count && ASCII.isTokenChar(line[index]) { index += 1 }
        guard index > 0, index < line.count, line[index] == ASCII.colon else { return false }
        for i in (index + 1)..<line.count where !ASCII.isFieldValueChar(line[i]) { return false }
        return true
    }
}
