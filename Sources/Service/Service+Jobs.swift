import Engine
import Foundation
import HTTP
import Index
import Jobs
import Numerics
import Refinement
import Storage
import Synchronization

// MARK: - Background jobs

extension RanksmithService {
    /// Opens `<data-dir>/jobs` and registers the job kinds this server runs.
    static func openJobs(_ c: ServiceConfiguration, metrics: SynthesisMetrics, engine: InferenceEngine) -> (JobQueue?, String?) {
        do {
            return (try jobQueue(c, engine: engine, metrics: metrics), nil)
        } catch {
            FileHandle.standardError.write(Data("ranksmith serve: jobs unavailable: \(error)\n".utf8))
            return (nil, "\(error)")
        }
    }

    /// The job queue of `<data-dir>/jobs` with the synthesis, refine and
    /// train runners registered, refining `engine`'s model; not started.
    /// `ranksmith refine` runs its job through it too.
    public static func jobQueue(_ c: ServiceConfiguration, engine: InferenceEngine,
                                metrics: SynthesisMetrics = SynthesisMetrics()) throws -> JobQueue {
        let dir = URL(fileURLWithPath: c.dataDirectory).appendingPathComponent("jobs", isDirectory: true)
        let queue = try JobQueue(directory: dir, workers: c.jobWorkers, retention: c.jobRetention,
                                 niceness: Int32(c.jobNice), limits: c.jobLimits, redact: pathRedactor(c).callAsFunction)
        let synthesis = SynthesisJobRunner(dataDirectory: c.dataDirectory, defaultGenerator: c.generatorPath,
                                           threads: c.generatorThreads, metrics: metrics,
                                           memoryBudget: c.jobMemoryBytes ?? JobMemory.defaultBudget(),
                                           teacher: { engine.models.active.model })
        queue.register(synthesis)
        let host = refineHost(engine, c)
        queue.register(RefineJobRunner(synthesis: synthesis, defaultDev: c.devSetPath, host: host))
        queue.register(TrainJobRunner(synthesis: synthesis, defaultDev: c.devSetPath, host: host) { [weak queue] id in
            guard let queue, let record = queue.get(id) else { return nil }
            return (record, queue.folder(of: id))
        })
        return queue
    }

    /// What job records and logs may name: paths under the data directory,
    /// the model folders, the generator's and the dev set's folders and
    /// the working directory, relative to them (`PathRedactor`).
    static func pathRedactor(_ c: ServiceConfiguration) -> PathRedactor {
        func parent(_ p: String) -> String { URL(fileURLWithPath: p).deletingLastPathComponent().path }
        var roots = [c.dataDirectory, parent(c.modelPath), parent(c.generatorPath), parent(c.devSetPath),
                     FileManager.default.currentDirectoryPath]
        if let cross = c.crossEncoderPath { roots.append(parent(cross)) }
        return PathRedactor(roots: roots)
    }

    /// What refine jobs use of the engine: the serving model, version
    /// folders, and the activation (blocking the job's worker thread, which
    /// is not one of the concurrency pool's).
    static func refineHost(_ engine: InferenceEngine, _ c: ServiceConfiguration) -> RefineHost {
        let versions = engine.versions
        return RefineHost(
            active: {
                let handle = engine.models.active
                return (handle.version, handle.model)
            },
            path: { version in
                if version == "active" { return engine.models.active.model.directory.path }
                guard let versions else { throw EngineError.unknownModelVersion(version) }
                return try versions.find(version).path
            },
            modelsDirectory: versions?.directory ?? URL(fileURLWithPath: c.dataDirectory).appendingPathComponent("models").path,
            versionExists: { version in
                try ModelVersions.validate(version)
                return (try? versions?.find(version)) != nil
            },
            activate: { version, progress in
                let outcome = ActivationOutcome()
                let done = DispatchSemaphore(value: 0)
                Task.detached {
                    let result: Result<ActivationStatus, Error>
                    do {
                        result = .success(try await engine.activate(version: version) { status in
                            progress(status.documentsDone, status.documentsTotal)
                        })
                    } catch { result = .failure(error) }
                    outcome.value.withLock { $0 = result }
                    done.signal()
                }
                done.wait()
                let status = try outcome.value.withLock { $0! }.get()
                guard status.state == .succeeded else {
                    throw RefineError(status.error ?? "the activation ended \(status.state.rawValue)")
                }
            })
    }

    func addJobRoutes(_ router: inout Router) {
        router.post("/jobs/synthesize", data { try await $0.submitSynthesis($1) })
        router.post("/jobs/refine", data { try await $0.submitRefine($1) })
        router.post("/jobs/train", data { try await $0.submitTrain($1) })
        router.get("/jobs", data { try await $0.listJobs($1) })
        router.get("/jobs/{id}", data { try await $0.getJob($1) })
        router.delete("/jobs/{id}", data { try await $0.deleteJob($1) })
        router.get("/jobs/{id}/dataset", data { try await $0.jobDataset($1) })
    }

    func jobQueue() throws -> JobQueue {
        guard let jobs else {
            throw APIError.notReady("the job folder could not be opened at start-up: \(jobsError ?? "unknown error"); check the data directory and restart")
        }
        return jobs
    }

