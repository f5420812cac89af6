// MARK: - InputBuffer

/// Bytes read from a connection and not yet consumed by the parser. One
/// growable allocation per connection; reads land directly in its free tail,
/// and consumed bytes at the front are reclaimed by moving the rest down.
struct InputBuffer {
    private var storage: [UInt8] = []
    private var start = 0
    private var end = 0

    /// Unconsumed bytes.
    var count: Int { end - start }
    var isEmpty: Bool { end == start }

    /// Reads into free space (at least `minimumSpace` bytes of it) with
    /// `body`, which answers how many bytes it wrote (or nil for none).
    mutating func readInto<R>(minimumSpace: Int, _ body: (UnsafeMutableRawBufferPointer) -> (R, Int)) -> R {
        if storage.count - end < minimumSpace {
            if start > 0 {
                // Move the unconsumed bytes to the front before growing.
                let live = end - start
                storage.withUnsafeMutableBytes { raw in
                    raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: live)
                }
                start = 0
                end = live
            }
            if storage.count - end < minimumSpace {
                storage.append(contentsOf: repeatElement(0, count: max(minimumSpace, storage.count)))
            }
        }
        let (result, written) = storage.withUnsafeMutableBytes { raw in
            body(UnsafeMutableRawBufferPointer(rebasing: raw[end...]))
        }
        end += written
        return result
    }

    /// Runs `body` over the unconsumed bytes.
    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        storage.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
    }

    /// Drops `count` bytes from the front.
    mutating func consume(_ count: Int) {
        start += min(count, end - start)
        if start == end {
            start = 0
            end = 0
            // Don't keep a multi-megabyte buffer for an idle keep-alive connection.
            if storage.count > 256 * 1024 { storage = [] }
        }
    }

    /// Drops everything.
    mutating func removeAll() {
        consume(count)
    }
}
