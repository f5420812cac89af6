#if canImport(Glibc)
import Glibc
#endif
import Encoder
import Foundation
import Numerics
import Tokenization

// MARK: - Post-training on ranking lists (docs/method.md §2)

/// One point of the training curve.
public struct TrainingCurvePoint: Sendable, Codable, Equatable {
    public var step: Int
    public var loss: Double
    public var learningRate: Double
    public var gradientNorm: Double
    /// Spearman × 100 on the development set, at evaluation steps.
    public var devSpearman: Double?
}

extension TrainingCurvePoint {
    enum CodingKeys: String, CodingKey {
        case step, loss, learningRate = "learning_rate", gradientNorm = "gradient_norm", devSpearman = "dev_spearman"
    }
}

/// What a progress callback sees after each step.
public struct TrainingProgress: Sendable {
    public var step: Int, steps: Int
    public var loss: Double
    /// Latest development-set Spearman × 100, if any evaluation ran yet.
    public var devSpearman: Double?
    public var elapsedSeconds: Double
    public var etaSeconds: Double
}

/// The outcome of a run.
public struct TrainingResult: Sendable {
    /// The kept weights: the best by development Spearman (the last ones
    /// without a dev set or with `keepBest` off).
    public var weights: BertWeights
    /// The step whose weights were kept (0: the starting weights).
    public var bestStep: Int
    public var steps: Int
    public var curve: [TrainingCurvePoint]
    /// Development Spearman × 100 before the first step and of the kept weights.
    public var devBefore: Double?, devAfter: Double?
    public var seconds: Double
}

/// Trains a copy of a student encoder on ranking lists against a frozen
/// teacher. Everything that can be wrong with the input is checked in
/// `init`, before any step. A library: the CLI and a job runner drive it
/// with a progress callback and a cancellation check. Not thread-safe: it
/// may be handed to the thread that runs it, and only that thread uses it.
public final class Trainer: @unchecked Sendable {
    public let options: TrainingOptions
    public let student: BertModel
    public let totalSteps: Int
    let lists: [[Encoding]]
    let targets: [RankingTarget]
    let dev: STSPairs?
    let model: BertTrainable
    let optimizer: AdamW
    let dOutput: FloatBuffer
    /// Parameters of the best evaluation so far.
    let best: FloatBuffer
    var bestScore: Double?
    var bestStep = 0
    /// Steps done (a resumed run starts here).
    public internal(set) var step = 0
    public internal(set) var curve: [TrainingCurvePoint] = []
    var devBefore: Double?
    /// Set when a cancellation cut an evaluation short after its step had
    /// changed the weights: the state is then not one an uninterrupted run
    /// passes through, so it must not be checkpointed.
    var cutShort = false

    /// Prepares a run: validates `options`, tokenises the lists, and
    /// computes each list's target from the frozen `teacher` once.
    public init(student: BertModel, teacher: BertModel, lists: RankingLists, dev: STSPairs?, options: TrainingOptions) throws {
        try options.validate()
        guard !student.isCrossEncoder else {
            throw TrainingError.badModel(path: student.directory.path, reason: "a cross-encoder cannot be trained as a sentence encoder")
        }
        guard student.pooling == .mean else {
            throw TrainingError.badModel(path: student.directory.path, reason: "only mean pooling is trainable, this model uses \(student.pooling.rawValue)")
        }
        self.options = options
        self.student = student
        self.dev = dev
        let maxLength = min(options.maxLength, student.maxSequenceLength)
        self.lists = lists.lists.map { $0.map { student.tokenizer.encode($0, maxLength: maxLength) } }
        targets = lists.lists.map { list in
            let vectors = teacher.embed(list.map { teacher.tokenizer.encode($0, maxLength: min(options.maxLength, teacher.maxSequenceLength)) })
            return RankingTarget(teacherVectors: vectors.data, count: list.count, dimensions: teacher.dimensions, options: options.loss)
        }
        totalSteps = options.steps ?? (lists.lists.count + options.listsPerStep - 1) / options.listsPerStep
        let longest = self.lists.map(\.count).max() ?? 1
        model = BertTrainable(weights: student.weights, config: student.config,
                              maxSequences: options.listsPerStep * longest, maxLength: maxLength)
        optimizer = AdamW(count: model.layout.count, options: options.adamW)
        dOutput = FloatBuffer(count: options.listsPerStep * longest * student.dimensions)
        best = FloatBuffer(count: model.layout.count)
        best.copy(from: model.parameters)
    }

    // MARK: Running

