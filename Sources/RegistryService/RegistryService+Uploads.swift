import CofferStorage
import Envelope
import Foundation
import NIOCore
import OCIModels

/// Where an upload stands, for the `Location` and `Range` headers.
public struct UploadProgress: Sendable, Equatable {
    public let id: String
    /// Bytes received so far.
    public let offset: Int64
}

extension RegistryService {
    /// Starts an upload session. Nothing is visible to readers until it completes.
    /// - Parameter principal: who asks (a token's subject), for the per-principal limit on open sessions.
    public func startUpload(registry: String, repository: RepositoryName, principal: String = "") async throws -> UploadProgress {
        let masterKey = try await masterKey(registry: registry)
        let id = UUID().uuidString.lowercased()
        let sealer = try masterKey.newObjectSealer(segmentSize: configuration.segmentSize)
        // The session is recorded before its staging exists, so a clean-up never takes live staging for a leftover.
        let record = UploadRecord(id: id, registry: registry, repository: repository.value, startedAt: Self.now(), principal: principal)
        switch try await metadata.createUpload(record, limits: configuration.uploadLimits) {
        case .admitted: break
        case .repositoryAtLimit(let open):
            throw RegistryError(.tooManyRequests, "repository \(repository) has \(open) upload sessions open; finish or cancel some, or retry later")
        case .principalAtLimit(let open):
            throw RegistryError(.tooManyRequests, "you have \(open) upload sessions open; finish or cancel some, or retry later")
        }
        do {
            try await blobs.createStaging(id)
            try await blobs.appendStaging(id, ByteBuffer(bytes: sealer.header.encoded))
        } catch {
            try? await discardUpload(id: id)
            throw Self.translate(error)
        }
        uploads.checkIn(id, UploadState(
            registry: registry, repository: repository.value, sealer: sealer, segmentsWritten: 0, tail: [], hasher: DigestHasher(.sha256)
        ))
        return UploadProgress(id: id, offset: 0)
    }

    public func uploadProgress(registry: String, repository: RepositoryName, id: String) async throws -> UploadProgress {
        try await withUpload(registry: registry, repository: repository, id: id) { state in
            (UploadProgress(id: id, offset: state.offset), state)
        }
    }

    /// Appends a chunk. When `expectedOffset` is given (from `Content-Range`), it must be where the upload ends;
    /// when `expectedLength` is, the body must hold exactly that many bytes, or the upload is cancelled (what
    /// reached staging cannot be taken back, and the client's idea of the offset would be wrong).
    public func appendToUpload<Body: AsyncSequence & Sendable>(
        registry: String, repository: RepositoryName, id: String, expectedOffset: Int64?, expectedLength: Int64? = nil, body: Body
    ) async throws -> UploadProgress where Body.Element == ByteBuffer {
        try await withUpload(registry: registry, repository: repository, id: id) { state in
            if let expectedOffset, expectedOffset != state.offset {
                throw RegistryError(.uploadOutOfOrder, "chunk starts at \(expectedOffset) but the upload has \(state.offset) bytes",
                                    detail: ["offset": String(state.offset)])
            }
            var state = state
            try await append(body, to: &state, id: id, expectedLength: expectedLength)
            try await blobs.replaceStaging(id + ".tail", ByteBuffer(bytes: try state.sealer.sealTail(state.tail, index: state.segmentsWritten)))
            return (UploadProgress(id: id, offset: state.offset), state)
        }
    }

    /// Appends the final chunk (if any), verifies the digest and publishes the blob atomically.
    public func completeUpload<Body: AsyncSequence & Sendable>(
        registry: String, repository: RepositoryName, id: String, digest: Digest, expectedOffset: Int64?, expectedLength: Int64? = nil,
        body: Body
    ) async throws -> BlobRecord where Body.Element == ByteBuffer {
        try await complete(registry: registry, repository: repository, id: id, digest: digest, expectedOffset: expectedOffset,
                           expectedLength: expectedLength, body: body, heldStateIsCurrent: false)
    }

