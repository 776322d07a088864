import Crypto
import Foundation
import JMESPath
import SQLMetadataStore

/// `coffer backup` and `coffer restore` for the embedded stack (SQLite metadata, objects on the filesystem), online:
/// the server keeps serving while a backup is taken.
///
/// Order matters. The metadata is copied first, as one snapshot (`VACUUM INTO`); the objects after it. Objects are
/// immutable and every write has its own key, so each object the snapshot names is either copied or was deleted by
/// garbage collection in between — which only happens to objects nothing has referenced for the grace period
/// (`--gc-grace-seconds`, an hour by default). Such records are dropped from the copy; an object a manifest needs
/// that is missing fails the backup. Upload sessions in progress are not kept. The index of files with their
/// SHA-256 (`coffer-backup.json`) is written last: a backup cut off midway has none, and restore refuses it.
public enum DataDirectoryBackup {
    public static let indexName = "coffer-backup.json"
    /// What opens the data: anyone holding these reads every registry and key of the backup.
    public static let secretFiles: Set<String> = [
        "master.key", "ca-key.pem", "server-key.pem", "token-signing-key.pem", "admin-credentials.json", "admin-credential.json",
        "operator-credentials.json", "identity-header",
    ]
    static let metadataName = "metadata.sqlite"
    static let objectsDirectory = "blobs/objects"

    public struct Report: Sendable {
        public var files = 0
        public var bytes: Int64 = 0
        public var objects = 0
        /// Records of objects garbage collection removed while the backup ran (nothing referenced them).
        public var droppedRecords = 0
        public var secretsIncluded = true
        /// Secret files the restored directory still needs before `coffer serve` can start.
        public var missingSecrets: [String] = []
    }

    public struct BackupError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: backup

    public static func backup(dataDirectory: String, to destination: String, includeSecrets: Bool) async throws -> Report {
        let files = FileManager.default
        let database = dataDirectory + "/" + metadataName
        guard files.fileExists(atPath: database) else {
            throw BackupError("\(dataDirectory) has no \(metadataName): not the data directory of a server on the embedded store "
                              + "(for PostgreSQL and S3, follow the recipe in docs/operations.md)")
        }
        guard files.fileExists(atPath: dataDirectory + "/" + objectsDirectory) else {
            throw BackupError("\(dataDirectory) keeps no objects on the filesystem (an S3 blob store?): follow the recipe in docs/operations.md")
        }
        try prepareEmptyDirectory(destination)
        var index: [(path: String, size: Int64, sha256: String)] = []
        var report = Report(secretsIncluded: includeSecrets)

        // 1. The metadata, as one snapshot.
        let snapshot = destination + "/" + metadataName
        try await SQLiteBackup.snapshot(database, into: snapshot)
        // 2. The objects, after it.
        let sourceObjects = dataDirectory + "/" + objectsDirectory
        for relative in try regularFiles(under: sourceObjects) {
            let target = destination + "/" + objectsDirectory + "/" + relative
            try files.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard let (size, digest) = try copyIfPresent(sourceObjects + "/" + relative, to: target) else { continue }  // collected meanwhile
            index.append((objectsDirectory + "/" + relative, size, digest))
            report.objects += 1
        }
        // 3. The snapshot made to agree with what was copied.
        let copiedObjects = destination + "/" + objectsDirectory
        let (_, dropped) = try await SQLiteBackup.reconcile(snapshot) { key in FileManager.default.fileExists(atPath: copiedObjects + "/" + key) }
        report.droppedRecords = dropped
        let (size, digest) = try hash(snapshot)
        index.append((metadataName, size, digest))
        // 4. The data directory's own files: certificates, keys, credentials (secrets only when asked).
        for name in try files.contentsOfDirectory(atPath: dataDirectory).sorted() {
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: dataDirectory + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue,
                  !name.hasPrefix(metadataName), includeSecrets || !secretFiles.contains(name) else { continue }
            guard let (size, digest) = try copyIfPresent(dataDirectory + "/" + name, to: destination + "/" + name) else { continue }
            if secretFiles.contains(name) { chmod(destination + "/" + name, 0o600) }
            index.append((name, size, digest))
        }
        report.missingSecrets = secretFiles.filter { !files.fileExists(atPath: destination + "/" + $0) && files.fileExists(atPath: dataDirectory + "/" + $0) }.sorted()
        report.files = index.count
        report.bytes = index.reduce(0) { $0 + $1.size }
        // 5. The index, last.
        let entries: [JSONValue] = index.map { .object(JSONObject([("path", .string($0.path)), ("size", .number(Double($0.size))), ("sha256", .string($0.sha256))])) }
        let document = JSONValue.object(JSONObject([
            ("format", .number(1)), ("created", .string(ISO8601DateFormatter().string(from: Date()))),
            ("secretsIncluded", .bool(includeSecrets)), ("files", .array(entries)),
        ]))
        try Data(JSONText.serialize(document).utf8).write(to: URL(fileURLWithPath: destination + "/" + indexName), options: .atomic)
        return report
    }

