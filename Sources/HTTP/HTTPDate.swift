#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - HTTPDate

/// The `Date` header line (RFC 9110 IMF-fixdate), formatted once per second
/// and shared, so responses don't format dates.
enum HTTPDate {
    private static let lock = Lock()
    nonisolated(unsafe) private static var cachedSecond = -1
    nonisolated(unsafe) private static var cachedLine: [UInt8] = []

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n` for the current second.
    static func headerLine() -> [UInt8] {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        let second = Int(now.tv_sec)
        return lock.withLock {
            if second != cachedSecond {
                cachedSecond = second
                cachedLine = Array(("Date: " + format(second) + "\r\n").utf8)
            }
            return cachedLine
        }
    }

    /// IMF-fixdate for Unix time `second`.
    static func format(_ second: Int) -> String {
        var time = time_t(second)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
