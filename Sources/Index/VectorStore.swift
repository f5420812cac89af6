import Numerics

// MARK: - Vector storage

/// Unit-normalised vectors in one contiguous row-major buffer
/// `(capacity, dimensions)`; row `slot` starts at `base + slot * dimensions`.
/// Grows by doubling. Not thread-safe on its own: the owning `Collection`
/// serialises writers against readers.
final class VectorStore {
    let dimensions: Int
    private(set) var count = 0
    private(set) var capacity = 0
    private(set) var base: UnsafeMutablePointer<Float>

    init(dimensions: Int, capacity: Int = 1024) {
        self.dimensions = dimensions
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity * dimensions)
    }

    deinit { base.deallocate() }

    /// Bytes held by the buffer (capacity, not count).
    var allocatedBytes: Int { capacity * dimensions * MemoryLayout<Float>.stride }

    @inline(__always) func row(_ slot: Int) -> UnsafeMutablePointer<Float> {
        base + slot * dimensions
    }

    /// Makes room for `n` rows in total.
    func reserve(_ n: Int) {
        guard n > capacity else { return }
        var c = capacity
        while c < n { c *= 2 }
        let fresh = UnsafeMutablePointer<Float>.allocate(capacity: c * dimensions)
        fresh.update(from: base, count: count * dimensions)
        base.deallocate()
        base = fresh
        capacity = c
    }

    /// Appends an already normalised vector; returns its slot.
    @discardableResult
    func append(_ v: UnsafePointer<Float>) -> Int {
        reserve(count + 1)
        row(count).update(from: v, count: dimensions)
        count += 1
        return count - 1
    }

    /// Overwrites row `slot`.
    func set(_ slot: Int, _ v: UnsafePointer<Float>) {
        row(slot).update(from: v, count: dimensions)
    }

    /// Moves the last row into `slot` and drops the last row (swap-remove).
    func removeBySwappingLast(_ slot: Int) {
        if slot != count - 1 { row(slot).update(from: row(count - 1), count: dimensions) }
        count -= 1
    }

    /// Drops every row.
    func removeAll() { count = 0 }
}

// MARK: - Vector checks

enum VectorCheck {
    /// A normalised copy of `v`, or a typed error naming `field` when the
    /// length is wrong, a component is not finite, or the vector is zero.
    static func normalised(_ v: [Float], dimensions: Int, field: String) throws -> [Float] {
        guard v.count == dimensions else {
            throw IndexError.wrongDimensions(expected: dimensions, got: v.count, field: field)
        }
        var out = v
        var ok = true
        for x in v where !x.isFinite { ok = false; break }
        guard ok else { throw IndexError.invalidVector(field: field, reason: "contains NaN or infinity") }
        let norm = out.withUnsafeMutableBufferPointer { Kernels.l2Normalize($0.baseAddress!, dimensions) }
        guard norm > 0, norm.isFinite else {
            throw IndexError.invalidVector(field: field, reason: "is all zeros, so it has no direction for cosine similarity")
        }
        return out
    }
}
