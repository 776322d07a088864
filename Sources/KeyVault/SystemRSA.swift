#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// RSA-OAEP decryption (unwrapKey, decrypt) through the system's OpenSSL 3, loaded at run time when present.
///
/// Unwrapping is the vault's hot path (every registry master-key unwrap), and the private-key operation is its
/// cost: OpenSSL 3's RSA is about twice as fast as the BoringSSL that swift-crypto bundles on the same machine.
/// The library is looked up by its soname (`libcrypto.so.3`, Debian's `libssl3`), so Coffer needs no OpenSSL
/// headers to build and the system's security updates apply; when it is absent (or `COFFER_SYSTEM_OPENSSL=0`)
/// swift-crypto does the work. Only private-key decryption goes here; everything else stays on swift-crypto.
final class SystemRSAKey: @unchecked Sendable {
    // @unchecked: `key` is immutable after init (OpenSSL allows concurrent use of one EVP_PKEY), and contexts,
    // which are not thread-safe, are used by one caller at a time through the pool.
    private let library: OpenSSLLibrary
    private let key: OpaquePointer
    private let size: Int
    /// Decryption contexts already set up, per digest (SHA-1 for RSA-OAEP, SHA-256 for RSA-OAEP-256).
    private let idle = Mutex<[Bool: [Context]]>([:])

    /// An `EVP_PKEY_CTX`, handed from one caller to the next through the pool, never shared.
    private struct Context: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// The key from its DER form (PKCS#1 or PKCS#8), or nil when the system library is not available.
    init?(der: [UInt8]) {
        guard let library = OpenSSLLibrary.shared else { return nil }
        var cursor: UnsafePointer<UInt8>? = nil
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            cursor = buffer.baseAddress
            return library.d2iAutoPrivateKey(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            library.clearErrors()
            return nil
        }
        self.library = library
        self.key = parsed
        self.size = Int(library.keySize(parsed))
    }

    deinit {
        for context in idle.withLock({ $0.values.flatMap { $0 } }) { library.freeContext(context.pointer) }
        library.freeKey(key)
    }

    /// RSA-OAEP with SHA-256 (label empty, MGF1 with the same digest) or SHA-1; nil when the ciphertext does not decrypt.
    func decryptOAEP(_ ciphertext: [UInt8], sha256: Bool) -> [UInt8]? {
        guard let context = takeContext(sha256: sha256) else { return nil }
        var output = [UInt8](repeating: 0, count: size)
        var length = size
        let status = output.withUnsafeMutableBufferPointer { out in
            ciphertext.withUnsafeBufferPointer { input in
                library.decrypt(context, out.baseAddress, &length, input.baseAddress, input.count)
            }
        }
        guard status == 1 else {
            library.clearErrors()
            library.freeContext(context)  // not returned to the pool: its state after a failure is not worth trusting
            return nil
        }
        idle.withLock { $0[sha256, default: []].append(Context(pointer: context)) }
        return Array(output.prefix(length))
    }

    private func takeContext(sha256: Bool) -> OpaquePointer? {
        if let context = idle.withLock({ $0[sha256]?.popLast() }) { return context.pointer }
        guard let context = library.newContext(key, nil) else { return nil }
        var ready = library.decryptInit(context) == 1 && library.setPadding(context, 4 /* RSA_PKCS1_OAEP_PADDING */) == 1
        if ready, sha256 {
            let digest = library.sha256()
            ready = library.setOAEPDigest(context, digest) == 1 && library.setMGF1Digest(context, digest) == 1
        }
        guard ready else {
            library.clearErrors()
            library.freeContext(context)
            return nil
        }
        return context
    }
}

/// The few libcrypto functions ``SystemRSAKey`` uses, resolved with `dlsym`.
struct OpenSSLLibrary: @unchecked Sendable {
    typealias D2IAutoPrivateKey = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> OpaquePointer?
    typealias FreeKey = @convention(c) (OpaquePointer) -> Void
    typealias KeySize = @convention(c) (OpaquePointer) -> Int32
    typealias NewContext = @convention(c) (OpaquePointer, OpaquePointer?) -> OpaquePointer?
    typealias FreeContext = @convention(c) (OpaquePointer) -> Void
    typealias ContextOperation = @convention(c) (OpaquePointer) -> Int32
    typealias SetInteger = @convention(c) (OpaquePointer, Int32) -> Int32
    typealias SetDigest = @convention(c) (OpaquePointer, OpaquePointer) -> Int32
    typealias Digest = @convention(c) () -> OpaquePointer
    typealias Decrypt = @convention(c) (OpaquePointer, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int>, UnsafePointer<UInt8>?, Int) -> Int32
    typealias ClearErrors = @convention(c) () -> Void

    let d2iAutoPrivateKey: D2IAutoPrivateKey
    let freeKey: FreeKey
    let keySize: KeySize
    let newContext: NewContext
    let freeContext: FreeContext
    let decryptInit: ContextOperation
    let setPadding: SetInteger
    let setOAEPDigest: SetDigest
    let setMGF1Digest: SetDigest
    let sha256: Digest
    let decrypt: Decrypt
    let clearErrors: ClearErrors

    /// The loaded library, or nil (not installed, not OpenSSL 3, or turned off with `COFFER_SYSTEM_OPENSSL=0`).
    static let shared: OpenSSLLibrary? = load()

    private static func load() -> OpenSSLLibrary? {
        #if canImport(Glibc)
        if let setting = getenv("COFFER_SYSTEM_OPENSSL"), String(cString: setting) == "0" { return nil }
        guard let handle = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL) else { return nil }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let d2i = symbol("d2i_AutoPrivateKey", as: D2IAutoPrivateKey.self),
              let freeKey = symbol("EVP_PKEY_free", as: FreeKey.self),
              let keySize = symbol("EVP_PKEY_get_size", as: KeySize.self),
              let newContext = symbol("EVP_PKEY_CTX_new", as: NewContext.self),
              let freeContext = symbol("EVP_PKEY_CTX_free", as: FreeContext.self),
              let decryptInit = symbol("EVP_PKEY_decrypt_init", as: ContextOperation.self),
              let setPadding = symbol("EVP_PKEY_CTX_set_rsa_padding", as: SetInteger.self),
              let setOAEPDigest = symbol("EVP_PKEY_CTX_set_rsa_oaep_md", as: SetDigest.self),
              let setMGF1Digest = symbol("EVP_PKEY_CTX_set_rsa_mgf1_md", as: SetDigest.self),
              let sha256 = symbol("EVP_sha256", as: Digest.self),
              let decrypt = symbol("EVP_PKEY_decrypt", as: Decrypt.self),
              let clearErrors = symbol("ERR_clear_error", as: ClearErrors.self)
        else {
            dlclose(handle)
            return nil
        }
        // Never closed: the functions are used for the life of the process.
        return OpenSSLLibrary(d2iAutoPrivateKey: d2i, freeKey: freeKey, keySize: keySize, newContext: newContext, freeContext: freeContext,
                              decryptInit: decryptInit, setPadding: setPadding, setOAEPDigest: setOAEPDigest, setMGF1Digest: setMGF1Digest,
                              sha256: sha256, decrypt: decrypt, clearErrors: clearErrors)
        #else
        return nil
        #endif
    }
}
