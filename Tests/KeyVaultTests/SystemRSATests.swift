import Crypto
import Foundation
@testable import KeyVault
import Testing
import _CryptoExtras

/// The system OpenSSL's RSA-OAEP decryption must agree with swift-crypto's on every key size and digest, refuse
/// what swift-crypto refuses, and stay correct under concurrent use of one key.
@Suite struct SystemRSATests {
    static var systemLibraryExpected: Bool { ProcessInfo.processInfo.environment["COFFER_SYSTEM_OPENSSL"] != "0" }

    @Test func theSystemLibraryIsLoaded() {
        // Debian's libssl3 is on every machine the tests run on (python3 needs it); its absence would silently
        // fall back to the slower path.
        #expect((OpenSSLLibrary.shared != nil) == Self.systemLibraryExpected)
    }

    // Turned off (COFFER_SYSTEM_OPENSSL=0), the test is reported as skipped, not passed: swift-crypto alone is what
    // every other test then exercises.
    @Test(.enabled(if: systemLibraryExpected, "the system OpenSSL is turned off (COFFER_SYSTEM_OPENSSL=0)"), arguments: [2048, 3072, 4096])
    func decryptionAgreesWithSwiftCrypto(bits: Int) throws {
        let key = try _RSA.Encryption.PrivateKey(keySize: .init(bitCount: bits))
        guard let system = SystemRSAKey(der: Array(key.derRepresentation)) else {
            Issue.record("the system library did not take a \(bits)-bit key")
            return
        }
        for (padding, sha256) in [(_RSA.Encryption.Padding.PKCS1_OAEP, false), (.PKCS1_OAEP_SHA256, true)] {
            let message = (0..<32).map { _ in UInt8.random(in: 0...255) }
            let ciphertext = Array(try key.publicKey.encrypt(message, padding: padding))
            #expect(system.decryptOAEP(ciphertext, sha256: sha256) == message)
            #expect(Array(try key.decrypt(ciphertext, padding: padding)) == message)
            // The other digest, a flipped byte, a short ciphertext: refused by both.
            #expect(system.decryptOAEP(ciphertext, sha256: !sha256) == nil)
            var tampered = ciphertext
            tampered[tampered.count / 2] ^= 1
            #expect(system.decryptOAEP(tampered, sha256: sha256) == nil)
            #expect(throws: (any Error).self) { try key.decrypt(tampered, padding: padding) }
            #expect(system.decryptOAEP(Array(ciphertext.dropLast()), sha256: sha256) == nil)
            // After failures the key still works (failed contexts are not reused).
            #expect(system.decryptOAEP(ciphertext, sha256: sha256) == message)
        }
    }

    @Test func oneKeyServesConcurrentCallers() async throws {
        let key = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        nonisolated(unsafe) let material = try KeyMaterial.rsa(key)
        guard case .rsa(_, _, let system) = material else { Issue.record("not an RSA key"); return }
        #expect((system != nil) == Self.systemLibraryExpected)
        let messages = (0..<16).map { _ in (0..<32).map { _ in UInt8.random(in: 0...255) } }
        let ciphertexts = try messages.map { try material.wrap($0, algorithm: "RSA-OAEP-256") }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for round in 0..<64 {
                let index = round % messages.count
                group.addTask { try material.unwrap(ciphertexts[index], algorithm: "RSA-OAEP-256") == messages[index] }
            }
            for try await matched in group { #expect(matched) }
        }
    }
}
