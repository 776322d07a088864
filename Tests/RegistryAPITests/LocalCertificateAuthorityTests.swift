import Foundation
import Testing
import X509
@testable import CofferServer

/// The local CA's key sits in the data directory; without name constraints, whoever read it could mint a certificate
/// for any site that a client trusting Coffer's CA would accept (issue 11).
@Suite struct LocalCertificateAuthorityTests {
    func verifies(_ names: [String], under authority: LocalCertificateAuthority.Issued) async throws -> Bool {
        let root = try Certificate(pemEncoded: authority.certificatePEM)
        let leaf = try LocalCertificateAuthority.issueServerCertificate(authority: authority, dnsNames: names)
        var verifier = Verifier(rootCertificates: CertificateStore([root])) { RFC5280Policy(validationTime: Date()) }
        let result = await verifier.validate(leafCertificate: try Certificate(pemEncoded: leaf.certificatePEM), intermediates: CertificateStore())
        if case .validCertificate = result { return true }
        return false
    }

    @Test func theCAVouchesOnlyForTheServersNames() async throws {
        let authority = try LocalCertificateAuthority.createAuthority(domains: ["localhost", "cr.localhost", "vault.localhost"])
        #expect(try await verifies(["localhost", "*.cr.localhost", "*.vault.localhost"], under: authority))
        #expect(try await verifies(["myregistry.cr.localhost"], under: authority))
        #expect(try await !verifies(["www.example.com"], under: authority))
        #expect(try await !verifies(["localhost", "login.bank.example"], under: authority))
        #expect(try await !verifies(["localhost.evil.example"], under: authority))
    }

    @Test func theServersCAIsConstrainedFromItsFirstStart() async throws {
        let fixture = try await Fixture.make()
        let root = try Certificate(pemEncoded: try String(contentsOfFile: fixture.dataDirectory + "/ca.pem", encoding: .utf8))
        let constraints = try #require(try root.extensions.nameConstraints)
        #expect(Set(constraints.permittedDNSDomains) == ["localhost", "cr.localhost", "vault.localhost", "graph.localhost"])
        // IP ranges would make BoringSSL (the CLI's TLS) refuse the chain.
        #expect(constraints.permittedIPRanges.isEmpty)
        try await fixture.server.close()
    }
}
