import CofferStorage
import SQLKit

extension SQLMetadataStore: DocumentStore {
    public func document(id: String) async throws -> StoredDocument? {
        try await sessions.read { db in
            try await db.raw("SELECT * FROM documents WHERE id = \(bind: id.lowercased())").first().map(Self.document)
        }
    }

    public func documents(type: String, name: String?) async throws -> [StoredDocument] {
        try await sessions.read { db in
            var query = SQLQueryString("SELECT * FROM documents WHERE type = \(bind: type.lowercased())")
            if let name { query.appendInterpolation(unsafeRaw: " AND name = "); query.appendInterpolation(bind: name.lowercased()) }
            query.appendInterpolation(unsafeRaw: " ORDER BY id")
            return try await db.raw(query).all().map(Self.document)
        }
    }

    public func documents(under prefix: String, type: String?) async throws -> [StoredDocument] {
        // A range scan instead of LIKE, so that '_' and '%' in ids mean nothing special.
        let lower = prefix.lowercased()
        let upper = lower + "\u{10FFFF}"
        return try await sessions.read { db in
            var query = SQLQueryString("SELECT * FROM documents WHERE id >= \(bind: lower) AND id < \(bind: upper)")
            if let type { query.appendInterpolation(unsafeRaw: " AND type = "); query.appendInterpolation(bind: type.lowercased()) }
            query.appendInterpolation(unsafeRaw: " ORDER BY id")
            return try await db.raw(query).all().map(Self.document)
        }
    }

    public func putDocument(_ document: StoredDocument) async throws {
        try await sessions.transaction { db in
            try await db.raw("""
                INSERT INTO documents (id, type, name, body) VALUES (\(bind: document.id), \(bind: document.type), \(bind: document.name), \(bind: document.body))
                ON CONFLICT (id) DO UPDATE SET type = excluded.type, name = excluded.name, body = excluded.body
                """).run()
        }
    }

    public func insertDocument(_ document: StoredDocument) async throws {
        try await sessions.transaction { db in
            if try await db.raw("SELECT id FROM documents WHERE id = \(bind: document.id)").first() != nil {
                throw StorageError(.conflict, "resource already exists")
            }
            try await db.raw("""
                INSERT INTO documents (id, type, name, body) VALUES (\(bind: document.id), \(bind: document.type), \(bind: document.name), \(bind: document.body))
                """).run()
        }
    }

    public func replaceDocument(_ document: StoredDocument, ifBodyIs expected: String) async throws -> Bool {
        try await sessions.transaction { db in
            try await db.raw("""
                UPDATE documents SET type = \(bind: document.type), name = \(bind: document.name), body = \(bind: document.body)
                WHERE id = \(bind: document.id) AND body = \(bind: expected)
                """).run()
            let current = try await db.raw("SELECT body FROM documents WHERE id = \(bind: document.id)").first()?
                .decode(column: "body", as: String.self)
            return current == document.body
        }
    }

    public func deleteDocument(id: String) async throws -> Bool {
        try await sessions.transaction { db in
            guard try await db.raw("SELECT id FROM documents WHERE id = \(bind: id.lowercased())").first() != nil else { return false }
            try await db.raw("DELETE FROM documents WHERE id = \(bind: id.lowercased())").run()
            return true
        }
    }

    private static func document(_ row: any SQLRow) throws -> StoredDocument {
        StoredDocument(
            id: try row.decode(column: "id", as: String.self), type: try row.decode(column: "type", as: String.self),
            name: try row.decode(column: "name", as: String.self), body: try row.decode(column: "body", as: String.self)
        )
    }
}

