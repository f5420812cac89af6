#if canImport(Glibc)
import Glibc
#endif

// MARK: - Large buffers on huge pages

/// Allocates the index's big buffers (vector rows, graph records, visited
/// marks). A graph walk touches a few hundred rows at random addresses
/// across the whole buffer: with 4 KiB pages nearly every one also misses
/// the TLB once the index outgrows a few MiB (a page walk, often to DRAM,
/// before the row itself can load). Buffers of 2 MiB and more are
/// therefore 2 MiB-aligned and, on Linux, marked `MADV_HUGEPAGE`, so the
/// kernel can back them with transparent huge pages when it has them
/// (`/sys/kernel/mm/transparent_hugepage/enabled` set to `madvise` or
/// `always`; with `never` the hint is ignored and nothing else changes).
/// Smaller buffers are 64-byte aligned (a cache line).
///
/// Free the result with `deallocate()`, as for any raw allocation.
enum LargeAllocation {
    static let hugePageBytes = 2 << 20

    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let bytes = max(byteCount, 64)
        guard bytes >= hugePageBytes else { return .allocate(byteCount: bytes, alignment: 64) }
        let rounded = (bytes + hugePageBytes - 1) / hugePageBytes * hugePageBytes
        let p = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: hugePageBytes)
        #if os(Linux)
        _ = madvise(p, rounded, MADV_HUGEPAGE)  // a hint: failure leaves ordinary pages
        #endif
        return p
    }
}