    private func complete<Body: AsyncSequence & Sendable>(
        registry: String, repository: RepositoryName, id: String, digest: Digest, expectedOffset: Int64?, expectedLength: Int64?,
        body: Body, heldStateIsCurrent: Bool
    ) async throws -> BlobRecord where Body.Element == ByteBuffer {
        let result: BlobRecord? = try await withUpload(registry: registry, repository: repository, id: id,
                                                       heldStateIsCurrent: heldStateIsCurrent) { state in
            if let expectedOffset, expectedOffset != state.offset {
                throw RegistryError(.uploadOutOfOrder, "chunk starts at \(expectedOffset) but the upload has \(state.offset) bytes",
                                    detail: ["offset": String(state.offset)])
            }
            var state = state
            try await append(body, to: &state, id: id, expectedLength: expectedLength)
            return (try await commit(&state, id: id, digest: digest), nil)
        }
        return result!
    }

    /// Monolithic upload: the whole blob in one request.
    public func uploadBlob<Body: AsyncSequence & Sendable>(
        registry: String, repository: RepositoryName, digest: Digest, principal: String = "", body: Body
    ) async throws -> BlobRecord where Body.Element == ByteBuffer {
        let progress = try await startUpload(registry: registry, repository: repository, principal: principal)
        if case .state(var state) = try uploads.checkOut(progress.id) {
            state.hasher = DigestHasher(digest.algorithm)
            uploads.checkIn(progress.id, state)
        }
        // The session was made by this request and its id never left it: no other node can have moved it on.
        return try await complete(
            registry: registry, repository: repository, id: progress.id, digest: digest, expectedOffset: nil, expectedLength: nil, body: body,
            heldStateIsCurrent: true
        )
    }

    /// Cancels without rebuilding the session's state: a session whose staging a crash tore mid-chunk (which
    /// every other request refuses as inconsistent) can still be cancelled, as the refusal tells the client to do.
    public func cancelUpload(registry: String, repository: RepositoryName, id: String) async throws {
        _ = try await uploadRecord(registry: registry, repository: repository, id: id)
        _ = try uploads.checkOut(id)
        defer { uploads.checkIn(id, nil) }
        do {
            try await discardUpload(id: id)
        } catch {
            throw Self.translate(error)
        }
    }

    private func uploadRecord(registry: String, repository: RepositoryName, id: String) async throws -> UploadRecord {
        guard let record = try await metadata.upload(id: id), record.registry == registry, record.repository == repository.value else {
            throw RegistryError(.blobUploadUnknown, "upload \(id.prefix(64)) is not known in this repository")
        }
        return record
    }

    func discardUpload(id: String) async throws {
        try await blobs.deleteStaging(id)
        try await blobs.deleteStaging(id + ".tail")
        try await metadata.deleteUpload(id: id)
    }

    // MARK: steps

    /// Checks out the upload's state (rebuilding it from staging when not in memory), runs `body`, and
    /// checks back in what it returns. On failure the in-memory state is dropped, so the next request
    /// rebuilds it from what actually reached storage.
    private func withUpload<T: Sendable>(
        registry: String, repository: RepositoryName, id: String, heldStateIsCurrent: Bool = false,
        _ body: (UploadState) async throws -> (T, UploadState?)
    ) async throws -> T {
        let record = try await uploadRecord(registry: registry, repository: repository, id: id)
        let checkout = try uploads.checkOut(id)
        do {
            // Activity is noted as a request begins, so a long request keeps its session from expiring.
            if record.activeAt < Self.now() { try await metadata.touchUpload(id: id, at: Self.now()) }
            let state: UploadState
            switch checkout {
            case .state(let held) where heldStateIsCurrent: state = held
            case .state(let held) where try await isCurrent(held, id: id): state = held
            case .state, .absent: state = try await rebuildState(record)
            }
            let (result, next) = try await body(state)
            uploads.checkIn(id, next)
            return result
        } catch let mismatch as ChunkLengthMismatch {
            uploads.checkIn(id, nil)
            try? await discardUpload(id: id)
            throw mismatch.error
        } catch {
            uploads.checkIn(id, nil)
            throw Self.translate(error)
        }
    }

