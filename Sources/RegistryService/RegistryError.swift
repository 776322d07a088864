import CofferStorage

/// Why a registry operation was refused or failed. The HTTP layer maps each code to the
/// distribution spec's wire code and status in one table.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable, CaseIterable {
        case blobUnknown
        case blobUploadInvalid
        case blobUploadUnknown
        case digestInvalid
        case manifestBlobUnknown
        case manifestInvalid
        case manifestUnknown
        case nameInvalid
        case nameUnknown
        case sizeInvalid
        case unsupported
        /// A chunk that does not start where the upload currently ends.
        case uploadOutOfOrder
        /// A read's `Range` that is malformed or lies beyond the blob.
        case rangeNotSatisfiable
        /// Too many upload sessions are open (per repository or per principal).
        case tooManyRequests
        /// A key-encryption key could not unwrap the registry's master key: data fails closed.
        case keyUnavailable
        /// The key-encryption key was purged: the registry's data can never be decrypted again.
        case keyPurged
        /// Stored bytes failed authentication or are missing: never served as data.
        case dataCorrupt
        /// The metadata or blob store cannot be reached now: nothing was changed; retry later.
        case storageUnavailable
    }

    public let code: Code
    public let message: String
    /// Extra facts for the client (e.g. the offset an upload has reached).
    public let detail: [String: String]

    public init(_ code: Code, _ message: String, detail: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    public var description: String { message }

    /// Storage that cannot be reached: the request changed nothing and may be retried.
    public static func unavailable(_ error: StorageError) -> RegistryError {
        RegistryError(.storageUnavailable, "storage is unavailable, nothing was changed; retry later (\(error.message))")
    }
}
