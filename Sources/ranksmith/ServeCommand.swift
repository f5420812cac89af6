import ArgumentParser
import Foundation
import HTTP
import Jobs
import Service

/// `ranksmith serve`: the HTTP service. Every flag may also be given as an
/// environment variable `RANKSMITH_<FLAG>` (upper case, dashes as
/// underscores); a flag on the command line wins.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve /embed, /rerank, /search and the refinement jobs over HTTP.")

    @Option(help: "Sentence-transformers folder of the embedding model.")
    var model: String = "models/all-MiniLM-L6-v2"
    @Option(help: "GGUF file of the generator (refinement jobs).")
    var generator: String = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "Cross-encoder folder (BertForSequenceClassification) used for reranking instead of cosine.")
    var crossEncoder: String?
    @Option(help: "Data directory: model versions, collections, jobs.")
    var dataDir: String = "var"
    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port, printed at start).")
    var port: Int = 8080
    @Option(help: "Comma-separated API keys accepted on data endpoints (Bearer). None: open.")
    var apiKeys: String?
    @Option(help: "Admin key for job and model endpoints (Bearer).")
    var adminKey: String?
    @Option(help: "Compute threads (0: all cores).")
    var threads: Int = 0
    @Option(help: "Most texts per request.")
    var maxInputs: Int = 2048
    @Option(help: "Most tokens per forward pass in the batcher.")
    var maxBatchTokens: Int = 8192
    @Option(help: "Most inputs waiting in the batcher before 429.")
    var maxQueued: Int = 8192
    @Option(help: "Most request body bytes, after gzip inflation too (413 beyond).")
    var maxBodyBytes: Int = 8 * 1024 * 1024
    @Option(help: "Most arrays and objects a JSON body may nest (422 beyond).")
    var maxJsonDepth: Int = 32
    @Option(help: "Most response bytes waiting for slow clients, all connections together (larger responses get 503 beyond; 0: unlimited).")
    var maxUnsentBytes: Int = 128 * 1024 * 1024
    @Option(help: "Most request header bytes.")
    var maxHeaderBytes: Int = 16 * 1024
    @Option(help: "Most open client connections.")
    var maxConnections: Int = 1024
    @Option(help: "Most requests on one keep-alive connection.")
    var maxRequestsPerConnection: Int = 10_000
    @Option(help: "Seconds a client may take to send its headers.")
    var headerTimeout: Double = 10
    @Option(help: "Seconds a client may take to send its body.")
    var bodyTimeout: Double = 30
    @Option(help: "Seconds an idle keep-alive connection is kept.")
    var idleTimeout: Double = 15
    @Option(help: "Seconds writing a response may stall before the connection is closed.")
    var writeTimeout: Double = 30
    @Option(help: "Seconds in-flight requests get to finish on SIGTERM.")
    var drainTimeout: Double = 10
    @Option(help: "Memory a model swap may bring the process to (bytes, or with K, M, G: powers of 1024). A swap estimated to need more is refused. None: no limit.")
    var maxMemory: String?
    @Option(help: "PEM certificate for in-process TLS.")
    var tlsCert: String?
    @Option(help: "PEM private key for in-process TLS.")
    var tlsKey: String?
    @Flag(help: "Do not write access-log lines.")
    var quiet = false
    @Option(help: "Background job workers (jobs run at a lower CPU priority than serving).")
    var jobWorkers: Int = 1
    @Option(help: "Finished jobs kept (oldest removed beyond it).")
    var jobRetention: Int = 100
    @Option(help: "Threads of a synthesis job's generator (1 leaves the other cores to serving).")
    var generatorThreads: Int = 1
    @Option(help: "Development pairs JSONL (sentence1, sentence2, score) that refine jobs gate on when they name no dev (default: data/stsb/stsb_dev.jsonl in the working directory, else in the checkout the binary was built in).")
    var devSet: String?
    @Option(help: "Nice value of job worker threads (0-19; higher yields more CPU to serving).")
    var jobNice: Int = 10
    @Option(help: "Memory one job may use (bytes, or with K, M, G). A job whose parameters need more (training batch, KV cache, lists held) is refused with 422 naming the field. Default: half of the machine's memory, its cgroup limit or its address-space limit, whichever is least.")
    var jobMemory: String?
    @Option(help: "Jobs queued or running at once; more are refused with 429.")
    var jobMaxQueued: Int = 64
    @Option(help: "Bytes a job's parameters may take once stored; more are refused with 413 (give long inputs as a file under the data directory).")
    var jobMaxParameterBytes: String = "256K"
    @Option(help: "Times a job that was running when the process died is resumed; at the next such start it fails (\"interrupted N times\").")
    var jobMaxInterruptions: Int = 2

    func makeConfiguration() throws -> ServiceConfiguration {
        var c = ServiceConfiguration()
        c.modelPath = model
        c.generatorPath = generator
        c.devSetPath = devSet.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? Self.bundledDevSet()
        c.crossEncoderPath = crossEncoder
        c.dataDirectory = dataDir
        c.host = host
        c.port = port
        c.apiKeys = (apiKeys ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        c.adminKey = adminKey.flatMap { $0.isEmpty ? nil : $0 }
        c.threads = threads
        c.maxInputsPerRequest = maxInputs
        c.maxBatchTokens = maxBatchTokens
        c.maxQueuedInputs = maxQueued
        c.http.limits.maxBodyBytes = maxBodyBytes
        c.http.limits.maxUnsentBytes = maxUnsentBytes
        c.maxJSONDepth = maxJsonDepth
        c.http.limits.maxHeaderBytes = maxHeaderBytes
        c.http.limits.maxConnections = maxConnections
        c.http.limits.maxRequestsPerConnection = maxRequestsPerConnection
        c.http.timeouts.header = headerTimeout
        c.http.timeouts.body = bodyTimeout
        c.http.timeouts.idle = idleTimeout
        c.http.timeouts.write = writeTimeout
        c.http.timeouts.drain = drainTimeout
        guard maxJsonDepth >= 1 else { throw ServiceStartError("--max-json-depth must be at least 1") }
        guard maxUnsentBytes >= 0 else { throw ServiceStartError("--max-unsent-bytes must be 0 (unlimited) or more") }
        guard writeTimeout > 0 else { throw ServiceStartError("--write-timeout must be more than 0 seconds") }
        if let maxMemory, !maxMemory.isEmpty {
            guard let bytes = Self.byteCount(maxMemory) else {
                throw ServiceStartError("--max-memory \(maxMemory) is not a size: give bytes, or a number with K, M or G (e.g. 2G)")
            }
            c.maxMemoryBytes = bytes
        }
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ServiceStartError("--tls-cert and --tls-key go together: give both or neither")
        }
        c.http.tlsCertificatePath = tlsCert
        c.http.tlsKeyPath = tlsKey
        if quiet { c.http.accessLog = nil }
        guard jobWorkers >= 1, jobRetention >= 1, generatorThreads >= 1 else {
            throw ServiceStartError("--job-workers, --job-retention and --generator-threads must be at least 1")
        }
        c.jobWorkers = jobWorkers
        c.jobRetention = jobRetention
        c.generatorThreads = generatorThreads
        guard (0...19).contains(jobNice) else { throw ServiceStartError("--job-nice must be between 0 and 19") }
        c.jobNice = jobNice
        if let jobMemory, !jobMemory.isEmpty {
            guard let bytes = Self.byteCount(jobMemory) else {
                throw ServiceStartError("--job-memory \(jobMemory) is not a size: give bytes, or a number with K, M or G (e.g. 4G)")
            }
            c.jobMemoryBytes = bytes
        }
        guard let parameterBytes = Self.byteCount(jobMaxParameterBytes) else {
            throw ServiceStartError("--job-max-parameter-bytes \(jobMaxParameterBytes) is not a size: give bytes, or a number with K, M or G (e.g. 256K)")
        }
        guard jobMaxQueued >= 1, jobMaxInterruptions >= 0 else {
            throw ServiceStartError("--job-max-queued must be at least 1 and --job-max-interruptions at least 0")
        }
        c.jobLimits = JobLimits(maxQueued: jobMaxQueued, maxParameterBytes: parameterBytes, maxInterruptions: jobMaxInterruptions)
        return c
    }

    func run() async throws {
        MemoryReturn.mapLargeBuffers()
        let service: RanksmithService
        let port: Int
        do {
            service = try RanksmithService(configuration: try makeConfiguration())
            port = try service.start()
        } catch {
            FileHandle.standardError.write(Data("ranksmith serve: \(error)\n".utf8))
            throw ExitCode(2)
        }
        FileHandle.standardError.write(Data("ranksmith serve: listening on \(host):\(port) (model \(service.models.active.id), version \(service.models.active.version))\n".utf8))
        let computeStopped = await service.runUntilTerminated()
        if !computeStopped {
            // A forward pass outlived the drain and its grace: its result has
            // no one to go to. exit() would run library destructors (OpenBLAS
            // frees its buffers) under it and crash, so leave without them;
            // everything acknowledged is already durable.
            FileHandle.standardError.write(Data("ranksmith serve: a model pass was still running; not waiting for it\n".utf8))
            FileHandle.standardError.write(Data("ranksmith serve: drained, exiting\n".utf8))
            _exit(0)
        }
        FileHandle.standardError.write(Data("ranksmith serve: drained, exiting\n".utf8))
    }
}