    /// Runs the remaining steps. `progress` is called after every step;
    /// `isCancelled` is checked before every step, between a step's forward
    /// and backward passes, and between the batches of an evaluation, so a
    /// cancelled run stops within a fraction of a step and throws
    /// `.cancelled` (a checkpoint can still save it, unless it stopped
    /// inside an evaluation: the last checkpoint then stands). A non-finite loss
    /// throws `.nonFiniteLoss` naming the step, before that step changes
    /// any weight.
    public func run(progress: (TrainingProgress) -> Void = { _ in }, isCancelled: () -> Bool = { false }) throws -> TrainingResult {
        let started = Date()
        let firstStep = step
        if step == 0, let dev {
            let score = evaluate(dev, parameters: model.parameters, stop: isCancelled)
            if isCancelled() { throw TrainingError.cancelled(step: step) }
            devBefore = score
            bestScore = score
            bestStep = 0
        }
        var lastDev = bestScore
        while step < totalSteps {
            if isCancelled() { throw TrainingError.cancelled(step: step) }
            var point = try trainStep(isCancelled: isCancelled)
            step += 1
            if let dev, step % options.evaluateEvery == 0 || step == totalSteps {
                let score = evaluate(dev, parameters: model.parameters, stop: isCancelled)
                if isCancelled() {
                    cutShort = true
                    throw TrainingError.cancelled(step: step)
                }
                point.devSpearman = score
                lastDev = score
                if bestScore == nil || score > bestScore! {
                    bestScore = score
                    bestStep = step
                    best.copy(from: model.parameters)
                }
            }
            curve.append(point)
            let elapsed = Date().timeIntervalSince(started)
            let done = step - firstStep
            progress(TrainingProgress(step: step, steps: totalSteps, loss: point.loss, devSpearman: lastDev,
                                      elapsedSeconds: elapsed, etaSeconds: elapsed / Double(done) * Double(totalSteps - step)))
        }
        var keptScore = bestScore
        if dev == nil || !options.keepBest {
            best.copy(from: model.parameters)
            bestStep = step
            keptScore = lastDev
        }
        return TrainingResult(
            weights: model.layout.weights(from: best, base: student.weights), bestStep: bestStep, steps: step,
            curve: curve, devBefore: devBefore, devAfter: keptScore, seconds: Date().timeIntervalSince(started))
    }

    /// The lists step `s` trains on: an epoch is a seeded permutation of
    /// all lists, cut into groups of `listsPerStep`; derived from the seed
    /// and the step alone, so a resumed run takes the same lists.
    func listIndices(step s: Int) -> [Int] {
        let n = lists.count, k = options.listsPerStep
        return (0..<k).map { j in
            let position = s * k + j
            let epoch = position / n
            var rng = SplitMix64(seed: options.seed &+ 0x5EED &* UInt64(epoch + 1))
            var order = Array(0..<n)
            if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) } }
            return order[position % n]
        }
    }

    /// One optimiser step over `listsPerStep` lists. A cancellation seen
    /// after the forward pass throws before anything of the run changes.
    func trainStep(isCancelled: () -> Bool = { false }) throws -> TrainingCurvePoint {
        let chosen = listIndices(step: step)
        var batch: [Encoding] = []
        var starts: [Int] = []
        for i in chosen { starts.append(batch.count); batch += lists[i] }
        let vectors = model.forward(batch)
        if isCancelled() { throw TrainingError.cancelled(step: step) }
        let h = student.dimensions
        dOutput.zero()
        var loss = 0.0
        // The shuffles for tie-breaking: seeded by (seed, step), so a run
        // (and a resumed run) is the same every time.
        var rng = SplitMix64(seed: options.seed ^ (UInt64(step + 1) &* 0x9E37_79B9_7F4A_7C15))
        let weight = 1 / Double(chosen.count)
        for (i, start) in zip(chosen, starts) {
            let target = targets[i]
            let shuffle = RankingLoss.shuffle(target.count, using: &rng)
            let r = RankingLoss.apply(target: target, student: vectors + start * h, dimensions: h, tau: options.loss.tau,
                                      shuffle: shuffle, weight: weight, dStudent: dOutput.pointer + start * h)
            loss += r.loss * weight
        }
        guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: step + 1, value: loss) }
        model.gradients.zero()
        model.backward(dOutput: UnsafePointer(dOutput.pointer))
        let norm = model.gradients.norm()
        guard norm.isFinite else { throw TrainingError.nonFiniteLoss(step: step + 1, value: norm) }
        if norm > options.gradientClip { model.gradients.scale(by: Float(options.gradientClip / norm)) }
        let lr = options.learningRate(step: step, of: totalSteps)
        optimizer.update(parameters: model.parameters, gradients: model.gradients.buffer, learningRate: lr, step: step + 1)
        return TrainingCurvePoint(step: step + 1, loss: loss, learningRate: lr, gradientNorm: norm, devSpearman: nil)
    }

    /// Development Spearman × 100 of `parameters`, through the serving forward.
    /// Meaningless once `stop` says true (the caller checks).
    func evaluate(_ pairs: STSPairs, parameters: FloatBuffer, stop: () -> Bool = { false }) -> Double {
        let candidate = BertModel(base: student, weights: model.layout.weights(from: parameters, base: student.weights))
        return STSEvaluation.run(model: candidate, pairs: pairs, threads: 1, stop: stop).spearman
    }

    /// The raw parameter buffer, for tests that compare runs bit for bit.
    public var parameters: FloatBuffer { model.parameters }
}
