// MARK: - Row-major matrices

/// A dense row-major matrix of `Float`, `rows × cols`, element (r, c) at
/// `data[r * cols + c]`.
///
/// It is a value type backed by a Swift array (copy-on-write). Hot loops
/// take the pointer once with `withUnsafeMutableBufferPointer` and call the
/// kernels in `Kernels.swift` or `BLAS.swift`.
public struct Matrix: Equatable, Sendable {
    /// Number of rows.
    public private(set) var rows: Int
    /// Number of columns (the stride between rows).
    public let cols: Int
    /// Elements in row-major order, `rows * cols` of them.
    public var data: [Float]

    /// A zero-filled matrix.
    public init(rows: Int, cols: Int) {
        precondition(rows >= 0 && cols >= 0, "negative matrix shape")
        self.rows = rows
        self.cols = cols
        self.data = [Float](repeating: 0, count: rows * cols)
    }

    /// Wraps existing row-major data; `data.count` must be `rows * cols`.
    public init(rows: Int, cols: Int, data: [Float]) {
        precondition(data.count == rows * cols, "Matrix(\(rows)×\(cols)) given \(data.count) elements")
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// Element (r, c).
    @inlinable public subscript(r: Int, c: Int) -> Float {
        get { data[r * cols + c] }
        set { data[r * cols + c] = newValue }
    }

    /// A copy of row `r`.
    public func row(_ r: Int) -> [Float] {
        Array(data[(r * cols)..<((r + 1) * cols)])
    }

    /// Changes the number of rows, keeping the leading rows and zero-filling
    /// new ones. Used to reuse one activation buffer across batches.
    public mutating func resize(rows newRows: Int) {
        precondition(newRows >= 0)
        let need = newRows * cols
        if need > data.count {
            data.append(contentsOf: repeatElement(0, count: need - data.count))
        } else if need < data.count {
            data.removeLast(data.count - need)
        }
        rows = newRows
    }

    /// The transpose, as a new matrix (`cols × rows`).
    public func transposed() -> Matrix {
        var t = Matrix(rows: cols, cols: rows)
        for r in 0..<rows {
            for c in 0..<cols { t.data[c * rows + r] = data[r * cols + c] }
        }
        return t
    }
}
