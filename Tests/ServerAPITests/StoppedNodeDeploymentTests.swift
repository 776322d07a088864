import CofferStorage
import Foundation
import JMESPath
import Testing
@testable import CofferServer
@testable import ControlPlane
@testable import ResourceManagerAPI

/// A node that stops for good leaves its running deployments to the maintenance lease holder, which fails them once
/// the node's heartbeat has expired — and only then, and never another live node's or its own.
@Suite struct StoppedNodeDeploymentTests {
    static func putRunningDeployment(_ api: ResourceManagerAPI, subscription: String, name: String, node: String) async throws {
        let id = "\(subscription)/resourceGroups/rg/providers/Microsoft.Resources/deployments/\(name)"
        try await api.documents.putDocument(StoredDocument(id: id, type: ARMExchange.deploymentType, name: name,
                                                           body: #"{"id":"\#(id)","name":"\#(name)","properties":{"provisioningState":"Running"}}"#))
        try await api.documents.putDocument(StoredDocument(id: id + "/runner", type: ARMExchange.runnerType, name: name,
                                                           body: #"{"node":"\#(node)"}"#))
    }

    static func state(_ api: ResourceManagerAPI, subscription: String, name: String) async throws -> String? {
        let id = "\(subscription)/resourceGroups/rg/providers/Microsoft.Resources/deployments/\(name)"
        guard let document = try await api.documents.document(id: id) else { return nil }
        guard case .string(let state) = try JSONText.parse(document.body)["properties"]["provisioningState"] else { return nil }
        return state
    }

    @Test func theLeaseHolderFailsOnlyTheDeploymentsOfNodesThatStopped() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let api = fixture.api
        let subscription = fixture.subscription
        let t0 = NodeHeartbeat.now()
        let holder = CofferServer.heartbeat(fixture.server.metadata, fixture.server.configuration)
        let stopping = NodeHeartbeat(metadata: fixture.server.metadata, node: "node-b", lifetime: 60)
        let living = NodeHeartbeat(metadata: fixture.server.metadata, node: "node-c", lifetime: 600)
        try await stopping.beat(now: t0)
        try await living.beat(now: t0)
        try await Self.putRunningDeployment(api, subscription: subscription, name: "on-b", node: "node-b")
        try await Self.putRunningDeployment(api, subscription: subscription, name: "on-c", node: "node-c")
        try await Self.putRunningDeployment(api, subscription: subscription, name: "on-holder", node: holder.node)

        // Within node-b's heartbeat nothing is failed.
        let early = try await api.failDeploymentsOfStoppedNodes { try await holder.hasStopped($0, now: t0 + 30) }
        #expect(early.isEmpty)
        #expect(try await Self.state(api, subscription: subscription, name: "on-b") == "Running")

        // Once it has expired, node-b's deployment is failed, and nothing else.
        let late = try await api.failDeploymentsOfStoppedNodes { try await holder.hasStopped($0, now: t0 + 61) }
        #expect(late.count == 1 && late.first?.hasSuffix("/on-b") == true, "failed: \(late)")
        #expect(try await Self.state(api, subscription: subscription, name: "on-b") == "Failed")
        #expect(try await Self.state(api, subscription: subscription, name: "on-c") == "Running")
        #expect(try await Self.state(api, subscription: subscription, name: "on-holder") == "Running")

        // Asking did not keep node-b out: when it comes back, its next beat holds again.
        try await stopping.beat(now: t0 + 62)
        #expect(try await holder.hasStopped("node-b", now: t0 + 63) == false)
        try await fixture.server.close()
    }
}
