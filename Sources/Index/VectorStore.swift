import Numerics

// MARK: - Vector storage

/// Unit-normalised vectors in one contiguous row-major buffer
/// `(capacity, dimensions)`; row `slot` starts at `base + slot * dimensions`.
/// The buffer is 64-byte aligned, so with 16·j dimensions every row starts
/// on a cache line: a row is read in the fewest lines and no SIMD load
/// straddles two (malloc alone gives 16 bytes); large buffers ask for huge
/// pages (`IndexBuffer`).
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
        base = VectorStore.allocateRows(self.capacity * dimensions)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    private static func allocateRows(_ floats: Int) -> UnsafeMutablePointer<Float> {
        IndexBuffer.allocate(byteCount: max(floats, 1) * MemoryLayout<Float>.stride)
            .bindMemory(to: Float.self, capacity: max(floats, 1))
    }

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
        let fresh = VectorStore.allocateRows(c * dimensions)
        fresh.update(from: base, count: count * dimensions)
        UnsafeMutableRawPointer(base).deallocate()
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

// MARK: - Inner product for graph search

enum InnerProduct {
    /// `a · b` over `d` floats with four independent accumulators, so the
    /// FMA chain is not latency-bound; inlined into the graph's hot loops.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ d: Int) -> Float {
        typealias F8 = SIMD8<Float>
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var s0 = F8(repeating: 0), s1 = F8(repeating: 0), s2 = F8(repeating: 0), s3 = F8(repeating: 0)
        var i = 0
        while i + 32 <= d {
            let o = i * 4
            s0 = s0.addingProduct(ra.loadUnaligned(fromByteOffset: o, as: F8.self), rb.loadUnaligned(fromByteOffset: o, as: F8.self))
            s1 = s1.addingProduct(ra.loadUnaligned(fromByteOffset: o + 32, as: F8.self), rb.loadUnaligned(fromByteOffset: o + 32, as: F8.self))
            s2 = s2.addingProduct(ra.loadUnaligned(fromByteOffset: o + 64, as: F8.self), rb.loadUnaligned(fromByteOffset: o + 64, as: F8.self))
            s3 = s3.addingProduct(ra.loadUnaligned(fromByteOffset: o + 96, as: F8.self), rb.loadUnaligned(fromByteOffset: o + 96, as: F8.self))
            i += 32
        }
        while i + 8 <= d {
            s0 = s0.addingProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: F8.self), rb.loadUnaligned(fromByteOffset: i * 4, as: F8.self))
            i += 8
        }
        var s = ((s0 + s1) + (s2 + s3)).sum()
        while i < d {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }
}

extension InnerProduct {
    /// `a · b` for a Float `a` and a half-precision `b` over `d` values,
    /// Float accumulation (F16C converts eight halves per instruction).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, half b: UnsafePointer<Float16>, _ d: Int) -> Float {
        typealias F8 = SIMD8<Float>
        typealias H8 = SIMD8<Float16>
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var s0 = F8(repeating: 0), s1 = F8(repeating: 0), s2 = F8(repeating: 0), s3 = F8(repeating: 0)
        var i = 0
        while i + 32 <= d {
            s0 = s0.addingProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: F8.self), F8(rb.loadUnaligned(fromByteOffset: i * 2, as: H8.self)))
            s1 = s1.addingProduct(ra.loadUnaligned(fromByteOffset: i * 4 + 32, as: F8.self), F8(rb.loadUnaligned(fromByteOffset: i * 2 + 16, as: H8.self)))
            s2 = s2.addingProduct(ra.loadUnaligned(fromByteOffset: i * 4 + 64, as: F8.self), F8(rb.loadUnaligned(fromByteOffset: i * 2 + 32, as: H8.self)))
            s3 = s3.addingProduct(ra.loadUnaligned(fromByteOffset: i * 4 + 96, as: F8.self), F8(rb.loadUnaligned(fromByteOffset: i * 2 + 48, as: H8.self)))
            i += 32
        }
        while i + 8 <= d {
            s0 = s0.addingProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: F8.self), F8(rb.loadUnaligned(fromByteOffset: i * 2, as: H8.self)))
            i += 8
        }
        var s = ((s0 + s1) + (s2 + s3)).sum()
        while i < d {
            s += a[i] * Float(b[i])
            i += 1
        }
        return s
    }

    /// `a · b` for two half-precision vectors over `d` values, Float accumulation.
    @inline(__always)
    static func dot(half a: UnsafePointer<Float16>, half b: UnsafePointer<Float16>, _ d: Int) -> Float {
        typealias F8 = SIMD8<Float>
        typealias H8 = SIMD8<Float16>
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var s0 = F8(repeating: 0), s1 = F8(repeating: 0)
        var i = 0
        while i + 16 <= d {
            s0 = s0.addingProduct(F8(ra.loadUnaligned(fromByteOffset: i * 2, as: H8.self)), F8(rb.loadUnaligned(fromByteOffset: i * 2, as: H8.self)))
            s1 = s1.addingProduct(F8(ra.loadUnaligned(fromByteOffset: i * 2 + 16, as: H8.self)), F8(rb.loadUnaligned(fromByteOffset: i * 2 + 16, as: H8.self)))
            i += 16
        }
        var s = (s0 + s1).sum()
        while i < d {
            s += Float(a[i]) * Float(b[i])
            i += 1
        }
        return s
    }
}
