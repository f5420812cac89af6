import Encoder
import Foundation
import Index
import Storage

// MARK: - Activating a model version (the hot-swap)
//
// 1. Check: the version exists and looks complete; the swap fits in
//    `maxMemoryBytes` (old + new model, old + shadow indexes).
// 2. Load the new model beside the serving one; its vectors must be finite.
// 3. Holding the transition lock exclusively (no write half done), create
//    an empty shadow of every collection in a fresh index folder and
//    publish the shadow: from now on every write goes to both.
// 4. Re-embed each collection's documents into its shadow in chunks,
//    through the batcher like any request (live traffic keeps flowing).
// 5. Snapshot the shadows; then, exclusively again, write active.json
//    (the durable commit: it names the new version and the new index
//    folder) and install the new pair (the one reference change).
// 6. Close and delete the old index folder.
//
// Any failure before 5 removes the shadow and leaves the old pair serving;
// a crash leaves active.json naming the old pair and the next start
// deletes the shadow folder.

extension InferenceEngine {
    /// Documents per re-embedding chunk: small enough that live requests
    /// queued behind one wait little, big enough to batch well.
    static let reembedChunk = 128

    /// The running activation, else the last one; nil if none ran.
    public var activationStatus: ActivationStatus? {
        swap.withLock { $0.running ?? $0.last }
    }

    /// Activates `version` and returns at once with its status (state
    /// `running`; `succeeded` with nothing to do when it already serves and
    /// every collection holds its vectors). The swap runs in the
    /// background; `activationStatus` follows it. Throws, without starting,
    /// `activationInProgress` while another runs, `unknownModelVersion`,
    /// `modelVersionUnusable`, `insufficientMemory`.
    @discardableResult
    public func startActivation(version: String) throws -> ActivationStatus {
        while true {
            let plan = try plan(version)
            if plan.nothingToDo { return try finishedAtOnce(plan) }
            guard let status = try claim(plan) else { continue }
            let task = Task.detached { [self] in _ = try? await run(plan, progress: nil) }
            // Kept for `stop`, unless the run has already finished.
            swap.withLock { if $0.running?.id == status.id { $0.task = task } }
            return status
        }
    }

    /// Activates `version` and returns once it serves (or throws why not;
    /// the previous version then keeps serving). Waits while another
    /// activation runs: activations are serialised. `progress` hears every
    /// change of stage and every re-embedded chunk. Refinement jobs call this.
    @discardableResult
    public func activate(
        version: String, progress: (@Sendable (ActivationStatus) -> Void)? = nil
    ) async throws -> ActivationStatus {
        while true {
            let plan = try plan(version)
            do {
                if plan.nothingToDo { return try finishedAtOnce(plan) }
                guard try claim(plan) != nil else { continue }
            } catch EngineError.activationInProgress {
                // Activations take minutes; polling twice a second costs nothing.
                try await Task.sleep(nanoseconds: 500_000_000)
                continue
            }
            return try await run(plan, progress: progress)
        }
    }

    // MARK: Planning

    struct Plan {
        var version: String
        var path: String
        var from: ServingPair
        /// The serving model is the target (a re-embedding of collections
        /// left with another version's vectors).
        var reuseModel: Bool
        var nothingToDo: Bool
        var estimatedPeakBytes: Int
    }

    func plan(_ version: String) throws -> Plan {
        guard let versions else {
            throw EngineError.activationFailed(reason: "this engine was started without a data directory for model versions")
        }
        let info = try versions.find(version)
        if let problem = info.problem { throw EngineError.modelVersionUnusable(version: version, reason: problem) }
        let pair = models.current
        let reuse = pair.handle.version == version
        let stale = (pair.store?.list() ?? []).filter { $0.modelVersion != version && $0.count > 0 }
        let estimate = estimateMemory(pair: pair, modelPath: info.path, reuseModel: reuse)
        if let limit = configuration.maxMemoryBytes, !(reuse && stale.isEmpty), estimate.peak > limit {
            throw EngineError.insufficientMemory(neededBytes: estimate.peak, limitBytes: limit, detail: estimate.detail)
        }
        return Plan(version: version, path: info.path, from: pair, reuseModel: reuse, nothingToDo: reuse && stale.isEmpty,
                    estimatedPeakBytes: estimate.peak)
    }

