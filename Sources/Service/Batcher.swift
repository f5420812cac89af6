import Encoder
import Foundation
import Numerics
import Tokenization

// MARK: - Dynamic batching

/// Groups concurrent embedding work into shared forward passes.
///
/// Handlers tokenise their inputs on their own task (off the socket
/// threads) and submit the encodings. One compute thread owns the queue: it
/// takes inputs in arrival order up to a token budget — splitting large
/// client batches across passes — and runs them as one packed forward (no
/// padding, so grouping long with short wastes nothing). The queue is
/// bounded: when full, `submit` throws `BatcherError.full` (the API answers
/// 429). Work of a cancelled request (its client went away) is dropped.
public final class Batcher: @unchecked Sendable {
    /// Tunables, with defaults sized for a 2-core machine.
    public struct Options: Sendable {
        /// Tokens per forward pass at most.
        public var maxBatchTokens = 8192
        /// Inputs per forward pass at most.
        public var maxBatchInputs = 256
        /// Inputs waiting in the queue at most; beyond it requests get 429.
        public var maxQueuedInputs = 8192
        /// Cores one forward pass is spread over.
        public var threads = 1
        public init() {}
    }

    /// What a finished forward pass reports, for metrics.
    public struct BatchReport: Sendable {
        public var inputs: Int
        public var tokens: Int
        public var seconds: Double
    }

    /// Why work was not done.
    public enum BatcherError: Error {
        case full(queued: Int)
        case stopped
    }

    /// Timing of one request's work, for metrics.
    public struct Timing: Sendable {
        /// Seconds from submission to its first input entering a pass.
        public var queueSeconds: Double
        /// Seconds from then to its last input leaving a pass.
        public var inferenceSeconds: Double
    }

    private final class Job {
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

    private struct Item {
        let job: Job
        let index: Int
    }

    public let options: Options
    /// Called on the compute thread after each pass.
    public var onBatch: (@Sendable (BatchReport) -> Void)?

    private let condition = NSCondition()
    private var queue: [Item] = []
    private var head = 0
    private var stopped = false
    private var thread: Thread?

    public init(options: Options = Options()) {
        self.options = options
    }

    /// Inputs waiting to be computed.
    public var queuedInputs: Int {
        condition.lock(); defer { condition.unlock() }
        return queue.count - head
    }

    /// Starts the compute thread.
    public func start() {
        let t = Thread { [weak self] in self?.run() }
        t.name = "ranksmith-batcher"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Stops the compute thread after the pass in progress; queued work
    /// fails with `.stopped`.
    public func stop() {
        condition.lock()
        stopped = true
        var pending: [Job] = []
        var seen = Set<ObjectIdentifier>()
        for item in queue[head...] where seen.insert(ObjectIdentifier(item.job)).inserted { pending.append(item.job) }
        queue.removeAll(); head = 0
        condition.broadcast()
        condition.unlock()
        for job in pending { finish(job, .failure(BatcherError.stopped)) }
    }

    /// Embeds `encodings` with `model` (unnormalised rows, input order).
    /// Throws `BatcherError.full` when the queue cannot take them, and
    /// `CancellationError` if the calling task is cancelled first.
    public func submit(_ encodings: [Encoding], model: BertModel) async throws -> (Matrix, Timing) {
        if encodings.isEmpty { return (Matrix(rows: 0, cols: model.dimensions), Timing(queueSeconds: 0, inferenceSeconds: 0)) }
        let job = Job(model: model, encodings: encodings)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                condition.lock()
                job.continuation = continuation
                let queued = queue.count - head
                if job.cancelled || Task.isCancelled {
                    condition.unlock()
                    finish(job, .failure(CancellationError()))
                    return
                }
                if stopped {
                    condition.unlock()
                    finish(job, .failure(BatcherError.stopped))
                    return
                }
                if queued + encodings.count > options.maxQueuedInputs && queued > 0 {
                    condition.unlock()
                    finish(job, .failure(BatcherError.full(queued: queued)))
                    return
                }
                for i in 0..<encodings.count { queue.append(Item(job: job, index: i)) }
                condition.signal()
                condition.unlock()
            }
        } onCancel: {
            condition.lock()
            job.cancelled = true
            let waiting = job.continuation != nil && job.started == 0
            condition.unlock()
            // Work not yet started is answered at once; work in a pass
            // finishes with that pass and is then discarded.
            if waiting { finish(job, .failure(CancellationError())) }
        }
    }

    // MARK: Compute thread

    private func run() {
        while let batch = nextBatch() {
            let encodings = batch.map { $0.job.encodings[$0.index] }
            let model = batch[0].job.model
            let t0 = DispatchTime.now().uptimeNanoseconds
            let rows = model.embed(encodings, normalize: false, threads: options.threads)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            onBatch?(BatchReport(inputs: encodings.count, tokens: encodings.reduce(0) { $0 + $1.ids.count }, seconds: seconds))
            var done: [Job] = []
            condition.lock()
            let h = model.dimensions
            for (k, item) in batch.enumerated() {
                let job = item.job
                guard !job.finished else { continue }
                job.output.data.withUnsafeMutableBufferPointer { dst in
                    rows.data.withUnsafeBufferPointer { src in
                        (dst.baseAddress! + item.index * h).update(from: src.baseAddress! + k * h, count: h)
                    }
                }
                job.remaining -= 1
                if job.remaining == 0 { done.append(job) }
            }
            condition.unlock()
            for job in done { finish(job, .success(job.output)) }
        }
    }

    /// Takes the next pass's inputs: FIFO, one model, within the budgets;
    /// skips inputs of cancelled requests. Nil once stopped.
    private func nextBatch() -> [Item]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            while head < queue.count && (queue[head].job.cancelled || queue[head].job.finished) { head += 1 }
            if head < queue.count { break }
            queue.removeAll(keepingCapacity: true); head = 0
            if stopped { return nil }
            condition.wait()
        }
        let model = queue[head].job.model
        var batch: [Item] = []
        var tokens = 0
        var deferred: [Item] = []
        let now = DispatchTime.now().uptimeNanoseconds
        while head < queue.count {
            let item = queue[head]
            if item.job.cancelled || item.job.finished { head += 1; continue }
            if item.job.model !== model { deferred.append(item); head += 1; continue }
            let length = item.job.encodings[item.index].ids.count
            if !batch.isEmpty && (tokens + length > options.maxBatchTokens || batch.count >= options.maxBatchInputs) { break }
            if item.job.started == 0 { item.job.started = now }
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

    private func finish(_ job: Job, _ result: Result<Matrix, Error>) {
        condition.lock()
        guard !job.finished, let continuation = job.continuation else {
            // Not yet submitted: mark so that submission answers at once.
            if !job.finished, job.continuation == nil { job.cancelled = true }
            condition.unlock()
            return
        }
        job.finished = true
        job.continuation = nil
        let end = DispatchTime.now().uptimeNanoseconds
        let started = job.started == 0 ? end : job.started
        condition.unlock()
        switch result {
        case .success(let matrix):
            let timing = Timing(queueSeconds: Double(started - job.submitted) / 1e9, inferenceSeconds: Double(end - started) / 1e9)
            continuation.resume(returning: (matrix, timing))
        case .failure(let error):
            continuation.resume(throwing: error)
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