    /// Removes upload sessions nobody has written to for ``RegistryConfiguration/uploadIdleTimeout``, with their
    /// staging. A session a request on this node holds is left alone. Returns how many were removed. `now` is for
    /// tests, which cannot rely on how long a loaded machine takes between two requests.
    @discardableResult
    public func expireIdleUploads(now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> Int {
        let cutoff = now - Int64(configuration.uploadIdleTimeout.components.seconds)
        var removed = 0
        while true {
            let idle = try await metadata.idleUploads(before: cutoff, limit: 500)
            var progressed = false
            for upload in idle {
                // A request holding the session right now is activity: leave it.
                guard (try? uploads.checkOut(upload.id)) != nil else { continue }
                defer { uploads.checkIn(upload.id, nil) }
                try await discardUpload(id: upload.id)
                removed += 1
                progressed = true
            }
            if idle.count < 500 || !progressed { break }
        }
        if removed > 0 { logger.info("expired idle upload sessions", metadata: ["coffer.count": .stringConvertible(removed)]) }
        return removed
    }

    /// Whether a state held in memory still describes what is staged: with several nodes on shared storage the
    /// upload may have gone on elsewhere. Uploads only grow, so the staged sizes tell.
    private func isCurrent(_ state: UploadState, id: String) async throws -> Bool {
        let stride = Int64(state.sealer.segmentSize) + Int64(SealedObjectFormat.tagSize)
        let expected = Int64(state.sealer.header.encodedSize) + Int64(state.segmentsWritten) * stride
        guard try await blobs.stagingSize(id) == expected else { return false }
        guard let tail = try await blobs.stagingSize(id + ".tail") else { return state.tail.isEmpty }
        return tail == Int64(SealedObjectFormat.sealedTailOverhead + state.tail.count)
    }

    /// A session whose staging a stop left torn (mid-chunk, or part-way through a commit's clean-up).
    static let inconsistentUpload = RegistryError(.blobUploadInvalid, "staged upload is inconsistent (cut off mid-chunk); cancel it and start the upload again")

    private func rebuildState(_ record: UploadRecord) async throws -> UploadState {
        let masterKey = try await masterKey(registry: record.registry)
        guard let size = try await blobs.stagingSize(record.id) else {
            throw RegistryError(.blobUploadUnknown, "upload \(record.id) has no staged data")
        }
        let start = try await blobs.readStaging(record.id, offset: 0, length: SealedObjectHeader.maximumEncodedSize)
        // No header: a stop during the clean-up after a commit (an object store removes the staging's parts one by
        // one) left the rest. Like a torn chunk, it is refused cleanly, never read.
        guard let header = try? SealedObjectHeader(parsing: start.readableBytesView) else { throw Self.inconsistentUpload }
        let sealer = try masterKey.sealer(for: header)
        let stride = Int64(header.segmentSize) + Int64(SealedObjectFormat.tagSize)
        let body = size - Int64(header.encodedSize)
        guard body >= 0, body % stride == 0 else { throw Self.inconsistentUpload }
        let segments = Int(body / stride)
        var tail: [UInt8] = []
        if let tailSize = try await blobs.stagingSize(record.id + ".tail"), tailSize > 0 {
            let sealedTail = try await blobs.readStaging(record.id + ".tail", offset: 0, length: Int(tailSize))
            // A tail sealed for an earlier segment index was already folded into a written segment.
            tail = (try? sealer.openTail(sealedTail.readableBytesView, index: segments)) ?? []
        }
        // Nothing received yet (an upload started on another node, say): the running hash starts here, as at the
        // start, so completing it needs no second read of the data.
        let nothingYet = segments == 0 && tail.isEmpty
        return UploadState(
            registry: record.registry, repository: record.repository, sealer: sealer,
            segmentsWritten: segments, tail: tail, hasher: nothingYet ? DigestHasher(.sha256) : nil
        )
    }

    /// Encrypts the body into full segments appended to staging; leaves the remainder in `state.tail`.
    /// Writing a batch overlaps with hashing and sealing the next one (at most one write in flight),
    /// so memory stays bounded at about two batches.
    private func append<Body: AsyncSequence & Sendable>(
        _ body: Body, to state: inout UploadState, id: String, expectedLength: Int64?
    ) async throws where Body.Element == ByteBuffer {
        let segmentSize = state.sealer.segmentSize
        let batchSize = configuration.stagingBatchSize
        let blobs = self.blobs
        var working = state
        try await withThrowingTaskGroup(of: Void.self) { writes in
            var pending = working.tail
            pending.reserveCapacity(segmentSize)
            var batch = ByteBufferAllocator().buffer(capacity: batchSize + segmentSize)
            var inFlight = false
            func flush(_ full: ByteBuffer) async throws {
                if inFlight { try await writes.next() }
                writes.addTask { try await blobs.appendStaging(id, full) }
                inFlight = true
            }
            var received: Int64 = 0
            for try await chunk in body {
                received += Int64(chunk.readableBytes)
                if let expectedLength, received > expectedLength { throw lengthMismatch(expectedLength, received: received) }
                chunk.withUnsafeReadableBytes { bytes in working.hasher?.update(bytes) }
                var view = chunk.readableBytesView[...]
                while !view.isEmpty {
                    let take = Swift.min(segmentSize - pending.count, view.count)
                    pending.append(contentsOf: view.prefix(take))
                    view = view.dropFirst(take)
                    if pending.count == segmentSize {
                        try working.sealer.sealSegment(pending, index: working.segmentsWritten, into: &batch)
                        working.segmentsWritten += 1
                        pending.removeAll(keepingCapacity: true)
                        if batch.readableBytes >= batchSize {
                            try await flush(batch)
                            batch = ByteBufferAllocator().buffer(capacity: batchSize + segmentSize)
                        }
                    }
                }
            }
            if let expectedLength, received != expectedLength { throw lengthMismatch(expectedLength, received: received) }
            if batch.readableBytes > 0 { try await flush(batch) }
            try await writes.waitForAll()
            working.tail = pending
        }
        state = working
    }

    private func lengthMismatch(_ expected: Int64, received: Int64) -> ChunkLengthMismatch {
        ChunkLengthMismatch(error: RegistryError(
            .blobUploadInvalid, "Content-Range announces \(expected) bytes but the body has \(received)\(received > expected ? " or more" : ""); "
                + "the upload was cancelled, start it again"
        ))
    }

    /// Seals the last segment and the commit record, verifies the digest and publishes.
    private func commit(_ state: inout UploadState, id: String, digest: Digest) async throws -> BlobRecord {
        let length = state.offset
        if !state.tail.isEmpty {
            var last = ByteBuffer()
            try state.sealer.sealSegment(state.tail, index: state.segmentsWritten, into: &last)
            try await blobs.appendStaging(id, last)
            state.segmentsWritten += 1
            state.tail = []
        }
        let actual: Digest
        if let hasher = state.hasher, hasher.algorithm == digest.algorithm {
            actual = hasher.finalize()
        } else {
            actual = try await rehashStaging(state, id: id, length: length, algorithm: digest.algorithm)
        }
        guard actual == digest else {
            try await discardUpload(id: id)
            throw RegistryError(.digestInvalid, "uploaded content has digest \(actual), not \(digest)")
        }
        // The registry holds it already: link it (which fails if garbage collection removed it meanwhile).
        if let existing = try await metadata.blob(registry: state.registry, digest: digest),
           try await metadata.linkBlob(registry: state.registry, repository: state.repository, digest: digest) {
            try await discardUpload(id: id)
            return existing
        }
        let record = BlobRecord(registry: state.registry, digest: digest, size: length,
                                objectKey: Self.newObjectKey(registry: state.registry, digest: digest))
        try await blobs.appendStaging(id, ByteBuffer(bytes: try state.sealer.sealCommitRecord(digest: digest.description, plaintextLength: length)))
        try await blobs.commitStaging(id, as: record.objectKey)
        let stored = try await metadata.commitBlob(record, repository: state.repository)
        if stored.objectKey != record.objectKey {
            // Another upload of the same content committed first; its object serves, ours is not needed.
            try? await blobs.delete(record.objectKey)
        }
        try await blobs.deleteStaging(id + ".tail")
        try await metadata.deleteUpload(id: id)
        logger.debug("blob committed", metadata: [LogKey.registry: .string(state.registry), LogKey.digest: .string(digest.description)])
        return stored
    }

    /// Recomputes the digest by decrypting what was staged (after a restart, or for a second algorithm).
    private func rehashStaging(_ state: UploadState, id: String, length: Int64, algorithm: Digest.Algorithm) async throws -> Digest {
        var hasher = DigestHasher(algorithm)
        let header = state.sealer.header
        var index = 0
        while index < state.segmentsWritten {
            let range = SealedObjectFormat.segmentRange(index: index, plaintextLength: length, header: header)
            let sealed = try await blobs.readStaging(id, offset: range.offset, length: range.length)
            let plaintext = try state.sealer.openSegment(sealed.readableBytesView, index: index)
            hasher.update(plaintext)
            index += 1
        }
        return hasher.finalize()
    }
}

/// A chunk whose body does not hold the bytes its `Content-Range` announced: the upload is cancelled.
private struct ChunkLengthMismatch: Error {
    let error: RegistryError
}