    /// Peak memory of a swap: what the process holds now (one model, the
    /// live indexes, the runtime) plus the new model's weights and a shadow
    /// of every collection: vectors at the new length, the HNSW graph's
    /// half-precision copy and links where there is one, and about 1 KiB
    /// per document of id, text and metadata.
    func estimateMemory(pair: ServingPair, modelPath: String, reuseModel: Bool) -> (peak: Int, detail: String) {
        let resident = residentBytes()
        let model = reuseModel ? 0 : (loadedWeightBytes(folder: modelPath) ?? 0)
        let dimensions = hiddenSize(folder: modelPath) ?? pair.handle.model.dimensions
        var index = 0
        for c in pair.store?.list() ?? [] {
            let graph = c.indexKind == .hnsw ? dimensions * 2 + 8 * c.settings.hnsw.m + 64 : 0
            index += c.count * (dimensions * 4 + graph + 1024)
        }
        let detail = "resident now \(resident >> 20) MiB + new model \(model >> 20) MiB + shadow indexes \(index >> 20) MiB"
        return (resident + model + index, detail)
    }

    // MARK: Status

    /// The status of an activation with nothing to do; throws
    /// `activationInProgress` while another runs (it may change what serves).
    func finishedAtOnce(_ plan: Plan) throws -> ActivationStatus {
        try swap.withLock { (state: inout SwapState) throws(EngineError) -> ActivationStatus in
            if let running = state.running { throw EngineError.activationInProgress(version: running.version) }
            state.count += 1
            let now = Date()
            let status = ActivationStatus(
                id: state.count, version: plan.version, from: plan.from.handle.version, state: .succeeded, stage: .done,
                startedAt: now, finishedAt: now, estimatedPeakBytes: plan.estimatedPeakBytes,
                memoryLimitBytes: configuration.maxMemoryBytes)
            state.last = status
            return status
        }
    }

    /// Takes the activation slot, or throws `activationInProgress`; nil
    /// when a swap committed since `plan` was made (plan again).
    func claim(_ plan: Plan) throws -> ActivationStatus? {
        try swap.withLock { state throws(EngineError) -> ActivationStatus? in
            if let running = state.running { throw EngineError.activationInProgress(version: running.version) }
            // A commit installs its pair before it frees the slot, so with
            // the slot free the serving pair is final.
            guard models.current === plan.from else { return nil }
            state.count += 1
            let status = ActivationStatus(
                id: state.count, version: plan.version, from: plan.from.handle.version, state: .running, stage: .loading,
                startedAt: Date(), estimatedPeakBytes: plan.estimatedPeakBytes, memoryLimitBytes: configuration.maxMemoryBytes)
            state.running = status
            state.task = nil
            return status
        }
    }

    /// Changes the running status and tells `progress`.
    func update(_ progress: (@Sendable (ActivationStatus) -> Void)?, _ change: (inout ActivationStatus) -> Void) {
        let status: ActivationStatus? = swap.withLock {
            guard var s = $0.running else { return nil }
            change(&s)
            $0.running = s
            return s
        }
        if let status { progress?(status) }
    }

    /// Ends the running activation with `state`.
    func finish(_ state: ActivationStatus.State, error: String?, _ progress: (@Sendable (ActivationStatus) -> Void)?) -> ActivationStatus? {
        let status: ActivationStatus? = swap.withLock {
            guard var s = $0.running else { return nil }
            s.state = state
            s.stage = .done
            s.error = error
            s.finishedAt = Date()
            $0.running = nil
            $0.task = nil
            $0.last = s
            return s
        }
        if let status { progress?(status) }
        return status
    }
}

// MARK: - Collections left behind

extension InferenceEngine {
    /// Collections holding vectors of another version than the serving one
    /// (after a start that fell back from a version it could not load).
    /// Searches of them answer `modelVersionMismatch` until an activation
    /// of the serving version re-embeds them.
    public var staleCollections: [String] {
        let pair = models.current
        return (pair.store?.list() ?? []).filter { $0.modelVersion != pair.handle.version && $0.count > 0 }.map(\.name)
    }
}
