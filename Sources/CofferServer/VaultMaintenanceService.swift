import KeyVault
import Logging
import ServiceLifecycle

/// Vault housekeeping every `interval`: rotates keys whose rotation policy says they are due, and purges
/// soft-deleted keys and vaults past their scheduled purge date. Stops at once on graceful shutdown
/// (its sleep is cancelled), so the server exits promptly.
struct VaultMaintenanceService: Service {
    let vaults: VaultService
    let interval: Duration
    let vaultURL: @Sendable (String) -> String
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    do {
                        try await vaults.rotateDueKeys(baseURL: vaultURL)
                        try await vaults.purgeExpired()
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.error("key rotation check failed", metadata: ["coffer.error.type": .string(String(describing: type(of: error)))])
                    }
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            return
        }
    }
}