    static func apiError(_ e: JobError) -> APIError {
        switch e {
        case let .invalid(field, message):
            return APIError(status: 422, code: "invalid_field", message: "field '\(field)': \(message)")
        case .notFound: return APIError(status: 404, code: "unknown_job", message: e.description + "; list jobs with GET /jobs")
        case .busy: return APIError(status: 409, code: "job_busy", message: e.description)
        case .committing: return APIError(status: 409, code: "job_committing", message: e.description)
        case .queueFull: return APIError(status: 429, code: "job_queue_full", message: e.description, headers: [("Retry-After", "30")])
        case .tooLarge: return APIError(status: 413, code: "job_too_large", message: e.description)
        case .unknownKind, .storage, .cancelled: return APIError(status: 500, code: "jobs", message: e.description)
        }
    }

    /// The record as the API answers it.
    static func jobResponse(_ r: JobRecord, status: Int = 200) throws -> HTTPResponse {
        .json(Array(try JobRecord.encoder.encode(r)), status: status)
    }

    // MARK: Handlers

    func submitSynthesis(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await submit(kind: "synthesize", request, known: Self.synthesisFields.union(TeacherFilterSettings.fields))
    }

    /// Queues a refine job: the synthesis fields plus `RefineSettings.fields`.
    func submitRefine(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await submit(kind: "refine", request, known: Self.synthesisFields.union(RefineSettings.fields).union(TeacherFilterSettings.fields))
    }

    /// Queues a train job: `TrainJobSettings.fields`.
    func submitTrain(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await submit(kind: "train", request, known: Set(TrainJobSettings.fields))
    }

    static let synthesisFields: Set<String> = ["sentences", "collection", "sample", "seed", "file", "rounds", "guidance_scale", "max_new_tokens",
                                               "ngram_block", "hygiene", "min_list_length", "batch_chains", "generator", "generator_model"]

