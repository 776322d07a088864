import Crypto

/// A registry's unwrapped master key: it wraps the per-object data keys of that registry only.
public struct RegistryMasterKey: Sendable {
    public let registry: String
    let key: SymmetricKey

    public init(registry: String, key: SymmetricKey) {
        self.registry = registry
        self.key = key
    }

    /// A fresh 256-bit master key for a new registry.
    public static func generate(for registry: String) -> RegistryMasterKey {
        RegistryMasterKey(registry: registry, key: SymmetricKey(size: .bits256))
    }

    /// What the key-encryption key binds a wrapped master key to.
    public static func wrappingContext(registry: String) -> [UInt8] {
        Array("coffer registry master key v1\u{0}\(registry)".utf8)
    }

    public func wrapped(by wrapper: any KeyWrapper) async throws -> [UInt8] {
        try await wrapper.wrap(key, context: Self.wrappingContext(registry: registry))
    }

    public static func unwrap(_ wrapped: [UInt8], registry: String, using wrapper: any KeyWrapper) async throws -> RegistryMasterKey {
        RegistryMasterKey(registry: registry, key: try await wrapper.unwrap(wrapped, context: wrappingContext(registry: registry)))
    }

    /// Starts a new sealed object: a fresh data key, wrapped by this master key and bound to the object id.
    public func newObjectSealer(segmentSize: Int = SealedObjectFormat.defaultSegmentSize) throws -> SealedObjectSealer {
        let dataKey = SymmetricKey(size: .bits256)
        let objectID = randomBytes(16)
        let wrappedDataKey = try AEADKeyWrap.wrap(dataKey, under: key, context: dataKeyContext(objectID: objectID))
        let header = SealedObjectHeader(
            segmentSize: UInt32(segmentSize), objectID: objectID, noncePrefix: randomBytes(7), wrappedDataKey: wrappedDataKey
        )
        return SealedObjectSealer(header: header, dataKey: dataKey, registry: registry)
    }

    /// Reopens a sealed object's data key from its header.
    public func sealer(for header: SealedObjectHeader) throws -> SealedObjectSealer {
        let dataKey = try AEADKeyWrap.unwrap(header.wrappedDataKey, under: key, context: dataKeyContext(objectID: header.objectID))
        return SealedObjectSealer(header: header, dataKey: dataKey, registry: registry)
    }

    /// Encrypts a small metadata value (e.g. manifest annotations) bound to `context`.
    public func sealMetadata(_ plaintext: [UInt8], context: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: metadataContext(context))
        return Array(box.combined!)
    }

    public func openMetadata(_ sealed: [UInt8], context: String) throws(EnvelopeError) -> [UInt8] {
        do {
            return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: metadataContext(context)))
        } catch {
            throw EnvelopeError(.integrityFailure, "stored metadata failed authentication")
        }
    }

    private func metadataContext(_ context: String) -> [UInt8] {
        Array("coffer metadata v1\u{0}\(registry)\u{0}\(context)".utf8)
    }

    private func dataKeyContext(objectID: [UInt8]) -> [UInt8] {
        Array("coffer data key v1\u{0}\(registry)\u{0}".utf8) + objectID
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}