    // MARK: restore

    /// Restores a backup into a new data directory: every file checked against the index before the directory
    /// appears (it is assembled beside it and renamed into place).
    public static func restore(from backup: String, to dataDirectory: String) throws -> Report {
        let files = FileManager.default
        guard let data = files.contents(atPath: backup + "/" + indexName), case .object(let index)? = try? JSONText.parse(String(decoding: data, as: UTF8.self)),
              case .array(let entries)? = index["files"] else {
            throw BackupError("\(backup) has no readable \(indexName): not a backup, or one that was cut off before it finished")
        }
        if files.fileExists(atPath: dataDirectory), !((try? files.contentsOfDirectory(atPath: dataDirectory))?.isEmpty ?? false) {
            throw BackupError("\(dataDirectory) exists and is not empty: restore into a new directory")
        }
        let staging = dataDirectory + ".restoring-\(UInt32.random(in: 0...UInt32.max))"
        try prepareEmptyDirectory(staging)
        var report = Report(secretsIncluded: index["secretsIncluded"] != .bool(false))
        do {
            for entry in entries {
                guard case .string(let path) = entry["path"], case .string(let expected) = entry["sha256"],
                      !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                    throw BackupError("\(indexName) names a file outside the backup")
                }
                let target = staging + "/" + path
                try files.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                guard let (size, digest) = try copyIfPresent(backup + "/" + path, to: target) else {
                    throw BackupError("\(path) is missing from the backup")
                }
                guard digest == expected else { throw BackupError("\(path) does not match its SHA-256 in \(indexName): the backup is damaged") }
                if secretFiles.contains(path) { chmod(target, 0o600) }
                report.files += 1
                report.bytes += size
                if path.hasPrefix(objectsDirectory + "/") { report.objects += 1 }
            }
            try files.createDirectory(atPath: staging + "/blobs/staging", withIntermediateDirectories: true)
            if files.fileExists(atPath: dataDirectory) { try files.removeItem(atPath: dataDirectory) }
            try files.moveItem(atPath: staging, toPath: dataDirectory)
        } catch {
            try? files.removeItem(atPath: staging)
            throw error
        }
        report.missingSecrets = ["master.key", "token-signing-key.pem", "operator-credentials.json"].filter { !files.fileExists(atPath: dataDirectory + "/" + $0) }
        return report
    }

    // MARK: files

    private static func prepareEmptyDirectory(_ path: String) throws {
        let files = FileManager.default
        if files.fileExists(atPath: path) {
            guard (try? files.contentsOfDirectory(atPath: path))?.isEmpty == true else {
                throw BackupError("\(path) exists and is not empty: choose a new directory")
            }
        } else {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        chmod(path, 0o700)
    }

    /// Regular files under `root`, as paths relative to it.
    private static func regularFiles(under root: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var result: [String] = []
        while let relative = walker.nextObject() as? String {
            if walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular { result.append(relative) }
        }
        return result.sorted()
    }

    /// Copies a file in 1 MiB pieces (never whole in memory), flushed to disk; its size and SHA-256. Nil when the
    /// source is gone.
    private static func copyIfPresent(_ source: String, to target: String) throws -> (Int64, String)? {
        guard let input = FileHandle(forReadingAtPath: source) else { return nil }
        defer { try? input.close() }
        guard FileManager.default.createFile(atPath: target, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: target) else { throw BackupError("cannot write \(target)") }
        defer { try? output.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            try output.write(contentsOf: chunk)
            size += Int64(chunk.count)
        }
        try output.synchronize()
        return (size, hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }

    private static func hash(_ path: String) throws -> (Int64, String) {
        guard let input = FileHandle(forReadingAtPath: path) else { throw BackupError("cannot read \(path)") }
        defer { try? input.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            size += Int64(chunk.count)
        }
        return (size, hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }
}
