import Encoder
import Foundation
import Index
import Storage

// MARK: - Running a swap (steps 2–6 of InferenceEngine+Activation.swift)

extension InferenceEngine {
    /// Runs a claimed activation to its end; the slot is free afterwards.
    func run(_ plan: Plan, progress: (@Sendable (ActivationStatus) -> Void)?) async throws -> ActivationStatus {
        var shadow: ShadowBuild?
        do {
            update(progress) { $0.stage = .loading }
            let handle = plan.reuseModel ? plan.from.handle : try await load(plan)
            try Task.checkCancellation()
            let built = try installShadow(handle: handle, plan: plan)
            shadow = built
            try await reembed(built, progress: progress)
            update(progress) { $0.stage = .committing }
            try commit(built)
            shadow = nil
            return finish(.succeeded, error: nil, progress)!
        } catch {
            if let shadow { abandon(shadow) }
            let reason: String
            switch error {
            case is CancellationError: reason = "cancelled (the server is stopping)"
            case let e as EngineError: reason = "\(e)"
            default: reason = "\(error)"
            }
            _ = finish(.failed, error: reason, progress)
            if let e = error as? EngineError, case .activationFailed = e { throw e }
            throw EngineError.activationFailed(reason: reason)
        }
    }

    /// Loads the new model off the cooperative threads (reading and
    /// converting the weights takes a second or more) and checks that it
    /// gives finite vectors.
    func load(_ plan: Plan) async throws -> ModelHandle {
        let versions = versions!
        let cross = plan.from.handle.crossEncoder
        let loaded: Result<ModelHandle, Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { try Self.loadVersion(plan.version, versions: versions, crossEncoder: cross) })
            }
        }
        let handle: ModelHandle
        do { handle = try loaded.get() } catch let e as EngineError { throw e } catch {
            throw EngineError.modelVersionUnusable(version: plan.version, reason: "\(error)")
        }
        let probe = try await embed(["A probe sentence to check the weights."], field: "probe", handle: handle)
        guard probe.vectors.data.allSatisfy(\.isFinite) else {
            throw EngineError.modelVersionUnusable(version: plan.version, reason: "its vectors are not finite (NaN or infinite weights)")
        }
        return handle
    }

    /// Step 3: an empty shadow of every collection, published to writers.
    func installShadow(handle: ModelHandle, plan: Plan) throws -> ShadowBuild {
        guard let versions, let liveStore = plan.from.store else {
            throw EngineError.indexUnavailable(reason: plan.from.storeError ?? "unknown error")
        }
        let indexName = ModelVersions.newIndexName(for: plan.version)
        let store: CollectionStore
        do {
            store = try CollectionStore(directory: URL(fileURLWithPath: versions.dataDirectory + "/" + indexName))
        } catch {
            throw EngineError.activationFailed(reason: "cannot create the shadow index \(indexName): \(error)")
        }
        let shadow = ShadowBuild(handle: handle, store: store, indexName: indexName, base: plan.from)
        do {
            try transition.exclusive {
                guard models.current === plan.from else {
                    throw EngineError.activationFailed(reason: "another swap committed meanwhile")
                }
                for info in liveStore.list() {
                    _ = try indexCall {
                        try store.create(name: info.name, dimensions: handle.model.dimensions, modelVersion: handle.version,
                                         settings: info.settings)
                    }
                }
                swap.withLock { $0.shadow = shadow }
            }
        } catch {
            store.closeAll()
            try? FileManager.default.removeItem(atPath: versions.dataDirectory + "/" + indexName)
            throw error
        }
        return shadow
    }

    /// Step 4: every document of every live collection into its shadow.
    func reembed(_ shadow: ShadowBuild, progress: (@Sendable (ActivationStatus) -> Void)?) async throws {
        guard let liveStore = shadow.base.store else { return }
        let names = shadow.store.list().map(\.name)
        var work: [(Collection, [String])] = []
        for name in names {
            guard let live = try? liveStore.collection(name) else { continue }
            work.append((live, live.ids()))
        }
        let total = work.reduce(0) { $0 + $1.1.count }
        update(progress) {
            $0.stage = .reembedding
            $0.collectionsTotal = work.count
            $0.documentsTotal = total
        }
        let chunkSize = min(Self.reembedChunk, configuration.maxInputsPerRequest)
        for (live, ids) in work {
            let target = try indexCall { try shadow.store.collection(live.name) }
            // Vectors already of the new version are copied, not recomputed.
            let copy = live.modelVersion == shadow.handle.version
            var start = 0
            while start < ids.count {
                try Task.checkCancellation()
                let chunk = ids[start..<min(start + chunkSize, ids.count)]
                let documents = chunk.compactMap { live.get(id: $0) }
                var vectors = documents.map(\.vector)
                if !copy && !documents.isEmpty {
                    let e = try await embedForShadow(documents.map(\.document.text), handle: shadow.handle)
                    vectors = (0..<documents.count).map { e.vectors.row($0) }
                }
                let stop: Bool = try shadow.writes.locked {
                    if let failure = shadow.failure { throw EngineError.activationFailed(reason: failure) }
                    if shadow.dropped.contains(live.name) { return true }
                    let written = shadow.written[live.name] ?? []
                    let items = zip(documents, vectors).filter { !written.contains($0.0.document.id) }
                        .map { (document: $0.0.document, vector: $0.1) }
                    try indexCall { try target.upsert(items) }
                    return false
                }
                if stop { break }
                start += chunk.count
                update(progress) { $0.documentsDone += chunk.count }
            }
            update(progress) { $0.collectionsDone += 1 }
        }
    }

    /// Embeds for the shadow through the batcher, waiting while the queue
    /// is full of live requests (they go first; the swap just takes longer).
    func embedForShadow(_ texts: [String], handle: ModelHandle) async throws -> Embeddings {
        while true {
            do {
                return try await embed(texts, field: "documents", truncate: true, handle: handle)
            } catch EngineError.overloaded {
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
    }

    /// Step 5: snapshot, record durably, swap the pair; step 6: retire the old index.
    func commit(_ shadow: ShadowBuild) throws {
        guard let versions else { return }
        // Snapshots outside the lock: the next start then replays little log.
        do { try shadow.store.snapshotAll() } catch {
            throw EngineError.activationFailed(reason: "cannot snapshot the shadow index: \(error)")
        }
        let old: ServingPair = try transition.exclusive {
            if let failure = shadow.writes.locked({ shadow.failure }) { throw EngineError.activationFailed(reason: failure) }
            guard models.current === shadow.base else { throw EngineError.activationFailed(reason: "another swap committed meanwhile") }
            let record = ActiveRecord(
                format: ActiveRecord.currentFormat, version: shadow.handle.version, index: shadow.indexName,
                previous: shadow.base.handle.version, activated_at: ISO8601DateFormatter().string(from: Date()))
            do {
                try versions.writeActive(record)
            } catch {
                // The rename may have happened even though a later fsync
                // failed: the file then names the shadow, which must stay.
                guard (try? versions.readActive()) == record else { throw error }
            }
            let pair = ServingPair(handle: shadow.handle, store: shadow.store, storeError: nil, indexName: shadow.indexName,
                                   generation: shadow.base.generation + 1)
            swap.withLock { $0.shadow = nil }
            return models.install(pair)
        }
        // Searches holding the old pair keep reading its memory; no write
        // can reach it (writes re-check the pair under the lock).
        old.store?.closeAll()
        if old.indexName != shadow.indexName {
            try? FileManager.default.removeItem(atPath: versions.dataDirectory + "/" + old.indexName)
        }
    }

    /// Unpublishes and deletes a shadow that will not commit.
    func abandon(_ shadow: ShadowBuild) {
        transition.exclusive {
            swap.withLock { if $0.shadow === shadow { $0.shadow = nil } }
        }
        shadow.store.closeAll()
        if let versions { try? FileManager.default.removeItem(atPath: versions.dataDirectory + "/" + shadow.indexName) }
    }

    // MARK: Deleting versions

    /// Deletes model version `version`'s folder. Refused (`modelVersionInUse`)
    /// for the serving version, the bundled one, and one being activated.
    public func deleteVersion(_ version: String) throws {
        guard let versions else {
            throw EngineError.activationFailed(reason: "this engine was started without a data directory for model versions")
        }
        let info = try versions.find(version)
        if info.isBase {
            throw EngineError.modelVersionInUse(version: version, reason: "it is the bundled model (--model), which lives outside the data directory")
        }
        // Under the transition lock: no swap commits while we decide.
        try transition.exclusive {
            if models.current.handle.version == version {
                throw EngineError.modelVersionInUse(version: version, reason: "it is the active version; activate another one first")
            }
            if let running = swap.withLock({ $0.running }), running.version == version {
                throw EngineError.modelVersionInUse(version: version, reason: "an activation of it is running")
            }
            try versions.delete(version)
        }
    }
}
