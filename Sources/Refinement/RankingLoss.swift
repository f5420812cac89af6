import Foundation
import Numerics

// MARK: - The ranking-list loss (docs/method.md §2)
//
// For one list of n sentences (x0 the anchor, then the synthesised order):
//   T  = cos(teacher)/τ2                     teacher similarity matrix
//   B  = rank correction (below)             signed, mirrored
//   L  = sign(B)·ln(ω|B| + 1)                damping
//   P  = T + L                               the target scores
//   S  = cos(student)/τ                      student similarity matrix
//   loss = mean over rows of ListMLE(S_i ordered by P_i descending)
//
// The teacher is frozen, so T, B, L and P are computed once per list
// (`RankingTarget`); each step only needs S, the order and the gradient.

/// Hyper-parameters of the loss, with the paper's defaults.
public struct RankingLossOptions: Sendable, Codable, Equatable {
    /// Student temperature τ (S = cos/τ).
    public var tau: Double = 0.05
    /// Teacher temperature τ2 (T = cos/τ2).
    public var teacherTau: Double = 0.05
    /// Damping ω in sign(B)·ln(ω|B| + 1).
    public var omega: Double = 0.5

    enum CodingKeys: String, CodingKey { case tau, teacherTau = "teacher_tau", omega }

    public init(tau: Double = 0.05, teacherTau: Double = 0.05, omega: Double = 0.5) {
        self.tau = tau
        self.teacherTau = teacherTau
        self.omega = omega
    }
}

/// The teacher's side of the loss for one list, every step kept so tests
/// can pin each one. Matrices are n × n, row-major, in Double.
public struct RankingTarget: Sendable {
    /// List length n.
    public let count: Int
    /// T = cos(t_i, t_j)/τ2.
    public let teacher: [Double]
    /// T'[i][j]: the value the list order asks for at (i, j) — the
    /// (j − i)-th largest of the sub-row T[i][i…] (mirrored below the diagonal).
    public let rankTarget: [Double]
    /// B: +|T − T'| where the teacher ranks j lower than the list does
    /// (too far), −|T − T'| where higher (too close), 0 where equal.
    public let correction: [Double]
    /// L = sign(B)·ln(ω|B| + 1).
    public let damped: [Double]
    /// P = T + L, the scores whose order the student learns.
    public let scores: [Double]

    /// Builds the target from the teacher's unit vectors `(n, h)`, row-major.
    public init(teacherVectors t: [Float], count n: Int, dimensions h: Int, options: RankingLossOptions) {
        precondition(t.count == n * h)
        var tm = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var dot = 0.0
                for k in 0..<h { dot += Double(t[i * h + k]) * Double(t[j * h + k]) }
                tm[i * n + j] = dot / options.teacherTau
            }
        }
        self.init(teacherMatrix: tm, count: n, options: options)
    }

    /// Builds the target from a teacher matrix T (already divided by τ2).
    public init(teacherMatrix tm: [Double], count n: Int, options: RankingLossOptions) {
        count = n
        teacher = tm
        var target = [Double](repeating: 0, count: n * n)
        var b = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            // docs/method.md's rule: column j of row i belongs at the *relative*
            // rank r = j − i of the sub-row T[i][i…n-1]. The paper's released
            // code compares against the absolute column j instead, which
            // flips signs for rows i ≥ 2; where the two disagree docs/method.md wins.
            let sub = tm[(i * n + i)..<(i * n + n)].sorted(by: >)
            for j in i..<n {
                let value = tm[i * n + j], wanted = sub[j - i]
                target[i * n + j] = wanted
                // Below the r-th largest ⇒ the teacher ranks j lower than r:
                // too far, so push it up (B > 0); above ⇒ too close (B < 0).
                if value < wanted {
                    b[i * n + j] = abs(value - wanted)
                } else if value > wanted {
                    b[i * n + j] = -abs(value - wanted)
                }
            }
        }
        for i in 0..<n {
            for j in 0..<i {
                b[i * n + j] = b[j * n + i]
                target[i * n + j] = target[j * n + i]
            }
        }
        rankTarget = target
        correction = b
        damped = b.map { v in v == 0 ? 0 : (v > 0 ? 1 : -1) * log(options.omega * abs(v) + 1) }
        scores = zip(tm, damped).map(+)
    }
}

