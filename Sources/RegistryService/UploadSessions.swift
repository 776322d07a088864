import Envelope
import OCIModels
import Synchronization

/// What is known of an upload in progress: its sealer, how much is written, and the running hash.
struct UploadState: Sendable {
    let registry: String
    let repository: String
    let sealer: SealedObjectSealer
    /// Full segments already appended to the staging object.
    var segmentsWritten: Int
    /// Plaintext received after the last full segment (less than one segment).
    var tail: [UInt8]
    /// The hash of everything received, or nil when it must be recomputed from staging
    /// (after a restart or a failed request).
    var hasher: DigestHasher?

    var offset: Int64 { Int64(segmentsWritten) * Int64(sealer.segmentSize) + Int64(tail.count) }
}

/// Upload states held in memory, each checked out by at most one request at a time.
final class UploadSessions: Sendable {
    private enum Slot {
        case idle(UploadState)
        case busy
    }

    private let slots = Mutex<[String: Slot]>([:])

    enum Checkout {
        case state(UploadState)
        /// Not in memory: the caller rebuilds it from storage, then checks it in.
        case absent
    }

    /// Marks the upload busy and hands over its state; a second concurrent request is refused.
    func checkOut(_ id: String) throws(RegistryError) -> Checkout {
        let result: Checkout? = slots.withLock { slots in
            switch slots[id] {
            case .busy: return nil
            case .idle(let state):
                slots[id] = .busy
                return .state(state)
            case nil:
                slots[id] = .busy
                return .absent
            }
        }
        guard let result else {
            throw RegistryError(.blobUploadInvalid, "another request is writing to this upload")
        }
        return result
    }

    /// Returns the state after a request; nil forgets it (the upload ended, or its state is no longer trusted).
    func checkIn(_ id: String, _ state: UploadState?) {
        slots.withLock { slots in
            if let state { slots[id] = .idle(state) } else { slots.removeValue(forKey: id) }
        }
    }
}
