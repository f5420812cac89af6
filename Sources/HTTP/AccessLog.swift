#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - AccessLog

/// One access-log line as JSON:
/// `{"ts":…,"request_id":…,"method":…,"path":…,"status":…,"bytes":…,"duration_ms":…,"remote":…,"forwarded_for":…}`.
/// `ts` is Unix seconds with milliseconds; `bytes` are response body bytes
/// sent; `forwarded_for` appears only when the request had `X-Forwarded-For`.
enum AccessLog {
    static func line(requestId: String, method: String, path: String, status: Int, bytes: Int,
                     durationSeconds: Double, remote: String, forwardedFor: String?) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(200 + path.utf8.count)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        out.append(contentsOf: #"{"ts":"#.utf8)
        ResponseEncoder.appendDecimal(now.tv_sec, to: &out)
        out.append(UInt8(ascii: "."))
        let millis = Int(now.tv_nsec / 1_000_000)
        if millis < 100 { out.append(0x30) }
        if millis < 10 { out.append(0x30) }
        ResponseEncoder.appendDecimal(millis, to: &out)
        out.append(contentsOf: #","request_id":"#.utf8)
        JSONString.append(requestId, to: &out)
        out.append(contentsOf: #","method":"#.utf8)
        JSONString.append(method, to: &out)
        out.append(contentsOf: #","path":"#.utf8)
        JSONString.append(path, to: &out)
        out.append(contentsOf: #","status":"#.utf8)
        ResponseEncoder.appendDecimal(status, to: &out)
        out.append(contentsOf: #","bytes":"#.utf8)
        ResponseEncoder.appendDecimal(bytes, to: &out)
        out.append(contentsOf: #","duration_ms":"#.utf8)
        let micros = Int((max(0, durationSeconds) * 1_000_000).rounded())
        ResponseEncoder.appendDecimal(micros / 1000, to: &out)
        out.append(UInt8(ascii: "."))
        let fraction = micros % 1000
        if fraction < 100 { out.append(0x30) }
        if fraction < 10 { out.append(0x30) }
        ResponseEncoder.appendDecimal(fraction, to: &out)
        out.append(contentsOf: #","remote":"#.utf8)
        JSONString.append(remote, to: &out)
        if let forwardedFor {
            out.append(contentsOf: #","forwarded_for":"#.utf8)
            JSONString.append(forwardedFor, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
