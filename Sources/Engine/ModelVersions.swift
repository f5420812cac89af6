import Foundation
import Index
import Storage

// MARK: - Model versions on disk
//
// Under the data directory:
//
//   models/<version>/   a sentence-transformers folder (config.json,
//                       model.safetensors, tokenizer files, 1_Pooling/) plus
//                       manifest.json (version, parent, dataset,
//                       hyper-parameters, curve, evaluation, seconds), as the
//                       trainer publishes it; immutable once published
//   active.json         which version serves and which index folder holds
//                       its vectors; replaced atomically (AtomicFile) only
//                       when a swap commits, so it never names a half-built
//                       shadow index:
//                       {"format": 1, "version", "index", "previous", "activated_at"}
//   index/ or index-<version>-<hex>/
//                       the collections of one model version; the one that
//                       active.json names serves, any other is a shadow that
//                       a swap did not finish (or a retired one not yet
//                       deleted) and is removed at start
//
// The bundled model (`--model`) is the version `base` (or what its own
// manifest.json says); it lives outside the data directory.

/// What `active.json` records.
struct ActiveRecord: Codable, Equatable {
    static let fileName = "active.json"
    static let currentFormat = 1

    var format: Int
    /// The version serving.
    var version: String
    /// The index folder (a name inside the data directory) with its vectors.
    var index: String
    /// The version that served before, tried first when `version` cannot be loaded.
    var previous: String?
    /// When the swap committed (ISO 8601).
    var activated_at: String?
}

/// A model version as `GET /models` lists it.
public struct ModelVersionInfo: Sendable {
    /// The version id (the folder's name; the bundled model's version).
    public var version: String
    /// Whether this is the bundled model given with `--model`.
    public var isBase: Bool
    /// Its folder.
    public var path: String
    /// `manifest.json` as written (parent, dataset, hyper-parameters,
    /// curve, evaluation, …); nil when the folder has none.
    public var manifest: JSONValue?
    /// Why the version cannot be served (missing files, unreadable
    /// manifest); nil when it looks complete.
    public var problem: String?
}

/// The versions under `<data-dir>/models/` plus the bundled one, and the
/// persisted choice of the active one. Reads the file system on every call
/// (a trainer may publish a version at any time); writes only `active.json`
/// and deletes version folders.
public final class ModelVersions: Sendable {
    /// The data directory.
    public let dataDirectory: String
    /// `<data-dir>/models`.
    public let directory: String
    /// The bundled model's version id.
    public let baseVersion: String
    /// The bundled model's folder.
    public let basePath: String

    /// Versions in `directory`; the bundled model at `basePath` serves as `baseVersion`.
    public init(dataDirectory: String, baseVersion: String, basePath: String) {
        self.dataDirectory = dataDirectory
        directory = dataDirectory + "/models"
        self.baseVersion = baseVersion
        self.basePath = basePath
    }

    /// Prefix of a version folder being deleted (renamed first, so a crash
    /// mid-delete leaves no half version that looks servable).
    static let deletingPrefix = ".deleting-"

    // MARK: Names

    /// Throws `invalidInput` unless `version` can name a folder: 1–128 of
    /// `A-Za-z0-9._-`, not starting with a dot, and not `activation` (the
    /// name of the status resource beside the versions in the API).
    public static func validate(_ version: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !version.isEmpty, version.count <= 128, !version.hasPrefix("."), version.allSatisfy(allowed.contains),
              version != "activation" else {
            throw EngineError.invalidInput(
                field: "version", reason: "must be 1–128 characters of A-Za-z0-9._- not starting with '.', and not 'activation'")
        }
    }

    /// The `version` field of `<folder>/manifest.json`, if there is one.
    static func manifestVersion(of folder: URL) -> String? {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("manifest.json").path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["version"] as? String
    }

    // MARK: Listing

    /// The folder of `version`.
    public func path(of version: String) -> String {
        version == baseVersion ? basePath : directory + "/" + version
    }

