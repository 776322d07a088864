/// Why a name, reference, digest or manifest from a client was refused.
public struct OCIValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case digestInvalid
        case digestUnsupported
        case nameInvalid
        case tagInvalid
        case manifestInvalid
        case sizeInvalid
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