// MARK: - Returning memory

enum MemoryReturn {
    /// Makes glibc serve buffers of 1 MiB and more (request and response
    /// bodies) from mmap, so they go back to the system when freed. By
    /// default glibc raises that threshold after the first such free and
    /// then keeps every later peak resident for good. `mallopt` is not in
    /// Swift's Glibc module, hence the lookup; elsewhere it does nothing.
    static func mapLargeBuffers() {
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD in <malloc.h>
        _ = unsafeBitCast(symbol, to: MallOpt.self)(mmapThreshold, 1 << 20)
    }
}

extension ServeCommand {
    /// `text` as bytes: a whole number, optionally followed by K, M or G
    /// (powers of 1024; `KiB`, `MB` and the like are read the same way).
    static func byteCount(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let digits = t.prefix { $0.isNumber }
        guard let n = Int(digits), n > 0 else { return nil }
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let shifts: [String: Int] = ["": 0, "B": 0, "K": 10, "KB": 10, "KIB": 10, "M": 20, "MB": 20, "MIB": 20,
                                     "G": 30, "GB": 30, "GIB": 30, "T": 40, "TB": 40, "TIB": 40]
        guard let shift = shifts[unit], n <= Int.max >> shift else { return nil }
        return n << shift
    }
}

// MARK: - Environment variables

