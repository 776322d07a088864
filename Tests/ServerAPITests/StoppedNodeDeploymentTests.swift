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

    static func putStatus(_ api: ResourceManagerAPI, subscription: String, name: String, status: String) async throws {
        let id = "\(subscription)/resourceGroups/rg/providers/Microsoft.Resources/deployments/\(name)/operationStatuses/op-\(name)"
        try await api.documents.putDocument(StoredDocument(id: id, type: ARMExchange.operationStatusType, name: "op-\(name)",
                                                           body: #"{"id":"\#(id)","name":"op-\#(name)","status":"\#(status)"}"#))
    }

    static func status(_ api: ResourceManagerAPI, subscription: String, name: String) async throws -> JSONValue {
        let id = "\(subscription)/resourceGroups/rg/providers/Microsoft.Resources/deployments/\(name)/operationStatuses/op-\(name)"
        return try JSONText.parse(try #require(try await api.documents.document(id: id)).body)
    }

    /// The record and the status are two writes; a stop between them (the kill harness found it) left the status
    /// `Running` under an ended record, and an Azure SDK poller waiting for ever. At start the status takes the
    /// record's outcome; a status under a record still running elsewhere is left to its runner.
    @Test func aStatusLeftRunningUnderAnEndedDeploymentTakesItsOutcome() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let api = fixture.api
        let subscription = fixture.subscription
        let base = "\(subscription)/resourceGroups/rg/providers/Microsoft.Resources/deployments/"
        try await api.documents.putDocument(StoredDocument(id: base + "done", type: ARMExchange.deploymentType, name: "done",
                                                           body: #"{"properties":{"provisioningState":"Succeeded"}}"#))
        try await api.documents.putDocument(StoredDocument(id: base + "broken", type: ARMExchange.deploymentType, name: "broken",
                                                           body: #"{"properties":{"provisioningState":"Failed","error":{"code":"DeploymentFailed","message":"x"}}}"#))
        try await Self.putRunningDeployment(api, subscription: subscription, name: "elsewhere", node: "node-c")
        for name in ["done", "broken", "elsewhere", "gone"] {
            try await Self.putStatus(api, subscription: subscription, name: name, status: "Running")
        }
        try await api.failInterruptedDeployments()
        #expect(try await Self.status(api, subscription: subscription, name: "done")["status"] == .string("Succeeded"))
        #expect(try await Self.status(api, subscription: subscription, name: "done")["error"] == .null)
        #expect(try await Self.status(api, subscription: subscription, name: "broken")["status"] == .string("Failed"))
        #expect(try await Self.status(api, subscription: subscription, name: "broken")["error"]["code"] == .string("DeploymentFailed"))
        #expect(try await Self.status(api, subscription: subscription, name: "gone")["status"] == .string("Failed"))
        #expect(try await Self.status(api, subscription: subscription, name: "elsewhere")["status"] == .string("Running"))
        #expect(try await Self.state(api, subscription: subscription, name: "elsewhere") == "Running")
        try await fixture.server.close()
    }
}
