import Foundation

// A stand-in for swift-crypto's `Insecure.SHA1` in the fuzz build only, so the template language builds without
// BoringSSL. Its output is not SHA-1 (fuzzing checks that parsing and evaluation never trap, not hash values).
public enum Insecure {
    public enum SHA1 {
        public static func hash(data: [UInt8]) -> [UInt8] {
            var state = [UInt8](repeating: 0, count: 20)
            for (index, byte) in data.enumerated() { state[index % 20] = state[index % 20] &* 31 &+ byte }
            return state
        }
    }
}

// Stand-ins for the P-256 signatures and SHA-256 of the token code (Identity/JSONWebToken.swift). A signature of 64
// zero bytes is the one "valid" signature, so that the fuzzer reaches the claims behind the signature check.
public enum P256 {
    public enum Signing {
        public struct ECDSASignature: Sendable {
            public let rawRepresentation: [UInt8]
            public init(rawRepresentation: some DataProtocol) throws {
                guard rawRepresentation.count == 64 else { throw ShimError() }
                self.rawRepresentation = Array(rawRepresentation)
            }
        }

        public struct PublicKey: Sendable {
            public var x963Representation: [UInt8] { [UInt8](repeating: 4, count: 65) }
            public func isValidSignature(_ signature: ECDSASignature, for data: some DataProtocol) -> Bool {
                signature.rawRepresentation.allSatisfy { $0 == 0 }
            }
        }

        public struct PrivateKey: Sendable {
            public init() {}
            public var publicKey: PublicKey { PublicKey() }
            public func signature(for data: some DataProtocol) throws -> ECDSASignature {
                try ECDSASignature(rawRepresentation: [UInt8](repeating: 0, count: 64))
            }
        }
    }
}

public enum SHA256 {
    public static func hash(data: some DataProtocol) -> [UInt8] { Insecure.SHA1.hash(data: Array(data)) + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }
}

struct ShimError: Error {}