enum EnvironmentFlags {
    /// `arguments` with `--flag value` added for every `RANKSMITH_FLAG`
    /// environment variable whose flag the command line does not give.
    /// Applies to `serve` only, whose flags all take values except `--quiet`.
    static func merge(_ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        guard arguments.first == "serve" else { return arguments }
        var out = arguments
        let given = Set(arguments.filter { $0.hasPrefix("--") }.map { String($0.split(separator: "=", maxSplits: 1)[0]) })
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) where key.hasPrefix("RANKSMITH_") {
            let flag = "--" + key.dropFirst("RANKSMITH_".count).lowercased().replacingOccurrences(of: "_", with: "-")
            guard !given.contains(flag), ServeCommand.flagNames.contains(flag) else { continue }
            if flag == "--quiet" {
                if ["1", "true", "yes"].contains(value.lowercased()) { out.append(flag) }
            } else {
                out.append(contentsOf: [flag, value])
            }
        }
        return out
    }
}

extension ServeCommand {
    /// The long flag names `serve` accepts.
    static var flagNames: Set<String> {
        Set(ServeCommand.helpMessage(columns: 400).split(separator: "\n").compactMap { line -> String? in
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("--") else { return nil }
            return String(t.prefix { $0 != " " && $0 != "<" })
        })
    }

    /// The repository's STS-B dev file: in the working directory, else
    /// beside the checkout the binary runs from (`.build/release/ranksmith`
    /// is two folders below it). Absolute, so jobs find it whatever the
    /// working directory; a missing file fails only the refine jobs that
    /// rely on it, with a 422 naming `dev`.
    static func bundledDevSet() -> String {
        let relative = "data/stsb/stsb_dev.jsonl"
        var candidates = [URL(fileURLWithPath: relative)]
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(folder.appendingPathComponent(relative))
            folder = folder.deletingLastPathComponent()
        }
        let found = candidates.first { FileManager.default.fileExists(atPath: $0.path) } ?? candidates[0]
        return found.standardizedFileURL.path
    }
}
