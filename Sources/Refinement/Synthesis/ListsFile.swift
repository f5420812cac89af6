#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// MARK: - Append-only JSONL of finished chains

/// A JSONL file that chains are appended to as they finish, one whole line
/// per `write(2)` on an `O_APPEND` descriptor, each followed by `fsync`, so
/// a crash leaves at most one torn last line. Opening it cuts a torn tail
/// off and reads the anchors already there, so a resumed run skips them:
/// no anchor is written twice and no line is torn.
public final class ListsFile {
    /// The file.
    public let path: String
    /// Anchors whose line is in the file.
    public private(set) var anchors: Set<String> = []
    /// Complete lines in the file.
    public private(set) var lines = 0
    private let fd: Int32

    /// Opens (creating) `path`, repairs a torn tail and reads its anchors.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SynthesisError.output("\(path): \(String(cString: strerror(errno)))") }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let whole = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            if whole < data.count {
                guard ftruncate(fd, off_t(whole)) == 0 else {
                    throw SynthesisError.output("\(path): cannot cut the torn last line: \(String(cString: strerror(errno)))")
                }
                _ = fsync(fd)
            }
            for line in data[..<whole].split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let anchor = object["anchor"] as? String
                else { throw SynthesisError.output("\(path): line \(lines + 1) is not a list record; move the file away to start over") }
                anchors.insert(anchor)
                lines += 1
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Appends `object` as one line and makes it durable.
    public func append(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count else {
            let reason = written < 0 ? String(cString: strerror(errno)) : "short write (disk full?)"
            // Cut what a short write left, so the file keeps only whole lines.
            if written > 0, let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int {
                _ = ftruncate(fd, off_t(size - written))
            }
            throw SynthesisError.output("\(path): \(reason)")
        }
        guard fsync(fd) == 0 else { throw SynthesisError.output("\(path): fsync: \(String(cString: strerror(errno)))") }
        if let anchor = object["anchor"] as? String { anchors.insert(anchor) }
        lines += 1
    }
}
