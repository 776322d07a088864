import HTTPTypes
import NIOCore
import Synchronization

/// Cuts off an upload whose body arrives slower than a minimum rate. The idle-connection timeout only closes a
/// connection that sends nothing; a client sending a byte just before each timeout would hold its connection and
/// its upload session for as long as it liked. A registry body streams (it may be gigabytes), so it cannot have a
/// whole-body deadline as the control plane's bodies do: instead every `window` must bring at least
/// `minimumBytesPerSecond × window` bytes.
struct UploadRateGuard: Sendable {
    /// 0 turns the guard off.
    let minimumBytesPerSecond: Int
    let window: Duration

    /// Runs `operation` on `body`, counted; throws a `408` (the connection closes with it) if a window passes with
    /// too few bytes while the body is still arriving. One watchdog task per request, not per buffer.
    func run<Body: AsyncSequence & Sendable, Result: Sendable>(
        body: Body, _ operation: @escaping @Sendable (CountedBody<Body>) async throws -> Result
    ) async throws -> Result where Body.Element == ByteBuffer {
        let meter = BodyMeter()
        let counted = CountedBody(base: body, meter: meter)
        guard minimumBytesPerSecond > 0 else { return try await operation(counted) }
        let required = minimumBytesPerSecond.multipliedReportingOverflow(by: Int(max(1, window.components.seconds)))
        let perWindow = required.overflow ? Int.max : required.partialValue
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await operation(counted) }
            group.addTask { [window] in
                var counted = 0
                while true {
                    try await Task.sleep(for: window)
                    if meter.finished.load(ordering: .acquiring) { return nil }
                    let received = meter.received.load(ordering: .relaxed)
                    if received &- counted < perWindow {
                        throw DistributionErrorResponse(
                            status: .requestTimeout, code: "BLOB_UPLOAD_INVALID",
                            message: "the upload's body arrived slower than \(minimumBytesPerSecond) bytes per second; send it again faster",
                            headers: [.connection: "close"])
                    }
                    counted = received
                }
            }
            while let outcome = try await group.next() {
                if let outcome {
                    group.cancelAll()
                    return outcome
                }
            }
            preconditionFailure("the operation's task always yields a value or throws")
        }
    }
}

/// How much of a body has arrived, shared between the reader and the watchdog.
final class BodyMeter: Sendable {
    let received = Atomic<Int>(0)
    let finished = Atomic<Bool>(false)
}

/// A body that counts its bytes into a ``BodyMeter`` as they are read.
struct CountedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let meter: BodyMeter

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let meter: BodyMeter

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else {
                meter.finished.store(true, ordering: .releasing)
                return nil
            }
            meter.received.wrappingAdd(buffer.readableBytes, ordering: .relaxed)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), meter: meter) }
}
