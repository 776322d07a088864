/// Why a vault or key operation was refused. The HTTP layers map codes to Azure's wire codes.
public struct KeyVaultError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case unauthorized = "Unauthorized"
        case forbidden = "Forbidden"
        case vaultNotFound = "VaultNotFound"
        case keyNotFound = "KeyNotFound"
        case badParameter = "BadParameter"
        case conflict = "Conflict"
        case deletedButRecoverable = "ObjectIsDeletedButRecoverable"
        case notDeleted = "ObjectNotDeleted"
        case operationNotAllowed = "OperationNotAllowed"
        case keyDisabled = "KeyDisabled"
        case vaultNameTaken = "VaultAlreadyExists"
        case invalidVault = "InvalidVault"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
