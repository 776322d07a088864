import Testing
@testable import OCIModels

@Suite struct DigestTests {
    @Test func parsesSHA256AndSHA512() throws {
        let sha256 = try Digest(parsing: "sha256:" + String(repeating: "a", count: 64))
        #expect(sha256.algorithm == .sha256)
        let sha512 = try Digest(parsing: "sha512:" + String(repeating: "0", count: 128))
        #expect(sha512.algorithm == .sha512)
        #expect(sha512.description == "sha512:" + String(repeating: "0", count: 128))
    }

    @Test(arguments: [
        "sha256", "sha256:", ":abc", "sha256:xyz", "sha256:" + String(repeating: "A", count: 64),
        "sha256:" + String(repeating: "a", count: 63), "SHA256:" + String(repeating: "a", count: 64), "sha256:abc/def",
    ])
    func rejectsMalformedDigests(_ text: String) {
        #expect(throws: OCIValidationError.self) { try Digest(parsing: text) }
    }

    @Test func wellFormedButUnregisteredAlgorithmIsUnsupported() {
        do {
            _ = try Digest(parsing: "md5+b64:abcdEF==")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .digestUnsupported)
        }
    }

    @Test func hashesKnownVectors() {
        #expect(Digest.of(Array("abc".utf8)).description == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.of(Array("abc".utf8), using: .sha512).encoded.hasPrefix("ddaf35a193617abacc417349ae204131"))
    }

    @Test func incrementalHashingMatchesOneShot() {
        let bytes = (0..<10_000).map { UInt8($0 % 251) }
        var hasher = DigestHasher(.sha256)
        hasher.update(Array(bytes[0..<3333]))
        hasher.update(Array(bytes[3333...]))
        #expect(hasher.finalize() == Digest.of(bytes))
    }
}

@Suite struct NameTests {
    @Test(arguments: ["a", "library/ubuntu", "a-b/c__d/e.f", "a--b", "x0/y1/z2", "coffer/app"])
    func acceptsValidRepositoryNames(_ name: String) throws {
        #expect(try RepositoryName(name).value == name)
    }

    @Test(arguments: ["", "A", "a/", "/a", "a//b", "-a", "a-", "a___b", "a..b", "a_.b", "a b", String(repeating: "a", count: 256)])
    func rejectsInvalidRepositoryNames(_ name: String) {
        #expect(throws: OCIValidationError.self) { try RepositoryName(name) }
    }

    @Test(arguments: ["latest", "v1.0", "_x", "A-b_c.9", String(repeating: "t", count: 128)])
    func acceptsValidTags(_ tag: String) throws {
        #expect(try Tag(tag).value == tag)
    }

    @Test(arguments: ["", ".x", "-x", "a/b", "a:b", String(repeating: "t", count: 129)])
    func rejectsInvalidTags(_ tag: String) {
        #expect(throws: OCIValidationError.self) { try Tag(tag) }
    }

    @Test func referenceIsDigestWhenItHasAColon() throws {
        let digest = "sha256:" + String(repeating: "b", count: 64)
        #expect(try ManifestReference(parsing: digest) == .digest(try Digest(parsing: digest)))
        #expect(try ManifestReference(parsing: "v1") == .tag(try Tag("v1")))
    }
}