    /// Decodes a job request, turns `collection` + `sample` into sentences, and queues it.
    func submit(kind: String, _ request: HTTPRequest, known: Set<String>) async throws -> HTTPResponse {
        let queue = try jobQueue()
        // Refused before the body is decoded: a full queue or an oversized
        // body costs the server no more than reading the request did.
        try queue.checkRoom()
        if request.body.count > queue.limits.maxParameterBytes {
            throw JobError.tooLarge(bytes: request.body.count, limit: queue.limits.maxParameterBytes)
        }
        var body = try decodeBody([String: JSONValue].self, from: request)
        if let unknown = body.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError.invalidField(unknown, "unknown field; accepted: \(known.sorted().joined(separator: ", "))")
        }
        if let c = body["collection"], c != .null {
            guard body["sentences"] == nil && body["file"] == nil else {
                throw APIError.invalidField("collection", "give one input: sentences, collection with sample, or file")
            }
            guard let name = c.stringValue else { throw APIError.invalidField("collection", "expected a collection name (string)") }
            body["sentences"] = .array(try sampleCollection(name, sample: body["sample"], seed: body["seed"]).map(JSONValue.string))
        } else if body["sample"] != nil {
            throw APIError.invalidField("sample", "sample needs a collection")
        }
        // Validation may read files (a lists file, a dev set): off the cooperative pool.
        let record = try await Task.detached { try queue.submit(kind: kind, parameters: body) }.value
        return try Self.jobResponse(record, status: 202)
    }

    /// Texts of `sample` documents of collection `name`: a count (integer ≥ 1)
    /// or a fraction in (0, 1); all of them when absent. Seeded, so a job
    /// can be repeated.
    func sampleCollection(_ name: String, sample: JSONValue?, seed: JSONValue?) throws -> [String] {
        let collection: Index.Collection
        do { collection = try engine.collection(named: name) } catch EngineError.index(.unknownCollection(_)) {
            throw APIError.invalidField("collection", "no collection named '\(name)'; create it with PUT /collections/{name}")
        }
        var texts = collection.allDocuments().map(\.document.text).filter { !$0.isEmpty }
        guard !texts.isEmpty else { throw APIError.invalidField("collection", "collection '\(name)' has no documents with text") }
        var want = texts.count
        if let sample, sample != .null {
            guard let n = sample.numberValue, n > 0 else { throw APIError.invalidField("sample", "expected a count ≥ 1 or a fraction in (0, 1)") }
            if n < 1 { want = max(1, Int((n * Double(texts.count)).rounded())) }
            else {
                guard n.rounded() == n else { throw APIError.invalidField("sample", "a count must be a whole number; a fraction must be below 1") }
                want = min(texts.count, Int(n))
            }
        }
        var rng = SplitMix64(seed: UInt64(max(0, seed?.numberValue ?? 0)))
        for i in stride(from: texts.count - 1, to: 0, by: -1) {
            texts.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        return Array(texts.prefix(want))
    }

    /// Jobs, newest first, a page at a time: `limit` (1–500, default 50)
    /// summaries after `cursor`; `full=true` gives whole records (at most
    /// 20 a page), so a page stays far below the response limits.
    func listJobs(_ request: HTTPRequest) async throws -> HTTPResponse {
        let queue = try jobQueue()
        let full = ["1", "true"].contains(request.query["full"]?.lowercased() ?? "")
        let most = full ? Self.maxFullJobsPage : Self.maxJobsPage
        var limit = full ? Self.maxFullJobsPage : Self.defaultJobsPage
        if let text = request.query["limit"] {
            guard let n = Int(text), (1...most).contains(n) else {
                throw APIError.invalidField("limit", "limit must be a whole number from 1 to \(most)\(full ? " with full=true" : "")")
            }
            limit = n
        }
        var cursor: JobCursor?
        if let text = request.query["cursor"], !text.isEmpty {
            guard let c = JobCursor(text) else {
                throw APIError.invalidField("cursor", "cursor must be the next_cursor of a previous page of GET /jobs")
            }
            cursor = c
        }
        let (records, next) = queue.page(limit: limit, after: cursor)
        let nextValue = next.map { "\"\($0.description)\"" } ?? "null"
        let jobs = full ? try JobRecord.encoder.encode(records) : try JobRecord.encoder.encode(records.map(JobSummary.init))
        var body = Array(#"{"jobs":"#.utf8)
        body += jobs
        body += Array(#","next_cursor":\#(nextValue)}"#.utf8)
        return .json(body)
    }

    static let defaultJobsPage = 50
    static let maxJobsPage = 500
    static let maxFullJobsPage = 20

    func getJob(_ request: HTTPRequest) async throws -> HTTPResponse {
        let id = request.pathParameters["id"] ?? ""
        guard let r = try jobQueue().get(id) else { throw JobError.notFound(id) }
        return try Self.jobResponse(r)
    }

    func deleteJob(_ request: HTTPRequest) async throws -> HTTPResponse {
        let id = request.pathParameters["id"] ?? ""
        let queue = try jobQueue()
        guard queue.get(id) != nil else { throw JobError.notFound(id) }
        // Waiting for a running job to stop blocks; keep it off the cooperative pool.
        try await Task.detached { try queue.delete(id) }.value
        return .json(#"{"id":"\#(id)","deleted":true}"#)
    }

    /// The job's kept lists, JSONL, streamed from the file (chunked): whole
    /// lines only, up to the file's size at the moment of the request, so a
    /// running job's dataset never ends in a torn line.
    func jobDataset(_ request: HTTPRequest) async throws -> HTTPResponse {
        let id = request.pathParameters["id"] ?? ""
        let queue = try jobQueue()
        guard let r = queue.get(id) else { throw JobError.notFound(id) }
        guard r.kind == "synthesize" || r.kind == "refine" else {
            throw APIError(status: 404, code: "no_dataset", message: "job \(id) is a \(r.kind) job; only synthesize and refine jobs have a dataset")
        }
        let path = queue.folder(of: id).appendingPathComponent(SynthesisJobRunner.listsFile).path
        let stream: any HTTPBodyStream
        do {
            stream = try FileBodyStream(path: path, wholeLinesOnly: true)
        } catch .missing {
            // No list written yet: an empty dataset, framed like a full one.
            stream = BytesBodyStream([])
        } catch .failed(let error) {
            throw APIError(status: 500, code: "dataset_unreadable", message: "cannot read the dataset of job \(id): \(error)")
        }
        return HTTPResponse(headers: ["Content-Type": "application/x-ndjson"], stream: stream)
    }

    // MARK: Metrics

    func declareJobMetrics() {
        metrics.gauge("ranksmith_jobs", help: "Jobs by state.") { [weak self] in
            guard let counts = self?.jobs?.counts() else { return [] }
            return JobState.allCases.map { ([("state", $0.rawValue)], Double(counts[$0] ?? 0)) }
        }
        let m = synthesisMetrics
        metrics.gauge("ranksmith_synthesis_lists_written", help: "Ranking lists written by synthesis jobs since start.") { Double(m.snapshot.lists) }
        metrics.gauge("ranksmith_synthesis_chains_dropped", help: "Chains dropped by the filters since start.") { Double(m.snapshot.dropped) }
        metrics.gauge("ranksmith_generator_tokens_generated", help: "Tokens generated by synthesis jobs since start.") { Double(m.snapshot.tokens) }
        metrics.gauge("ranksmith_generator_tokens_per_second", help: "Generated tokens per second over the latest batch of a synthesis job.") { m.snapshot.lastRate }
        metrics.gauge("ranksmith_generator_prompt_tokens_saved", help: "Prompt tokens that prefix reuse kept the generator from running, since start.") { Double(m.snapshot.saved) }
        metrics.gauge("ranksmith_generator_prompt_tokens_saved_per_second", help: "Prompt tokens saved by prefix reuse per second of run time of the latest synthesis job.") { m.snapshot.savedRate }
    }
}

/// Where a refine job's worker thread finds the result of the activation
/// it waits for (a class: a Mutex cannot be captured by the task itself).
private final class ActivationOutcome: Sendable {
    let value = Mutex<Result<ActivationStatus, Error>?>(nil)
}
