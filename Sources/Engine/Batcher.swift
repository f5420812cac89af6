import Encoder
import Foundation
import Numerics
import Storage
import Tokenization

// MARK: - Dynamic batching

/// Groups concurrent embedding work into shared forward passes.
///
/// Callers (the engine's pipelines) tokenise their inputs on their own
/// task and submit the encodings. One compute thread owns the queue: it
/// takes inputs in arrival order up to a token budget — splitting large
/// client batches across passes — and runs them as one packed forward (no
/// padding, so grouping long with short wastes nothing). The queue is
/// bounded: when full, `submit` throws `BatcherError.full` (the engine
/// reports `EngineError.overloaded`, which the API answers with 429). Work
/// of a cancelled request (its caller went away) is dropped.
public final class Batcher: @unchecked Sendable {
    /// Tunables, with defaults sized for a 2-core machine.
    public struct Options: Sendable {
        /// Tokens per forward pass at most.
        public var maxBatchTokens = 8192
        /// Inputs per forward pass at most.
        public var maxBatchInputs = 256
        /// Inputs waiting in the queue at most; beyond it `submit` refuses work.
        public var maxQueuedInputs = 8192
        /// Cores one forward pass is spread over.
        public var threads = 1
        /// The defaults.
        public init() {}
    }

    /// What a finished forward pass reports, for metrics.
    public struct BatchReport: Sendable {
        /// Inputs in the pass.
        public var inputs: Int
        /// Tokens in the pass.
        public var tokens: Int
        /// Wall-clock seconds of the forward pass.
        public var seconds: Double
    }

    /// Why work was not done.
    public enum BatcherError: Error, Sendable {
        /// The queue holds `queued` inputs and cannot take more.
        case full(queued: Int)
        /// The batcher was stopped.
        case stopped
    }

    /// Timing of one request's work, for metrics.
    public struct Timing: Sendable {
        /// Seconds from submission to its first input entering a pass.
        public var queueSeconds: Double
        /// Seconds from then to its last input leaving a pass.
        public var inferenceSeconds: Double
    }

    /// One caller's inputs on their way through the queue. Every mutable
    /// field is read and written only while holding the batcher's monitor.
    private final class Submission: @unchecked Sendable {
        let model: BertModel
        let encodings: [Encoding]
        var output: Matrix
        var remaining: Int
        var cancelled = false
        var finished = false
        var continuation: CheckedContinuation<(Matrix, Timing), Error>?
        let submitted = DispatchTime.now().uptimeNanoseconds
        var started: UInt64 = 0

        init(model: BertModel, encodings: [Encoding]) {
            self.model = model
            self.encodings = encodings
            self.output = Matrix(rows: encodings.count, cols: model.dimensions)
            self.remaining = encodings.count
        }
    }

    /// Input `index` of `submission`.
    private struct Item {
        let submission: Submission
        let index: Int
    }

    /// Budgets and threads, fixed at creation.
    public let options: Options
    /// Called on the compute thread after each pass. Set it before `start`.
    public var onBatch: (@Sendable (BatchReport) -> Void)?

    // The queue and the flags below are guarded by `monitor`; the compute
    // thread waits on it for work.
    private let monitor = Monitor()
    private var queue: [Item] = []
    private var head = 0
    private var stopped = false
    private var thread: Thread?
    /// Whether the compute thread has ended (set by the thread itself), so
    /// `stop` can wait for the pass in progress: exiting the process under
    /// a running forward pass crashes in BLAS.
    private var computeEnded = false

    /// A batcher; nothing runs until `start`.
    public init(options: Options = Options()) {
        self.options = options
    }

    /// Inputs waiting to be computed.
    public var queuedInputs: Int {
        monitor.locked { queue.count - head }
    }

    /// Starts the compute thread.
    public func start() {
        let t = Thread { [weak self] in
            guard let self else { return }
            self.run()
            self.monitor.locked { self.computeEnded = true }
        }
        t.name = "ranksmith-batcher"
        t.stackSize = 8 << 20
        monitor.locked { thread = t }
        t.start()
    }

    /// Stops the compute thread after the pass in progress and waits for it
    /// to end; queued work fails with `.stopped`.
    public func stop() { _ = stop(waitingUpTo: .infinity) }