extension SQLMetadataStore: VaultKeyStore {
    public func insertKeyVersion(_ record: KeyVersionRecord, displayName: String) async throws {
        try await sessions.transaction { db in
            if let row = try await db.raw("""
                SELECT deleted_at FROM vault_key_names WHERE vault = \(bind: record.vault) AND name = \(bind: record.name)
                """).first() {
                if !(try row.decodeNil(column: "deleted_at")) {
                    throw StorageError(.conflict, "key is deleted but not purged")
                }
            } else {
                try await db.raw("""
                    INSERT INTO vault_key_names (vault, name, display_name) VALUES (\(bind: record.vault), \(bind: record.name), \(bind: displayName))
                    """).run()
            }
            try await db.raw("""
                INSERT INTO vault_key_versions (vault, name, version, created_at, bundle, sealed_material)
                VALUES (\(bind: record.vault), \(bind: record.name), \(bind: record.version), \(bind: record.createdAt),
                        \(bind: record.bundle), \(bind: record.sealedMaterial))
                """).run()
        }
    }

    public func keyVersions(vault: String, name: String) async throws -> [KeyVersionRecord] {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM vault_key_versions WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased())
                ORDER BY created_at, version
                """).all().map(Self.keyVersion)
        }
    }

    public func keyVersion(vault: String, name: String, version: String) async throws -> KeyVersionRecord? {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM vault_key_versions
                WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased()) AND version = \(bind: version)
                """).first().map(Self.keyVersion)
        }
    }

    public func updateKeyBundle(vault: String, name: String, version: String, bundle: String) async throws {
        try await sessions.transaction { db in
            guard try await db.raw("""
                SELECT version FROM vault_key_versions
                WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased()) AND version = \(bind: version)
                """).first() != nil else { throw StorageError(.notFound, "key version not found") }
            try await db.raw("""
                UPDATE vault_key_versions SET bundle = \(bind: bundle)
                WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased()) AND version = \(bind: version)
                """).run()
        }
    }

    public func keyName(vault: String, name: String) async throws -> KeyNameRecord? {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM vault_key_names WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased())
                """).first().map(Self.keyName)
        }
    }

    public func keyNames(vault: String, deleted: Bool) async throws -> [KeyNameRecord] {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM vault_key_names WHERE vault = \(bind: vault.lowercased())
                AND deleted_at IS \(unsafeRaw: deleted ? "NOT NULL" : "NULL") ORDER BY name
                """).all().map(Self.keyName)
        }
    }

    public func setKeyDeleted(vault: String, name: String, deletedAt: Int64?, scheduledPurgeAt: Int64?) async throws {
        try await sessions.transaction { db in
            guard try await db.raw("""
                SELECT name FROM vault_key_names WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased())
                """).first() != nil else { throw StorageError(.notFound, "key not found") }
            try await db.raw("""
                UPDATE vault_key_names SET deleted_at = \(bind: deletedAt), scheduled_purge_at = \(bind: scheduledPurgeAt)
                WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased())
                """).run()
        }
    }

    public func purgeKey(vault: String, name: String) async throws {
        try await sessions.transaction { db in
            try await db.raw("DELETE FROM vault_key_versions WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased())").run()
            try await db.raw("DELETE FROM vault_key_names WHERE vault = \(bind: vault.lowercased()) AND name = \(bind: name.lowercased())").run()
        }
        try await sessions.eraseDeletedRemnants(in: ["vault_key_versions"])
    }

    private static func keyVersion(_ row: any SQLRow) throws -> KeyVersionRecord {
        KeyVersionRecord(
            vault: try row.decode(column: "vault", as: String.self), name: try row.decode(column: "name", as: String.self),
            version: try row.decode(column: "version", as: String.self), createdAt: try row.decode(column: "created_at", as: Int64.self),
            bundle: try row.decode(column: "bundle", as: String.self), sealedMaterial: try row.decode(column: "sealed_material", as: String.self)
        )
    }

    private static func keyName(_ row: any SQLRow) throws -> KeyNameRecord {
        KeyNameRecord(
            vault: try row.decode(column: "vault", as: String.self), name: try row.decode(column: "name", as: String.self),
            displayName: try row.decode(column: "display_name", as: String.self),
            deletedAt: try row.decodeNil(column: "deleted_at") ? nil : row.decode(column: "deleted_at", as: Int64.self),
            scheduledPurgeAt: try row.decodeNil(column: "scheduled_purge_at") ? nil : row.decode(column: "scheduled_purge_at", as: Int64.self)
        )
    }
}
