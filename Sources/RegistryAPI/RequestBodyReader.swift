import CofferTelemetry
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A `/v2` request's body, read through here so that what the handler leaves unread is dealt with before the answer.
///
/// Otherwise the HTTP server drains the rest after the answer, at the client's pace: a `GET /v2/` announcing a
/// terabyte, or a manifest cut off at its size limit, then trickled a byte before each idle timeout, would hold its
/// connection indefinitely. As Go's server does, a little that arrives at once is read and the connection serves on;
/// anything more ends the body's stream (the server stops reading) and the answer closes the connection.
final class RequestBodyReader: @unchecked Sendable {
    /// Unread rest read before the connection is kept for the next request.
    static let drainLimit = 256 << 10
    static let drainDeadline = Duration.seconds(1)

    // One reader at a time, by construction: the handler reads (its rate guard's task group ends before it answers),
    // then ``finish()`` does, one task after the other. The lock only makes that visible to the compiler's checks.
    private let state: Mutex<State>
    private struct State: @unchecked Sendable {
        var body: RequestBody
        var iterator: RequestBody.AsyncIterator?
    }
    private let ended = Atomic<Bool>(false)
    /// Where the bytes read are counted (for the access log); none when the body was read whole before routing.
    private let record = RequestRecord.current.flatMap { $0.bodyWasCollected ? nil : $0 }

    init(_ body: RequestBody) {
        state = Mutex(State(body: body, iterator: nil))
    }

    /// The body as a sequence for the handler; it may be iterated once.
    var sequence: Sequence { Sequence(reader: self) }

    struct Sequence: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let reader: RequestBodyReader
        struct AsyncIterator: AsyncIteratorProtocol {
            let reader: RequestBodyReader
            func next() async throws -> ByteBuffer? { try await reader.next() }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }
    }

    private func next() async throws -> ByteBuffer? {
        var iterator = state.withLock { state in state.iterator ?? state.body.makeAsyncIterator() }
        defer { state.withLock { $0.iterator = iterator } }
        guard let buffer = try await iterator.next() else {
            ended.store(true, ordering: .releasing)
            return nil
        }
        record?.countBytesIn(buffer.readableBytes)
        return buffer
    }

    /// Whether the request announces a body (a length above zero, or chunks).
    static func announcesBody(_ request: Request) -> Bool {
        if request.headers[.transferEncoding] != nil { return true }
        return request.headers[.contentLength].map { $0 != "0" } ?? false
    }

    /// Deals with what the handler left unread; false when the connection must close after the answer.
    func finish() async -> Bool {
        if ended.load(ordering: .acquiring) { return true }
        let drained = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.drain(upTo: Self.drainLimit) }
            group.addTask {
                try? await Task.sleep(for: Self.drainDeadline)
                return false
            }
            let first = await group.next() ?? false
            // A drain still waiting for the client is cancelled, which ends the body's stream.
            group.cancelAll()
            return first
        }
        if drained { return true }
        if !ended.load(ordering: .acquiring) {
            // The drain stopped at its limit with nothing waiting: a read that starts cancelled ends the stream.
            await withTaskGroup(of: Void.self) { group in
                group.cancelAll()
                group.addTask { _ = try? await self.next() }
            }
        }
        return false
    }

    private func drain(upTo limit: Int) async -> Bool {
        var read = 0
        do {
            while let buffer = try await next() {
                read += buffer.readableBytes
                if read > limit || Task.isCancelled { return false }
            }
            return !Task.isCancelled
        } catch {
            return false
        }
    }
}