    /// Every version: the bundled one first, then the data directory's by name.
    public func list() -> [ModelVersionInfo] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var out = [info(version: baseVersion, isBase: true)]
        for name in names.sorted() where !name.hasPrefix(".") && name != baseVersion {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory),
                  isDirectory.boolValue, (try? Self.validate(name)) != nil else { continue }
            out.append(info(version: name, isBase: false))
        }
        return out
    }

    /// The version `version`, or `unknownModelVersion`.
    public func find(_ version: String) throws -> ModelVersionInfo {
        try Self.validate(version)
        if version == baseVersion { return info(version: version, isBase: true) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path(of: version), isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EngineError.unknownModelVersion(version)
        }
        return info(version: version, isBase: false)
    }

    private func info(version: String, isBase: Bool) -> ModelVersionInfo {
        let folder = path(of: version)
        var manifest: JSONValue?
        var problem: String?
        let manifestPath = folder + "/manifest.json"
        if let data = FileManager.default.contents(atPath: manifestPath) {
            do {
                manifest = try JSONDecoder().decode(JSONValue.self, from: data)
            } catch {
                problem = "manifest.json is not valid JSON"
            }
        }
        let missing = ["config.json", "model.safetensors"].filter { !FileManager.default.fileExists(atPath: folder + "/" + $0) }
        if !missing.isEmpty { problem = "\(missing.joined(separator: " and ")) missing from \(folder)" }
        return ModelVersionInfo(version: version, isBase: isBase, path: folder, manifest: manifest, problem: problem)
    }

    // MARK: The active record

    /// What `active.json` says: nil when it does not exist (nothing was
    /// ever activated: `base` with the `index` folder); throws a sentence
    /// when it exists but cannot be read.
    func readActive() throws -> ActiveRecord? {
        let path = dataDirectory + "/" + ActiveRecord.fileName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let record = try? JSONDecoder().decode(ActiveRecord.self, from: data),
              record.format == ActiveRecord.currentFormat, !record.index.isEmpty, !record.index.contains("/")
        else {
            throw EngineError.invalidInput(field: ActiveRecord.fileName, reason: "\(path) is not a valid record of the active version")
        }
        return record
    }

    /// Replaces `active.json` durably: the swap's commit point.
    func writeActive(_ record: ActiveRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let bytes = [UInt8]((try? encoder.encode(record)) ?? Data())
        do {
            try AtomicFile.write(bytes, to: dataDirectory + "/" + ActiveRecord.fileName)
        } catch {
            throw EngineError.activationFailed(reason: "cannot record the new active version: \(error)")
        }
    }

    // MARK: Deleting

    /// Deletes the folder of `version` (the caller has checked that it does
    /// not serve): renamed aside first, so a crash leaves either the whole
    /// version or a leftover that the next start removes.
    func delete(_ version: String) throws {
        let folder = path(of: version)
        let aside = directory + "/" + Self.deletingPrefix + version + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        guard rename(folder, aside) == 0 else {
            throw EngineError.activationFailed(reason: "cannot delete \(folder): \(String(cString: strerror(errno)))")
        }
        try? FileIO.syncDirectory(directory, faults: nil)
        try? FileManager.default.removeItem(atPath: aside)
    }

    // MARK: Start-up clean-up

    /// Removes what interrupted work left in `models/`: versions being
    /// published (`.publishing-*`, `.<name>.<id>.partial`) or deleted
    /// (`.deleting-*`). Answers the names removed. Call before any job runs.
    @discardableResult
    func removeLeftovers() -> [String] {
        var removed = AtomicDirectory.removeLeftovers(in: directory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix(Self.deletingPrefix) || (name.hasPrefix(".") && name.hasSuffix(".partial")) {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
            removed.append(name)
        }
        return removed
    }

    /// Index folders in the data directory that `active` does not name:
    /// shadows of swaps that did not commit and retired generations whose
    /// deletion was cut short. Removes them; answers their names.
    @discardableResult
    func removeIndexesOtherThan(_ active: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory)) ?? []
        var removed: [String] = []
        for name in names where name != active && (name == "index" || name.hasPrefix(Self.indexPrefix)) {
            try? FileManager.default.removeItem(atPath: dataDirectory + "/" + name)
            removed.append(name)
        }
        return removed
    }

    /// Prefix of the index folders that swaps create.
    static let indexPrefix = "index-"

    /// A fresh index folder name for `version`.
    static func newIndexName(for version: String) -> String {
        indexPrefix + version + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}
