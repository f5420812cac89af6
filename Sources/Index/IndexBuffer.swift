#if canImport(Glibc)
import Glibc
#endif

// MARK: - Index buffers: whole cache lines, huge pages when large

/// Allocates the index's buffers (vector rows, graph records, visited
/// marks, search heaps and lists).
///
/// Every buffer is whole, 64-byte-aligned cache lines, so a buffer one
/// searching thread writes on every step shares no line with another
/// thread's scratch.
///
/// A graph walk touches a few hundred rows at random addresses across
/// the whole buffer: with 4 KiB pages nearly every one also misses the TLB
/// once the index outgrows a few MiB (a page walk, often to DRAM, before
/// the row itself can load). Buffers of 2 MiB and more are therefore
/// 2 MiB-aligned and, on Linux, marked `MADV_HUGEPAGE`, so the kernel can
/// back them with transparent huge pages when it has them
/// (`/sys/kernel/mm/transparent_hugepage/enabled` set to `madvise` or
/// `always`; with `never` the hint is ignored and nothing else changes).
///
/// Free the result with `deallocate()`, as for any raw allocation.
enum IndexBuffer {
    static let hugePageBytes = 2 << 20

    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let bytes = max(byteCount, 64)
        guard bytes >= hugePageBytes else { return .allocate(byteCount: (bytes + 63) / 64 * 64, alignment: 64) }
        let rounded = (bytes + hugePageBytes - 1) / hugePageBytes * hugePageBytes
        let p = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: hugePageBytes)
        #if os(Linux)
        _ = madvise(p, rounded, MADV_HUGEPAGE)  // a hint: failure leaves ordinary pages
        #endif
        return p
    }
}
