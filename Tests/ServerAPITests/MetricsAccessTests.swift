import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import CofferServer

/// `GET /metrics` opens to Reader (or more) on the subscription, and to nobody less: not a principal without a role,
/// not a Reader of one resource group, not a token for another audience of the same principal.
@Suite struct MetricsAccessTests {
    @Test func metricsNeedAReaderOfTheSubscription() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let subscriptionReader = try await fixture.principal("scraper", roles: [(.reader, fixture.subscription)])
        let groupReader = try await fixture.principal("group-reader", roles: [(.reader, "\(fixture.subscription)/resourceGroups/coffer")])
        let nobody = try await fixture.principal("nobody")
        try await fixture.test { client in
            func metrics(_ token: String?) async throws -> TestResponse {
                try await client.execute(uri: "/metrics", method: .get, headers: token.map { [.authorization: "Bearer \($0)"] } ?? [:])
            }
            let allowed = try await metrics(try fixture.token(for: subscriptionReader))
            #expect(allowed.status == .ok)
            #expect(String(buffer: allowed.body).contains("# TYPE coffer_key_access_total counter"))
            #expect(try await metrics(nil).status == .unauthorized)
            for (who, token) in [("no role", try fixture.token(for: nobody)), ("Reader of one group", try fixture.token(for: groupReader)),
                                 ("the vault's audience", try fixture.token(for: subscriptionReader, audience: "https://vault.localhost:8443"))] {
                let refused = try await metrics(token)
                #expect([.forbidden, .unauthorized].contains(refused.status), "\(who): \(refused.status)")
                #expect(!String(buffer: refused.body).contains("coffer_key_access_total"), "\(who)")
            }
            #expect(try await metrics(try fixture.token(for: nobody)).status == .forbidden)
        }
    }
}
