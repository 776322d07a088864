import Foundation
import ServiceLifecycle
import Synchronization

/// The control plane's background work (template deployments, resource-group deletions): a `Service` in the server's
/// service group, so that it is never a stray task. On graceful shutdown it takes no new work and waits for the
/// work under way to reach a recorded end (each job writes its final state); the process then exits.
public final class ControlPlaneJobs: Service, Sendable {
    private struct State {
        package var accepting = true
        package var running: [UUID: Task<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Starts `work` in the background; false once shutdown has begun (the caller answers 503).
    package func start(_ work: @escaping @Sendable () async -> Void) -> Bool {
        state.withLock { state in
            guard state.accepting else { return false }
            let id = UUID()
            state.running[id] = Task { [weak self] in
                await work()
                self?.finished(id)
            }
            return true
        }
    }

    private func finished(_ id: UUID) {
        state.withLock { _ = $0.running.removeValue(forKey: id) }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        let running = state.withLock { state in
            state.accepting = false
            return Array(state.running.values)
        }
        for task in running { await task.value }
    }

    /// Waits until no work is under way (tests, and servers driven in-process without ``run()``).
    public func drain() async {
        while let next = state.withLock({ $0.running.values.first }) { await next.value }
    }
}
