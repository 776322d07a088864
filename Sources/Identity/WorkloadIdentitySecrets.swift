import Crypto
import Foundation

/// The `X-IDENTITY-HEADER` secrets of the managed-identity endpoint, one per user-assigned identity.
///
/// A workload proves it may act as an identity by presenting that identity's header, derived from the server's host
/// secret and the identity's object id (HMAC-SHA256). Knowing one identity's header says nothing about another's,
/// and deleting an identity (its object id goes) voids its header. Who may obtain a header is the resource manager's
/// decision: whoever may attach the identity to a workload (`…/userAssignedIdentities/*/assign/action`). Headers
/// are computed, never stored, so the host secret is the only thing to keep. The identity's generation
/// (``Principal/workloadSecretGeneration``) is part of the message: regenerating it revokes a leaked header.
public struct WorkloadIdentitySecrets: Sendable {
    private let key: SymmetricKey

    public init(hostSecret: String) {
        key = SymmetricKey(data: SHA256.hash(data: Array("coffer workload identity v1|\(hostSecret)".utf8)))
    }

    /// The header for a managed identity's workloads.
    public func header(for principal: Principal) -> String {
        // Generation 0 signs the bare object id, as headers did before generations existed.
        let generation = principal.workloadSecretGeneration ?? 0
        let message = principal.objectId.lowercased() + (generation == 0 ? "" : "|\(generation)")
        let mac = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `presented` is the principal's header (compared in constant time).
    public func matches(_ presented: String, principal: Principal) -> Bool {
        constantTimeEqual(presented, header(for: principal))
    }

    /// Only user-assigned identities have workload headers: a resource's system-assigned identity is used by
    /// Coffer itself (a registry reaching its vault), never handed to a workload.
    public static func isUserAssigned(_ principal: Principal) -> Bool {
        principal.kind == .managedIdentity && (principal.resourceId ?? "").contains("/providers/microsoft.managedidentity/userassignedidentities/")
    }
}
