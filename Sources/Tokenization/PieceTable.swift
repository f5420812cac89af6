// A read-only hash map from UTF-8 byte strings to token ids, so WordPiece can
// look up any slice of a word without building a String for it.
//
// Layout: all keys back to back in one byte buffer; an entry records where
// its key starts, how long it is and its id; the slot array (a power of two,
// at most half full, linear probing) holds a 32-bit hash and an entry number.

/// Maps byte strings (vocabulary pieces) to ids. Immutable once built.
///
/// A struct of plain pointers, so copying it in the WordPiece loop costs no
/// reference counting (shared reference counts are what stop many threads
/// from scaling). Its owner calls `deallocate()` once, from its `deinit`.
struct PieceTable: @unchecked Sendable {
    // @unchecked: the buffers are written only in `init`, never after.

    private struct Slot { var hash: UInt32; var entry: Int32 }     // entry -1: empty
    private struct Entry { var offset: Int32; var length: Int32; var id: Int32 }

    /// (keyBytesCount) the keys, back to back.
    private let keyBytes: UnsafeMutablePointer<UInt8>
    /// (entryCount) where each key lies and its id.
    private let entries: UnsafeMutablePointer<Entry>
    /// (mask + 1) open-addressing slots.
    private let slots: UnsafeMutablePointer<Slot>
    private let mask: Int
    /// Number of distinct keys.
    let count: Int
    /// Length in bytes of the longest key: no longer slice can match.
    let maxKeyLength: Int

    /// Builds the table; a key given twice keeps the last id (as a Python dict would).
    init(_ pairs: [(key: ArraySlice<UInt8>, id: Int32)]) {
        var capacity = 16
        while capacity < pairs.count * 2 { capacity <<= 1 }
        let mask = capacity - 1
        let totalBytes = pairs.reduce(0) { $0 + $1.key.count }
        let keyBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(totalBytes, 1))
        let entries = UnsafeMutablePointer<Entry>.allocate(capacity: max(pairs.count, 1))
        let slots = UnsafeMutablePointer<Slot>.allocate(capacity: capacity)
        slots.initialize(repeating: Slot(hash: 0, entry: -1), count: capacity)

        var used = 0, entryCount = 0, longest = 0
        for (key, id) in pairs {
            let length = key.count
            let h = key.withUnsafeBufferPointer { Self.hash($0.baseAddress, length) }
            var i = Int(h) & mask
            var replaced = false
            while slots[i].entry >= 0 {
                let e = entries[Int(slots[i].entry)]
                if slots[i].hash == h && Int(e.length) == length
                    && key.withUnsafeBufferPointer({ memoryEqual(keyBytes + Int(e.offset), $0.baseAddress, length) }) {
                    entries[Int(slots[i].entry)].id = id
                    replaced = true
                    break
                }
                i = (i + 1) & mask
            }
            if replaced { continue }
            key.withUnsafeBufferPointer { src in
                if length > 0 { (keyBytes + used).initialize(from: src.baseAddress!, count: length) }
            }
            (entries + entryCount).initialize(to: Entry(offset: Int32(used), length: Int32(length), id: id))
            slots[i] = Slot(hash: h, entry: Int32(entryCount))
            used += length
            entryCount += 1
            longest = max(longest, length)
        }
        self.keyBytes = keyBytes
        self.entries = entries
        self.slots = slots
        self.mask = mask
        count = entryCount
        maxKeyLength = longest
    }

    /// Frees the buffers; no copy of the table may be used afterwards.
    func deallocate() {
        keyBytes.deallocate()
        entries.deallocate()
        slots.deallocate()
    }

    /// The id of the `length` bytes at `bytes`, or -1 if they are not a key.
    @inline(__always)
    func id(_ bytes: UnsafePointer<UInt8>, _ length: Int) -> Int32 {
        let h = Self.hash(bytes, length)
        var i = Int(h) & mask
        while true {
            let slot = slots[i]
            if slot.entry < 0 { return -1 }
            if slot.hash == h {
                let e = entries[Int(slot.entry)]
                if Int(e.length) == length && memoryEqual(keyBytes + Int(e.offset), bytes, length) { return e.id }
            }
            i = (i + 1) & mask
        }
    }

    /// The id of `key`, or nil.
    func id(_ key: some Collection<UInt8>) -> Int32? {
        let bytes = Array(key)
        let found = bytes.withUnsafeBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else {
                var empty: UInt8 = 0
                return id(&empty, 0)
            }
            return id(base, buffer.count)
        }
        return found >= 0 ? found : nil
    }

    /// FNV-1a, folded to 32 bits (pieces are short; this is not the bottleneck).
    @inline(__always)
    private static func hash(_ bytes: UnsafePointer<UInt8>?, _ length: Int) -> UInt32 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        if let bytes {
            for i in 0..<length { h = (h ^ UInt64(bytes[i])) &* 0x100_0000_01b3 }
        }
        return UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }
}

@inline(__always)
private func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>?, _ length: Int) -> Bool {
    guard let b else { return length == 0 }
    var i = 0
    while i < length {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
