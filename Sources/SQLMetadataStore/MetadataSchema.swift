/// The metadata schema, as ordered migrations. The SQL is the common subset of SQLite and PostgreSQL.
enum MetadataSchema {
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE registries (
                name TEXT PRIMARY KEY,
                wrapped_master_key TEXT NOT NULL,
                kek_id TEXT NOT NULL,
                created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE blobs (
                registry TEXT NOT NULL,
                digest TEXT NOT NULL,
                size BIGINT NOT NULL,
                object_key TEXT NOT NULL,
                PRIMARY KEY (registry, digest))
            """,
            """
            CREATE TABLE repositories (
                registry TEXT NOT NULL,
                name TEXT NOT NULL,
                PRIMARY KEY (registry, name))
            """,
            """
            CREATE TABLE repository_blobs (
                registry TEXT NOT NULL,
                repository TEXT NOT NULL,
                digest TEXT NOT NULL,
                PRIMARY KEY (registry, repository, digest))
            """,
            """
            CREATE TABLE manifests (
                registry TEXT NOT NULL,
                repository TEXT NOT NULL,
                digest TEXT NOT NULL,
                media_type TEXT NOT NULL,
                size BIGINT NOT NULL,
                artifact_type TEXT,
                subject TEXT,
                annotations TEXT,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (registry, repository, digest))
            """,
            "CREATE INDEX manifests_by_subject ON manifests (registry, repository, subject)",
            """
            CREATE TABLE tags (
                registry TEXT NOT NULL,
                repository TEXT NOT NULL,
                name TEXT NOT NULL,
                digest TEXT NOT NULL,
                PRIMARY KEY (registry, repository, name))
            """,
            "CREATE INDEX tags_by_digest ON tags (registry, repository, digest)",
            """
            CREATE TABLE uploads (
                id TEXT PRIMARY KEY,
                registry TEXT NOT NULL,
                repository TEXT NOT NULL,
                started_at BIGINT NOT NULL)
            """,
        ],
        [
            """
            CREATE TABLE documents (
                id TEXT PRIMARY KEY,
                type TEXT NOT NULL,
                name TEXT NOT NULL,
                body TEXT NOT NULL)
            """,
            "CREATE INDEX documents_by_type_name ON documents (type, name)",
            """
            CREATE TABLE vault_key_names (
                vault TEXT NOT NULL,
                name TEXT NOT NULL,
                display_name TEXT NOT NULL,
                deleted_at BIGINT,
                scheduled_purge_at BIGINT,
                PRIMARY KEY (vault, name))
            """,
            """
            CREATE TABLE vault_key_versions (
                vault TEXT NOT NULL,
                name TEXT NOT NULL,
                version TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                bundle TEXT NOT NULL,
                sealed_material TEXT NOT NULL,
                PRIMARY KEY (vault, name, version))
            """,
        ],
        [
            """
            CREATE TABLE leases (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at BIGINT NOT NULL)
            """,
        ],
        [
            // Garbage collection: which blobs each manifest references, and when a blob was last used.
            """
            CREATE TABLE manifest_blobs (
                registry TEXT NOT NULL,
                repository TEXT NOT NULL,
                manifest TEXT NOT NULL,
                digest TEXT NOT NULL,
                PRIMARY KEY (registry, repository, manifest, digest))
            """,
            "CREATE INDEX manifest_blobs_by_digest ON manifest_blobs (registry, digest)",
            "CREATE INDEX manifests_by_digest ON manifests (registry, digest)",
            "CREATE INDEX repository_blobs_by_digest ON repository_blobs (registry, digest)",
            // Manifests stored before this migration have their references recorded by the first collection.
            "ALTER TABLE manifests ADD COLUMN references_recorded BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE blobs ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0",
        ],
        [
            // Upload limits and expiry: who started each session, and when it was last written to.
            "ALTER TABLE uploads ADD COLUMN principal TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE uploads ADD COLUMN active_at BIGINT NOT NULL DEFAULT 0",
            "UPDATE uploads SET active_at = started_at",
            "CREATE INDEX uploads_by_repository ON uploads (registry, repository)",
            "CREATE INDEX uploads_by_principal ON uploads (principal)",
            "CREATE INDEX uploads_by_activity ON uploads (active_at)",
        ],
    ]
}
