import Encoder
import Foundation

// MARK: - AdamW

/// Hyper-parameters of AdamW (Loshchilov & Hutter), PyTorch's defaults
/// except the learning rate.
public struct AdamWOptions: Sendable, Codable, Equatable {
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    /// Decoupled weight decay. The issue asks for 0.01; docs/method.md (and the
    /// paper's code) use 0. Both are one flag away.
    public var weightDecay: Double = 0.01

    enum CodingKeys: String, CodingKey { case beta1, beta2, epsilon, weightDecay = "weight_decay" }

    public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }
}

/// AdamW over one flat parameter buffer: first and second moments of the
/// same layout. The update is PyTorch's `torch.optim.AdamW`:
/// `p ← p·(1 − lr·wd) − lr · m̂ / (√v̂ + ε)` with bias-corrected m̂, v̂.
public final class AdamW: @unchecked Sendable {
    public let options: AdamWOptions
    /// First and second moments.
    public let m: FloatBuffer, v: FloatBuffer

    public init(count: Int, options: AdamWOptions) {
        self.options = options
        m = FloatBuffer(count: count)
        v = FloatBuffer(count: count)
    }

    /// One update of `parameters` from `gradients` at 1-based `step`.
    public func update(parameters: FloatBuffer, gradients: FloatBuffer, learningRate lr: Double, step: Int) {
        precondition(parameters.count == m.count && gradients.count == m.count)
        let b1 = Float(options.beta1), b2 = Float(options.beta2)
        let c1 = 1 - pow(options.beta1, Double(step)), c2 = 1 - pow(options.beta2, Double(step))
        let stepSize = Float(lr / c1)
        let invRootC2 = Float(1 / c2.squareRoot())
        let eps = Float(options.epsilon)
        let decay = Float(1 - lr * options.weightDecay)
        let p = parameters.pointer, g = gradients.pointer, mp = m.pointer, vp = v.pointer
        for k in 0..<m.count {
            let gk = g[k]
            let mk = b1 * mp[k] + (1 - b1) * gk
            let vk = b2 * vp[k] + (1 - b2) * gk * gk
            mp[k] = mk
            vp[k] = vk
            p[k] = p[k] * decay - stepSize * mk / (vk.squareRoot() * invRootC2 + eps)
        }
    }

    /// The naive reference in Double, for tests: same update on arrays.
    public static func reference(parameters p: inout [Double], gradients g: [Double], m: inout [Double], v: inout [Double],
                                 learningRate lr: Double, step: Int, options o: AdamWOptions) {
        for k in p.indices {
            m[k] = o.beta1 * m[k] + (1 - o.beta1) * g[k]
            v[k] = o.beta2 * v[k] + (1 - o.beta2) * g[k] * g[k]
            let mhat = m[k] / (1 - pow(o.beta1, Double(step))), vhat = v[k] / (1 - pow(o.beta2, Double(step)))
            p[k] = p[k] * (1 - lr * o.weightDecay) - lr * mhat / (vhat.squareRoot() + o.epsilon)
        }
    }
}
