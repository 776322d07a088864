import Foundation
import Testing
@testable import OCIModels

@Suite struct ParsedManifestTests {
    let config = "sha256:" + String(repeating: "c", count: 64)
    let layer = "sha256:" + String(repeating: "1", count: 64)
    let subject = "sha256:" + String(repeating: "5", count: 64)

    func json(_ object: [String: Any]) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object))
    }

    var imageManifest: [String: Any] {
        [
            "schemaVersion": 2, "mediaType": MediaTypes.ociManifest,
            "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 10],
            "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 20]],
        ]
    }

    @Test func parsesImageManifestReferences() throws {
        let parsed = try ParsedManifest(bytes: json(imageManifest), contentType: MediaTypes.ociManifest)
        #expect(parsed.mediaType == MediaTypes.ociManifest)
        #expect(parsed.blobReferences.map(\.description) == [config, layer])
        #expect(parsed.artifactType == "application/vnd.oci.image.config.v1+json")
        #expect(parsed.subject == nil)
    }

    @Test func artifactTypeAndSubjectAreRead() throws {
        var manifest = imageManifest
        manifest["artifactType"] = "application/vnd.example.sbom"
        manifest["subject"] = ["mediaType": MediaTypes.ociManifest, "digest": subject, "size": 1]
        manifest["annotations"] = ["org.example": "yes"]
        let parsed = try ParsedManifest(bytes: json(manifest), contentType: nil)
        #expect(parsed.artifactType == "application/vnd.example.sbom")
        #expect(parsed.subject?.description == subject)
        #expect(parsed.annotations == ["org.example": "yes"])
    }

    @Test func parsesIndexChildren() throws {
        let index: [String: Any] = [
            "schemaVersion": 2, "mediaType": MediaTypes.ociIndex,
            "manifests": [["mediaType": MediaTypes.ociManifest, "digest": layer, "size": 3]],
        ]
        let parsed = try ParsedManifest(bytes: json(index), contentType: MediaTypes.ociIndex)
        #expect(parsed.manifestReferences.map(\.description) == [layer])
        #expect(parsed.blobReferences.isEmpty)
    }

    @Test func foreignLayersAreNotRequiredBlobs() throws {
        var manifest = imageManifest
        manifest["mediaType"] = MediaTypes.dockerManifest
        manifest["layers"] = [["mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": layer, "size": 20,
                               "urls": ["https://example.invalid/layer"]]]
        let parsed = try ParsedManifest(bytes: json(manifest), contentType: MediaTypes.dockerManifest)
        #expect(parsed.blobReferences.map(\.description) == [config])
    }

    @Test func rejectsMismatchedContentType() {
        #expect(throws: OCIValidationError.self) {
            try ParsedManifest(bytes: json(imageManifest), contentType: MediaTypes.dockerManifest)
        }
    }

    @Test(arguments: [
        "not json", "[]", "{\"schemaVersion\":1}", "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}",
        "{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"config\":{},\"layers\":[]}",
    ])
    func rejectsMalformedManifests(_ text: String) {
        #expect(throws: OCIValidationError.self) { try ParsedManifest(bytes: Array(text.utf8), contentType: nil) }
    }

    @Test func rejectsBadDescriptorDigest() {
        var manifest = imageManifest
        manifest["layers"] = [["mediaType": "x", "digest": "sha256:nothex", "size": 1]]
        #expect(throws: OCIValidationError.self) { try ParsedManifest(bytes: json(manifest), contentType: nil) }
    }

    @Test func rejectsOversizedManifest() {
        let bytes = [UInt8](repeating: 0x20, count: ParsedManifest.maximumSize + 1)
        do {
            _ = try ParsedManifest(bytes: bytes, contentType: nil)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .sizeInvalid)
        }
    }
}
