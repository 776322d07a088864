import CofferStorage
import Foundation
import OCIModels
import SQLKit

/// The metadata store on SQL: one body of queries for every SQL backend, reached through ``SQLSessions``.
public final class SQLMetadataStore: MetadataStore {
    let sessions: any SQLSessions

    /// Opens the store and applies any migrations it has not seen.
    public init(sessions: any SQLSessions) async throws {
        self.sessions = sessions
        try await migrate()
    }

    private func migrate() async throws {
        try await sessions.transaction { db in
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)").run()
            let applied = try await db.raw("SELECT version FROM schema_migrations").all()
                .map { try $0.decode(column: "version", as: Int64.self) }
            for (index, statements) in MetadataSchema.migrations.enumerated() where !applied.contains(Int64(index + 1)) {
                for statement in statements { try await db.raw(SQLQueryString(statement)).run() }
                try await db.raw("INSERT INTO schema_migrations (version) VALUES (\(bind: Int64(index + 1)))").run()
            }
        }
    }

    // MARK: registries

    public func createRegistry(_ registry: RegistryRecord) async throws {
        try await sessions.transaction { db in
            if try await db.raw("SELECT name FROM registries WHERE name = \(bind: registry.name)").first() != nil {
                throw StorageError(.conflict, "registry already exists")
            }
            try await db.raw("""
                INSERT INTO registries (name, wrapped_master_key, kek_id, created_at)
                VALUES (\(bind: registry.name), \(bind: Data(registry.wrappedMasterKey).base64EncodedString()),
                        \(bind: registry.keyEncryptionKeyID), \(bind: registry.createdAt))
                """).run()
        }
    }

    public func registry(named name: String) async throws -> RegistryRecord? {
        try await sessions.read { db in
            try await db.raw("SELECT * FROM registries WHERE name = \(bind: name)").first().map(Self.registryRecord)
        }
    }

    public func registries() async throws -> [RegistryRecord] {
        try await sessions.read { db in
            try await db.raw("SELECT * FROM registries ORDER BY name").all().map(Self.registryRecord)
        }
    }

    public func deleteRegistry(name: String) async throws {
        try await sessions.transaction { db in
            for table in ["tags", "manifests", "manifest_blobs", "repository_blobs", "repositories", "blobs", "uploads"] {
                try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE registry = \(bind: name)").run()
            }
            try await db.raw("DELETE FROM registries WHERE name = \(bind: name)").run()
        }
        // The wrapped master key must not outlive the registry in the WAL or freed pages.
        try await sessions.eraseDeletedRemnants(in: ["registries"])
    }

    public func updateRegistryKey(name: String, wrappedMasterKey: [UInt8], keyEncryptionKeyID: String) async throws {
        try await sessions.transaction { db in
            guard try await db.raw("SELECT name FROM registries WHERE name = \(bind: name)").first() != nil else {
                throw StorageError(.notFound, "registry not found")
            }
            try await db.raw("""
                UPDATE registries SET wrapped_master_key = \(bind: Data(wrappedMasterKey).base64EncodedString()),
                    kek_id = \(bind: keyEncryptionKeyID) WHERE name = \(bind: name)
                """).run()
        }
        // The master key wrapped under the previous key-encryption key must not stay on disk: purging the new one
        // would not shred the registry while the old wrapping survives beside a live old key.
        try await sessions.eraseDeletedRemnants(in: ["registries"])
    }

    // MARK: blobs

    public func blob(registry: String, digest: Digest) async throws -> BlobRecord? {
        try await sessions.read { db in
            try await Self.blob(db, registry: registry, digest: digest)
        }
    }

    @discardableResult
    public func commitBlob(_ blob: BlobRecord, repository: String) async throws -> BlobRecord {
        try await sessions.transaction { db in
            try await Self.insertBlob(db, blob)
            try await Self.markUsed(db, registry: blob.registry, digest: blob.digest)
            try await Self.ensureRepository(db, registry: blob.registry, repository: repository)
            try await Self.link(db, registry: blob.registry, repository: repository, digest: blob.digest)
            return try await Self.blob(db, registry: blob.registry, digest: blob.digest) ?? blob
        }
    }

    public func isBlobLinked(registry: String, repository: String, digest: Digest) async throws -> Bool {
        try await sessions.read { db in
            try await Self.isLinked(db, registry: registry, repository: repository, digest: digest)
        }
    }

    public func linkBlob(registry: String, repository: String, digest: Digest) async throws -> Bool {
        try await sessions.transaction { db in
            guard try await Self.blob(db, registry: registry, digest: digest) != nil else { return false }
            try await Self.markUsed(db, registry: registry, digest: digest)
            try await Self.ensureRepository(db, registry: registry, repository: repository)
            try await Self.link(db, registry: registry, repository: repository, digest: digest)
            return true
        }
    }

    public func unlinkBlob(registry: String, repository: String, digest: Digest) async throws -> Bool {
        try await sessions.transaction { db in
            guard try await db.raw("""
                SELECT digest FROM repository_blobs
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: digest.description)
                """).first() != nil else { return false }
            try await db.raw("""
                DELETE FROM repository_blobs
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: digest.description)
                """).run()
            return true
        }
    }

    // MARK: manifests and tags

    public func putManifest(_ manifest: ManifestRecord, content: BlobRecord?, references: ManifestReferences, tag: String?) async throws {
        try await sessions.transaction { db in
            let (registry, repository) = (manifest.registry, manifest.repository)
            // Checked here, inside the write transaction, so garbage collection cannot remove a reference between
            // the check and the write.
            for blob in references.blobs {
                guard try await Self.isLinked(db, registry: registry, repository: repository, digest: blob) else {
                    throw MissingReferenceError(digest: blob, kind: .blob)
                }
            }
            for child in references.manifests {
                guard try await db.raw("""
                    SELECT digest FROM manifests
                    WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: child.description)
                    """).first() != nil else { throw MissingReferenceError(digest: child, kind: .manifest) }
            }
            if let content {
                try await Self.insertBlob(db, content)
            } else if try await Self.blob(db, registry: registry, digest: manifest.digest) == nil {
                throw MissingReferenceError(digest: manifest.digest, kind: .content)
            }
            try await Self.markUsed(db, registry: registry, digest: manifest.digest)
            try await Self.ensureRepository(db, registry: registry, repository: repository)
            try await db.raw("""
                INSERT INTO manifests (registry, repository, digest, media_type, size, artifact_type, subject, annotations, created_at,
                                       references_recorded)
                VALUES (\(bind: registry), \(bind: repository), \(bind: manifest.digest.description),
                        \(bind: manifest.mediaType), \(bind: manifest.size), \(bind: manifest.artifactType),
                        \(bind: manifest.subject?.description), \(bind: manifest.sealedAnnotations), \(bind: manifest.createdAt), 1)
                ON CONFLICT (registry, repository, digest) DO UPDATE SET references_recorded = 1
                """).run()
            try await Self.insertReferences(db, registry: registry, repository: repository, manifest: manifest.digest, blobs: references.blobs)
            if let tag {
                try await db.raw("""
                    INSERT INTO tags (registry, repository, name, digest)
                    VALUES (\(bind: manifest.registry), \(bind: manifest.repository), \(bind: tag), \(bind: manifest.digest.description))
                    ON CONFLICT (registry, repository, name) DO UPDATE SET digest = excluded.digest
                    """).run()
            }
        }
    }

    public func manifests(registry: String, repository: String) async throws -> [ManifestRecord] {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM manifests WHERE registry = \(bind: registry) AND repository = \(bind: repository) ORDER BY digest
                """).all().map(Self.manifestRecord)
        }
    }

    public func taggedDigests(registry: String, repository: String) async throws -> Set<Digest> {
        try await sessions.read { db in
            Set(try await db.raw("""
                SELECT DISTINCT digest FROM tags WHERE registry = \(bind: registry) AND repository = \(bind: repository)
                """).all().map { try Self.digest($0, "digest") })
        }
    }

    public func tagsWithDigests(registry: String, repository: String) async throws -> [(name: String, digest: Digest)] {
        try await sessions.read { db in
            try await db.raw("""
                SELECT name, digest FROM tags WHERE registry = \(bind: registry) AND repository = \(bind: repository) ORDER BY name
                """).all().map { (try $0.decode(column: "name", as: String.self), try Self.digest($0, "digest")) }
        }
    }

    public func manifest(registry: String, repository: String, digest: Digest) async throws -> ManifestRecord? {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM manifests
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: digest.description)
                """).first().map(Self.manifestRecord)
        }
    }

    public func resolveTag(registry: String, repository: String, tag: String) async throws -> Digest? {
        try await sessions.read { db in
            guard let row = try await db.raw("""
                SELECT digest FROM tags
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND name = \(bind: tag)
                """).first() else { return nil }
            return try Self.digest(row, "digest")
        }
    }

    public func taggedManifest(registry: String, repository: String, tag: String) async throws -> ManifestRecord? {
        try await sessions.read { db in
            try await db.raw("""
                SELECT m.* FROM tags t
                JOIN manifests m ON m.registry = t.registry AND m.repository = t.repository AND m.digest = t.digest
                WHERE t.registry = \(bind: registry) AND t.repository = \(bind: repository) AND t.name = \(bind: tag)
                """).first().map(Self.manifestRecord)
        }
    }

    public func deleteManifest(registry: String, repository: String, digest: Digest) async throws -> Bool {
        try await sessions.transaction { db in
            guard try await db.raw("""
                SELECT digest FROM manifests
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: digest.description)
                """).first() != nil else { return false }
            try await db.raw("""
                DELETE FROM tags
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: digest.description)
                """).run()
            try await db.raw("""
                DELETE FROM manifests
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: digest.description)
                """).run()
            try await db.raw("""
                DELETE FROM manifest_blobs
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND manifest = \(bind: digest.description)
                """).run()
            return true
        }
    }

    public func deleteRepository(registry: String, repository: String) async throws -> (manifests: [String], tags: [String]) {
        try await sessions.transaction { db in
            let manifests = try await db.raw("""
                SELECT digest FROM manifests WHERE registry = \(bind: registry) AND repository = \(bind: repository) ORDER BY digest
                """).all().map { try $0.decode(column: "digest", as: String.self) }
            let tags = try await db.raw("""
                SELECT name FROM tags WHERE registry = \(bind: registry) AND repository = \(bind: repository) ORDER BY name
                """).all().map { try $0.decode(column: "name", as: String.self) }
            for table in ["tags", "manifests", "manifest_blobs", "repository_blobs"] {
                try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE registry = \(bind: registry) AND repository = \(bind: repository)").run()
            }
            try await db.raw("DELETE FROM repositories WHERE registry = \(bind: registry) AND name = \(bind: repository)").run()
            return (manifests, tags)
        }
    }

    public func deleteTag(registry: String, repository: String, tag: String) async throws -> Bool {
        try await sessions.transaction { db in
            guard try await db.raw("""
                SELECT name FROM tags WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND name = \(bind: tag)
                """).first() != nil else { return false }
            try await db.raw("""
                DELETE FROM tags WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND name = \(bind: tag)
                """).run()
            return true
        }
    }

    public func tags(registry: String, repository: String, after last: String?, limit: Int?) async throws -> [String] {
        try await sessions.read { db in
            var query = SQLQueryString("SELECT name FROM tags WHERE registry = \(bind: registry) AND repository = \(bind: repository)")
            if let last { query.appendInterpolation(unsafeRaw: " AND name > "); query.appendInterpolation(bind: last) }
            query.appendInterpolation(unsafeRaw: " ORDER BY name")
            if let limit { query.appendInterpolation(unsafeRaw: " LIMIT \(max(0, limit))") }
            return try await db.raw(query).all().map { try $0.decode(column: "name", as: String.self) }
        }
    }

    public func repositoryExists(registry: String, repository: String) async throws -> Bool {
        try await sessions.read { db in
            try await db.raw("SELECT name FROM repositories WHERE registry = \(bind: registry) AND name = \(bind: repository)").first() != nil
        }
    }

    public func repositories(registry: String, after last: String?, limit: Int?) async throws -> [String] {
        try await sessions.read { db in
            var query = SQLQueryString("SELECT name FROM repositories WHERE registry = \(bind: registry)")
            if let last { query.appendInterpolation(unsafeRaw: " AND name > "); query.appendInterpolation(bind: last) }
            query.appendInterpolation(unsafeRaw: " ORDER BY name")
            if let limit { query.appendInterpolation(unsafeRaw: " LIMIT \(max(0, limit))") }
            return try await db.raw(query).all().map { try $0.decode(column: "name", as: String.self) }
        }
    }

    public func referrers(registry: String, repository: String, subject: Digest) async throws -> [ManifestRecord] {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM manifests
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND subject = \(bind: subject.description)
                ORDER BY created_at, digest
                """).all().map(Self.manifestRecord)
        }
    }

    // MARK: uploads

    public func createUpload(_ upload: UploadRecord, limits: UploadLimits) async throws -> UploadAdmission {
        try await sessions.transaction { db in
            let inRepository = try await Self.count(db, """
                SELECT COUNT(*) AS n FROM uploads WHERE registry = \(bind: upload.registry) AND repository = \(bind: upload.repository)
                """)
            if inRepository >= limits.perRepository { return .repositoryAtLimit(inRepository) }
            if !upload.principal.isEmpty {
                let byPrincipal = try await Self.count(db, "SELECT COUNT(*) AS n FROM uploads WHERE principal = \(bind: upload.principal)")
                if byPrincipal >= limits.perPrincipal { return .principalAtLimit(byPrincipal) }
            }
            try await db.raw("""
                INSERT INTO uploads (id, registry, repository, started_at, principal, active_at)
                VALUES (\(bind: upload.id), \(bind: upload.registry), \(bind: upload.repository), \(bind: upload.startedAt),
                        \(bind: upload.principal), \(bind: upload.activeAt))
                """).run()
            return .admitted
        }
    }

    private static func count(_ db: any SQLDatabase, _ query: SQLQueryString) async throws -> Int {
        Int(try await db.raw(query).first()?.decode(column: "n", as: Int64.self) ?? 0)
    }

    public func touchUpload(id: String, at time: Int64) async throws {
        try await sessions.transaction { db in
            try await db.raw("UPDATE uploads SET active_at = \(bind: time) WHERE id = \(bind: id) AND active_at < \(bind: time)").run()
        }
    }

    public func idleUploads(before: Int64, limit: Int) async throws -> [UploadRecord] {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM uploads WHERE active_at < \(bind: before) ORDER BY active_at, id LIMIT \(bind: Int64(limit))
                """).all().map(Self.uploadRecord)
        }
    }

    public func upload(id: String) async throws -> UploadRecord? {
        try await sessions.read { db in
            try await db.raw("SELECT * FROM uploads WHERE id = \(bind: id)").first().map(Self.uploadRecord)
        }
    }

    public func deleteUpload(id: String) async throws {
        try await sessions.transaction { db in
            try await db.raw("DELETE FROM uploads WHERE id = \(bind: id)").run()
        }
    }

    public func uploads() async throws -> [UploadRecord] {
        try await sessions.read { db in
            try await db.raw("SELECT * FROM uploads ORDER BY started_at, id").all().map(Self.uploadRecord)
        }
    }

    public func uploadCount() async throws -> Int {
        try await sessions.read { db in
            Int(try await db.raw("SELECT count(*) AS n FROM uploads").first()?.decode(column: "n", as: Int64.self) ?? 0)
        }
    }

    public func acquireLease(name: String, holder: String, until: Int64, now: Int64) async throws -> Bool {
        try await sessions.transaction { db in
            try await db.raw("""
                INSERT INTO leases (name, holder, expires_at) VALUES (\(bind: name), \(bind: holder), \(bind: until))
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE leases.expires_at <= \(bind: now) OR leases.holder = excluded.holder
                """).run()
            let current = try await db.raw("SELECT holder FROM leases WHERE name = \(bind: name)").first()
            return try current?.decode(column: "holder", as: String.self) == holder
        }
    }

    public func close() async throws {
        try await sessions.close()
    }

    // MARK: shared statements

    private static func insertBlob(_ db: any SQLDatabase, _ blob: BlobRecord) async throws {
        try await db.raw("""
            INSERT INTO blobs (registry, digest, size, object_key)
            VALUES (\(bind: blob.registry), \(bind: blob.digest.description), \(bind: blob.size), \(bind: blob.objectKey))
            ON CONFLICT (registry, digest) DO NOTHING
            """).run()
    }

    static func isLinked(_ db: any SQLDatabase, registry: String, repository: String, digest: Digest) async throws -> Bool {
        try await db.raw("""
            SELECT digest FROM repository_blobs
            WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: digest.description)
            """).first() != nil
    }

    static func markUsed(_ db: any SQLDatabase, registry: String, digest: Digest) async throws {
        try await db.raw("""
            UPDATE blobs SET last_used_at = \(bind: Self.now()) WHERE registry = \(bind: registry) AND digest = \(bind: digest.description)
            """).run()
    }

    static func insertReferences(_ db: any SQLDatabase, registry: String, repository: String, manifest: Digest, blobs: [Digest]) async throws {
        for blob in Set(blobs) {
            try await db.raw("""
                INSERT INTO manifest_blobs (registry, repository, manifest, digest)
                VALUES (\(bind: registry), \(bind: repository), \(bind: manifest.description), \(bind: blob.description))
                ON CONFLICT (registry, repository, manifest, digest) DO NOTHING
                """).run()
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    private static func ensureRepository(_ db: any SQLDatabase, registry: String, repository: String) async throws {
        try await db.raw("""
            INSERT INTO repositories (registry, name) VALUES (\(bind: registry), \(bind: repository))
            ON CONFLICT (registry, name) DO NOTHING
            """).run()
    }

    private static func link(_ db: any SQLDatabase, registry: String, repository: String, digest: Digest) async throws {
        try await db.raw("""
            INSERT INTO repository_blobs (registry, repository, digest)
            VALUES (\(bind: registry), \(bind: repository), \(bind: digest.description))
            ON CONFLICT (registry, repository, digest) DO NOTHING
            """).run()
    }

    static func blob(_ db: any SQLDatabase, registry: String, digest: Digest) async throws -> BlobRecord? {
        guard let row = try await db.raw("""
            SELECT * FROM blobs WHERE registry = \(bind: registry) AND digest = \(bind: digest.description)
            """).first() else { return nil }
        return try blobRecord(row)
    }

    static func blobRecord(_ row: any SQLRow) throws -> BlobRecord {
        BlobRecord(
            registry: try row.decode(column: "registry", as: String.self),
            digest: try Self.digest(row, "digest"),
            size: try row.decode(column: "size", as: Int64.self),
            objectKey: try row.decode(column: "object_key", as: String.self)
        )
    }

    // MARK: row decoding

    private static func optionalString(_ row: any SQLRow, _ column: String) throws -> String? {
        try row.decodeNil(column: column) ? nil : row.decode(column: column, as: String.self)
    }

    static func digest(_ row: any SQLRow, _ column: String) throws -> Digest {
        let text = try row.decode(column: column, as: String.self)
        do { return try Digest(parsing: text) } catch {
            throw StorageError(.corrupt, "stored digest is malformed")
        }
    }

    private static func registryRecord(_ row: any SQLRow) throws -> RegistryRecord {
        guard let wrapped = Data(base64Encoded: try row.decode(column: "wrapped_master_key", as: String.self)) else {
            throw StorageError(.corrupt, "stored wrapped key is malformed")
        }
        return RegistryRecord(
            name: try row.decode(column: "name", as: String.self),
            wrappedMasterKey: Array(wrapped),
            keyEncryptionKeyID: try row.decode(column: "kek_id", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Int64.self)
        )
    }

    static func manifestRecord(_ row: any SQLRow) throws -> ManifestRecord {
        ManifestRecord(
            registry: try row.decode(column: "registry", as: String.self),
            repository: try row.decode(column: "repository", as: String.self),
            digest: try digest(row, "digest"),
            mediaType: try row.decode(column: "media_type", as: String.self),
            size: try row.decode(column: "size", as: Int64.self),
            artifactType: try optionalString(row, "artifact_type"),
            subject: try optionalString(row, "subject").map { _ in try digest(row, "subject") },
            sealedAnnotations: try optionalString(row, "annotations"),
            createdAt: try row.decode(column: "created_at", as: Int64.self)
        )
    }

    private static func uploadRecord(_ row: any SQLRow) throws -> UploadRecord {
        UploadRecord(
            id: try row.decode(column: "id", as: String.self),
            registry: try row.decode(column: "registry", as: String.self),
            repository: try row.decode(column: "repository", as: String.self),
            startedAt: try row.decode(column: "started_at", as: Int64.self),
            principal: try row.decode(column: "principal", as: String.self),
            activeAt: try row.decode(column: "active_at", as: Int64.self)
        )
    }
}
