// Coverage-guided fuzz target for the HTTP request parser (libFuzzer).
// Built by scripts/fuzz-http together with the parser's source files; no
// Foundation, no I/O. Any trap is a finding: the parser must answer every
// input with .complete, .incomplete or .invalid, and feeding the same bytes
// in pieces must give the same answers as feeding them at once.

/// Parses `bytes` as a pipelined stream in one go per request.
/// Returns (consumed per request, final outcome).
private func parseAtOnce(_ bytes: UnsafeBufferPointer<UInt8>, limits: HTTPRequestParser.Limits) -> [String] {
    var outcomes: [String] = []
    var parser = HTTPRequestParser(limits: limits)
    var offset = 0
    while offset < bytes.count {
        let rest = UnsafeBufferPointer(rebasing: bytes[offset...])
        switch parser.parse(rest) {
        case .complete(let request, let consumed):
            precondition(consumed > 0 && consumed <= rest.count, "consumed out of range")
            precondition(request.body.count <= limits.maxBodyBytes, "body over limit")
            _ = HTTPRequest(method: request.method, target: request.target, headers: request.headers)
            outcomes.append("complete \(consumed) \(request.method) \(request.target) \(request.body.count)")
            offset += consumed
        case .incomplete:
            outcomes.append("incomplete")
            return outcomes
        case .invalid(let error):
            outcomes.append("invalid \(error.status)")
            return outcomes
        }
    }
    return outcomes
}

/// The same stream fed in slices of `step` bytes to one parser per request.
private func parseInPieces(_ bytes: UnsafeBufferPointer<UInt8>, limits: HTTPRequestParser.Limits, step: Int) -> [String] {
    var outcomes: [String] = []
    var parser = HTTPRequestParser(limits: limits)
    var start = 0
    var end = min(bytes.count, step)
    while start < bytes.count {
        let window = UnsafeBufferPointer(rebasing: bytes[start..<end])
        switch parser.parse(window) {
        case .complete(let request, let consumed):
            precondition(consumed > 0 && consumed <= window.count, "consumed out of range")
            outcomes.append("complete \(consumed) \(request.method) \(request.target) \(request.body.count)")
            start += consumed
            if start > end { end = start }
        case .incomplete:
            if end == bytes.count {
                outcomes.append("incomplete")
                return outcomes
            }
            end = min(bytes.count, end + step)
        case .invalid(let error):
            outcomes.append("invalid \(error.status)")
            return outcomes
        }
    }
    return outcomes
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let small = HTTPRequestParser.Limits(maxHeaderBytes: 256, maxTargetBytes: 64, maxHeaderCount: 8, maxBodyBytes: 128)
    for limits in [HTTPRequestParser.Limits(), small] {
        let whole = parseAtOnce(bytes, limits: limits)
        let step = size > 0 ? Int(bytes[size - 1] % 7) + 1 : 1
        let pieces = parseInPieces(bytes, limits: limits, step: step)
        if whole != pieces { fatalError("incremental parse disagrees (step \(step)): \(whole) vs \(pieces)") }
    }
    return 0
}
