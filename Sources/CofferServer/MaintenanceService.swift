import KeyVault
import Logging
import ResourceManagerAPI
import ServiceLifecycle

/// Housekeeping every `interval`: rotates vault keys whose rotation policy says they are due, purges
/// soft-deleted keys and vaults past their scheduled purge date, moves registries with versionless
/// customer-managed keys to the key's newest version, expires idle upload sessions, fails deployments of nodes that stopped, applies registries' retention policies, and collects
/// garbage (after retention, which leaves blobs behind). Stops at
/// once on graceful shutdown (its sleep is cancelled), so the server exits promptly.
struct MaintenanceService: Service {
    let vaults: VaultService
    let resourceManager: ResourceManagerAPI
    let interval: Duration
    /// How often registries with versionless customer-managed keys look for a newer key version.
    let keyVersionInterval: Duration
    /// How often retention policies purge untagged manifests.
    let retentionInterval: Duration
    /// How often garbage collection runs, and the pass itself.
    let collectionInterval: Duration
    let collectGarbage: @Sendable () async throws -> Void
    /// Removes upload sessions idle past their limit (every pass: the query is indexed and usually finds nothing).
    let expireUploads: @Sendable () async throws -> Void
    let vaultURL: @Sendable (String) -> String
    /// Takes or renews this node's turn (a lease in the metadata store): with several nodes, one runs the jobs.
    let takeTurn: @Sendable () async -> Bool
    /// Whether another node has stopped beating (its running deployments are then failed by the turn's holder).
    let nodeHasStopped: @Sendable (String) async throws -> Bool
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                var lastVersionCheck = ContinuousClock.now - keyVersionInterval
                var lastRetention = ContinuousClock.now - retentionInterval
                var lastCollection = ContinuousClock.now - collectionInterval
                while !Task.isCancelled {
                    do {
                        guard await takeTurn() else {
                            try await Task.sleep(for: interval)
                            continue
                        }
                        try await vaults.rotateDueKeys(baseURL: vaultURL)
                        try await vaults.purgeExpired()
                        try await expireUploads()
                        try await resourceManager.failDeploymentsOfStoppedNodes(hasStopped: nodeHasStopped)
                        if ContinuousClock.now - lastVersionCheck >= keyVersionInterval {
                            lastVersionCheck = ContinuousClock.now
                            try await resourceManager.followLatestKeyVersions()
                        }
                        if ContinuousClock.now - lastRetention >= retentionInterval {
                            lastRetention = ContinuousClock.now
                            await resourceManager.applyRetentionPolicies()
                        }
                        if ContinuousClock.now - lastCollection >= collectionInterval {
                            lastCollection = ContinuousClock.now
                            try await collectGarbage()
                        }
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.error("maintenance pass failed", metadata: ["coffer.error.type": .string(String(describing: type(of: error)))])
                    }
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            return
        }
    }
}
