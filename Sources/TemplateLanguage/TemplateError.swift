/// Why a template expression could not be parsed or evaluated; names the expression.
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
