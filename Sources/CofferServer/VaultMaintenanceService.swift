import KeyVault
import Logging
import ResourceManagerAPI
import ServiceLifecycle

/// Vault housekeeping every `interval`: rotates keys whose rotation policy says they are due, and purges
/// soft-deleted keys and vaults past their scheduled purge date. Stops at once on graceful shutdown
/// (its sleep is cancelled), so the server exits promptly.
struct VaultMaintenanceService: Service {
    let vaults: VaultService
    let resourceManager: ResourceManagerAPI
    let interval: Duration
    /// How often registries with versionless customer-managed keys look for a newer key version.
    let keyVersionInterval: Duration
    let vaultURL: @Sendable (String) -> String
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                var lastVersionCheck = ContinuousClock.now - keyVersionInterval
                while !Task.isCancelled {
                    do {
                        try await vaults.rotateDueKeys(baseURL: vaultURL)
                        try await vaults.purgeExpired()
                        if ContinuousClock.now - lastVersionCheck >= keyVersionInterval {
                            lastVersionCheck = ContinuousClock.now
                            try await resourceManager.followLatestKeyVersions()
                        }
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
