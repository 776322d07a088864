/// Why encrypted data could not be produced or opened. Messages never include key material.
public struct EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The key-encryption key could not be used (unreachable, revoked, disabled, deleted).
        case keyUnavailable
        /// The key-encryption key no longer exists anywhere (purged): what it wrapped is gone for good.
        case keyPurged
        /// Authentication failed: the bytes at rest were altered, truncated or belong to another object.
        case integrityFailure
        /// The bytes at rest are not in a format this version understands.
        case formatInvalid
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
