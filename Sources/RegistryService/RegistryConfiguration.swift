import CofferStorage

/// Settings of the registry service, fixed at start.
public struct RegistryConfiguration: Sendable {
    /// Plaintext bytes per encrypted segment.
    public var segmentSize: Int = 64 * 1024
    /// Ciphertext is appended to staging in batches of about this many bytes.
    public var stagingBatchSize: Int = 1024 * 1024
    /// How long an unwrapped registry master key is trusted before the key-encryption key is asked again.
    public var masterKeyLifetime: Duration = .seconds(300)
    /// How long a registry's row is reused before it is read again: the bound on how late this node notices a
    /// registry deleted or its master key rewrapped on another node.
    public var registryRecordLifetime: Duration = .seconds(1)
    /// Upload sessions with no request for this long expire, with their staging (distribution: 7 days).
    public var uploadIdleTimeout: Duration = .seconds(7 * 24 * 3600)
    /// Open upload sessions allowed per repository and per principal; a start beyond them is refused (429).
    public var uploadLimits = UploadLimits(perRepository: 1000, perPrincipal: 1000)
    /// An upload's body must bring at least this many bytes per second over every ``uploadRateWindow`` while it
    /// arrives, else it is cut off (408); 0 turns the check off.
    public var uploadMinimumBytesPerSecond: Int = 1024
    public var uploadRateWindow: Duration = .seconds(60)

    public init() {}
}
