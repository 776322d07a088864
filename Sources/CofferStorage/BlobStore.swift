import NIOCore

/// Where object bytes live: the storage-driver contract every blob backend implements
/// (filesystem now; S3-compatible object storage later).
///
/// Drivers see only opaque bytes — Coffer encrypts before anything reaches a driver. Objects are
/// published under keys; they are built first as *staging* objects that no reader can see, then
/// published by ``commitStaging(_:as:)``, which must be atomic and durable: after a crash at any
/// instant a key either holds the complete committed object or nothing new.
///
/// Every implementation must pass the shared conformance suite in `Tests/StorageTests`.
public protocol BlobStore: Sendable {
    /// Creates an empty staging object, replacing any leftover of the same name.
    func createStaging(_ name: String) async throws
    /// Appends bytes to a staging object.
    func appendStaging(_ name: String, _ bytes: ByteBuffer) async throws
    /// Replaces a whole (small) staging object atomically: a reader sees the old or the new bytes, never a mix.
    func replaceStaging(_ name: String, _ bytes: ByteBuffer) async throws
    /// Size of a staging object, or nil when there is none.
    func stagingSize(_ name: String) async throws -> Int64?
    /// Reads up to `length` bytes from `offset` of a staging object; fewer only at its end.
    func readStaging(_ name: String, offset: Int64, length: Int) async throws -> ByteBuffer
    /// Durably publishes a staging object under `key`, replacing what the key held. The staging name is gone afterwards.
    func commitStaging(_ name: String, as key: String) async throws
    /// Removes a staging object; removing a missing one is not an error.
    func deleteStaging(_ name: String) async throws
    /// Names of every staging object (to clean up leftovers after a restart).
    func listStaging() async throws -> [String]

    /// Reads up to `length` bytes from `offset` of a published object; fewer only at its end.
    func read(_ key: String, offset: Int64, length: Int) async throws -> ByteBuffer
    /// Size of a published object, or nil when there is none.
    func size(_ key: String) async throws -> Int64?
    /// Removes a published object; removing a missing one is not an error.
    func delete(_ key: String) async throws
    /// Keys of published objects that start with `prefix`, sorted.
    func list(prefix: String) async throws -> [String]
}

/// A storage failure, without paths or driver internals in its message.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case notFound
        case invalidKey
        case ioFailure
        case conflict
        case corrupt
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Keys and staging names: path-like, `[A-Za-z0-9._-]` components joined by `/`, no empty, `.` or `..` component.
public enum StorageKey {
    public static func validate(_ key: String) throws(StorageError) {
        let components = key.split(separator: "/", omittingEmptySubsequences: false)
        let isValid = !key.isEmpty && key.utf8.count <= 1024 && components.allSatisfy { component in
            !component.isEmpty && component != "." && component != ".."
                && component.utf8.allSatisfy { byte in
                    (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                        || byte == 0x2E || byte == 0x5F || byte == 0x2D
                }
        }
        guard isValid else { throw StorageError(.invalidKey, "invalid storage key") }
    }
}