/// ListMLE of the student's similarities against a `RankingTarget`.
public enum RankingLoss {
    /// The order of each row: columns sorted by P descending, ties broken
    /// by `shuffle` (a random permutation of the columns, shared by the
    /// list's rows — the reference implementation's `randperm`).
    public static func orders(_ target: RankingTarget, shuffle: [Int]) -> [[Int]] {
        let n = target.count
        var rank = [Int](repeating: 0, count: n)
        for (position, column) in shuffle.enumerated() { rank[column] = position }
        return (0..<n).map { i in
            (0..<n).sorted { a, b in
                let pa = target.scores[i * n + a], pb = target.scores[i * n + b]
                return pa != pb ? pa > pb : rank[a] < rank[b]
            }
        }
    }

    /// A random permutation of 0..<n (Fisher–Yates) from `rng`.
    public static func shuffle(_ n: Int, using rng: inout SplitMix64) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                p.swapAt(i, j)
            }
        }
        return p
    }

    /// One row's ListMLE: `Σ_k [log Σ_{m≥k} exp(s_m) − s_k]` over the
    /// scores in `order`, and its gradient with respect to each score
    /// (indexed by column).
    public static func listMLE(row s: [Double], order: [Int]) -> (loss: Double, gradient: [Double]) {
        let n = order.count
        let mx = order.map { s[$0] }.max() ?? 0
        let e = order.map { exp(s[$0] - mx) }   // subtracting the row max changes nothing but range
        var suffix = [Double](repeating: 0, count: n)
        var acc = 0.0
        for k in stride(from: n - 1, through: 0, by: -1) { acc += e[k]; suffix[k] = acc }
        var loss = 0.0
        var gradient = [Double](repeating: 0, count: n)
        var inverseSum = 0.0
        for k in 0..<n {
            loss += log(suffix[k]) - (s[order[k]] - mx)
            // ∂/∂s_k = −1 + Σ_{m ≤ k} exp(s_k)/Z_m, Z_m = Σ_{j ≥ m} exp(s_j)
            inverseSum += 1 / suffix[k]
            gradient[order[k]] = -1 + e[k] * inverseSum
        }
        return (loss, gradient)
    }

    /// Loss of one list and its gradient with respect to the student's
    /// unit vectors `student (n, h)`: S = U Uᵀ/τ, mean of the rows' ListMLE.
    /// The gradient times `weight` is *added* into `dStudent (n, h)`.
    /// Returns the loss (unweighted) and S (n × n) for reporting.
    @discardableResult
    public static func apply(
        target: RankingTarget, student u: UnsafePointer<Float>, dimensions h: Int, tau: Double,
        shuffle: [Int], weight: Double, dStudent: UnsafeMutablePointer<Float>
    ) -> (loss: Double, similarities: [Double]) {
        let n = target.count
        var s = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                let v = Double(Kernels.dot(u + i * h, u + j * h, h)) / tau
                s[i * n + j] = v
                s[j * n + i] = v
            }
        }
        var loss = 0.0
        var ds = [Double](repeating: 0, count: n * n)
        for (i, order) in orders(target, shuffle: shuffle).enumerated() {
            let r = listMLE(row: Array(s[(i * n)..<(i * n + n)]), order: order)
            loss += r.loss
            for j in 0..<n { ds[i * n + j] = r.gradient[j] / Double(n) }
        }
        // S_ij = u_i·u_j/τ ⇒ dU_i = Σ_j (dS_ij + dS_ji) u_j / τ
        for i in 0..<n {
            let out = dStudent + i * h
            for j in 0..<n {
                let c = Float((ds[i * n + j] + ds[j * n + i]) / tau * weight)
                if c == 0 { continue }
                let uj = u + j * h
                for k in 0..<h { out[k] += c * uj[k] }
            }
        }
        return (loss / Double(n), s)
    }
}