    /// Stops the compute thread after the pass in progress, waiting at most
    /// `seconds` for it; queued work fails with `.stopped`. Answers whether
    /// the thread has ended (false: a pass is still running).
    public func stop(waitingUpTo seconds: Double) -> Bool {
        let (pending, compute): ([Submission], Thread?) = monitor.locked {
            stopped = true
            var pending: [Submission] = []
            var seen = Set<ObjectIdentifier>()
            for item in queue[head...] where seen.insert(ObjectIdentifier(item.submission)).inserted {
                pending.append(item.submission)
            }
            queue.removeAll(); head = 0
            monitor.broadcast()
            return (pending, thread)
        }
        for submission in pending { finish(submission, .failure(BatcherError.stopped)) }
        // Never started, or called from the compute thread (`onBatch`): nothing to wait for.
        guard let compute, compute !== Thread.current else { return true }
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, min(seconds, 1e6)) * 1e9)
        while !monitor.locked({ computeEnded }) {
            if DispatchTime.now().uptimeNanoseconds >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return true
    }

    /// Embeds `encodings` with `model` (unnormalised rows, input order).
    /// Throws `BatcherError.full` when the queue cannot take them, and
    /// `CancellationError` if the calling task is cancelled first.
    public func submit(_ encodings: [Encoding], model: BertModel) async throws -> (Matrix, Timing) {
        if encodings.isEmpty { return (Matrix(rows: 0, cols: model.dimensions), Timing(queueSeconds: 0, inferenceSeconds: 0)) }
        let submission = Submission(model: model, encodings: encodings)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let refusal: Error? = monitor.locked {
                    submission.continuation = continuation
                    let queued = queue.count - head
                    if submission.cancelled || Task.isCancelled { return CancellationError() }
                    if stopped { return BatcherError.stopped }
                    if queued + encodings.count > options.maxQueuedInputs && queued > 0 {
                        return BatcherError.full(queued: queued)
                    }
                    for i in 0..<encodings.count { queue.append(Item(submission: submission, index: i)) }
                    monitor.signal()
                    return nil
                }
                if let refusal { finish(submission, .failure(refusal)) }
            }
        } onCancel: {
            monitor.locked { submission.cancelled = true }
            // Answered at once, even when its inputs are in the pass running
            // now: the pass skips finished submissions when it ends, and a
            // cancelled handler (a client gone, a shutdown) need not wait.
            finish(submission, .failure(CancellationError()))
        }
    }

    // MARK: Compute thread

    private func run() {
        while let batch = nextBatch() {
            let encodings = batch.map { $0.submission.encodings[$0.index] }
            let model = batch[0].submission.model
            let t0 = DispatchTime.now().uptimeNanoseconds
            let rows = model.embed(encodings, normalize: false, threads: options.threads)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            onBatch?(BatchReport(inputs: encodings.count, tokens: encodings.reduce(0) { $0 + $1.ids.count }, seconds: seconds))
            let h = model.dimensions
            let done: [Submission] = monitor.locked {
                var done: [Submission] = []
                for (k, item) in batch.enumerated() {
                    let submission = item.submission
                    guard !submission.finished else { continue }
                    submission.output.data.withUnsafeMutableBufferPointer { dst in
                        rows.data.withUnsafeBufferPointer { src in
                            (dst.baseAddress! + item.index * h).update(from: src.baseAddress! + k * h, count: h)
                        }
                    }
                    submission.remaining -= 1
                    if submission.remaining == 0 { done.append(submission) }
                }
                return done
            }
            for submission in done { finish(submission, .success(submission.output)) }
        }
    }

    /// Takes the next pass's inputs: FIFO, one model, within the budgets;
    /// skips inputs of cancelled requests. Nil once stopped.
    private func nextBatch() -> [Item]? {
        monitor.locked { () -> [Item]? in
            while true {
                while head < queue.count && (queue[head].submission.cancelled || queue[head].submission.finished) { head += 1 }
                if head < queue.count { break }
                queue.removeAll(keepingCapacity: true); head = 0
                if stopped { return nil }
                monitor.wait()
            }
            let model = queue[head].submission.model
            var batch: [Item] = []
            var tokens = 0
            var deferred: [Item] = []
            let now = DispatchTime.now().uptimeNanoseconds
            while head < queue.count {
                let item = queue[head]
                let submission = item.submission
                if submission.cancelled || submission.finished { head += 1; continue }
                if submission.model !== model { deferred.append(item); head += 1; continue }
                let length = submission.encodings[item.index].ids.count
                if !batch.isEmpty && (tokens + length > options.maxBatchTokens || batch.count >= options.maxBatchInputs) { break }
                if submission.started == 0 { submission.started = now }
                batch.append(item)
                tokens += length
                head += 1
            }
            // Inputs for another model version (during a swap) keep their place.
            if !deferred.isEmpty {
                queue.replaceSubrange(head..<head, with: deferred)
            }
            if head > 4096 && head * 2 > queue.count { queue.removeFirst(head); head = 0 }
            return batch
        }
    }

    private func finish(_ submission: Submission, _ result: Result<Matrix, Error>) {
        let resumed: (CheckedContinuation<(Matrix, Timing), Error>, Timing)? = monitor.locked {
            guard !submission.finished, let continuation = submission.continuation else {
                // Not yet submitted: mark so that submission answers at once.
                if !submission.finished, submission.continuation == nil { submission.cancelled = true }
                return nil
            }
            submission.finished = true
            submission.continuation = nil
            let end = DispatchTime.now().uptimeNanoseconds
            let started = submission.started == 0 ? end : submission.started
            let timing = Timing(queueSeconds: Double(started - submission.submitted) / 1e9, inferenceSeconds: Double(end - started) / 1e9)
            return (continuation, timing)
        }
        guard let (continuation, timing) = resumed else { return }
        switch result {
        case .success(let matrix): continuation.resume(returning: (matrix, timing))
        case .failure(let error): continuation.resume(throwing: error)
        }
    }
}

// MARK: - Exclusive work

extension Batcher {
    /// Runs `work` off the caller's task on a compute queue (used for
    /// cross-encoder passes, which do not batch with embeddings).
    public func exclusive<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        try Task.checkCancellation()
        return await withCheckedContinuation { continuation in
            Batcher.exclusiveQueue.async { continuation.resume(returning: work()) }
        }
    }

    static let exclusiveQueue = DispatchQueue(label: "ranksmith-exclusive")
}
