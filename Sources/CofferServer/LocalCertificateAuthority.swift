import Crypto
import Foundation
import SwiftASN1
import X509

/// The CA Coffer creates on first start, and the server certificate it issues for the local names.
enum LocalCertificateAuthority {
    struct Issued {
        let certificatePEM: String
        let privateKeyPEM: String
    }

    /// A CA that may only vouch for `domains` (and their subdomains): its key, which sits in the data directory, cannot
    /// mint a certificate for any other site name that a client trusting it would accept. IP addresses are left
    /// unconstrained: BoringSSL (swift-nio-ssl, so Coffer's own CLI) refuses any chain whose CA constrains them.
    static func createAuthority(domains: [String], now: Date = Date()) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("Coffer")
            CommonName("Coffer local CA")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                Critical(NameConstraints(permittedDNSDomains: domains))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key)
        )
        return Issued(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    /// A server certificate for `dnsNames` and loopback addresses, signed by the CA.
    static func issueServerCertificate(authority: Issued, dnsNames: [String], now: Date = Date()) throws -> Issued {
        let authorityCertificate = try Certificate(pemEncoded: authority.certificatePEM)
        let authorityKey = try P256.Signing.PrivateKey(pemRepresentation: authority.privateKeyPEM)
        let key = P256.Signing.PrivateKey()
        let names = dnsNames.map { GeneralName.dnsName($0) } + [
            .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
            .ipAddress(ASN1OctetString(contentBytes: Array(repeating: 0, count: 15) + [1])),
        ]
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: authorityCertificate.subject,
            subject: try DistinguishedName { OrganizationName("Coffer"); CommonName(dnsNames.first ?? "localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(authorityKey)
        )
        return Issued(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }
}
