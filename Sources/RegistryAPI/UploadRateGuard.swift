import Dispatch
import HTTPTypes
import NIOCore
import Synchronization

/// Cuts off an upload whose body arrives slower than a minimum rate. The idle-connection timeout only closes a
/// connection that sends nothing; a client sending a byte just before each timeout would hold its connection and
/// its upload session for as long as it liked. A registry body streams (it may be gigabytes), so it cannot have a
/// whole-body deadline as the control plane's bodies do: instead, over every `window` of time the reader spent
/// waiting for the client, at least `minimumBytesPerSecond` per second of that wait must arrive. Time the server
/// spends elsewhere (setting up the session, writing staging to a slow store) is not the client's and does not count.
struct UploadRateGuard: Sendable {
    /// 0 turns the guard off.
    let minimumBytesPerSecond: Int
    let window: Duration

    /// Runs `operation` on `body`, counted; throws a `408` (the body's stream ends with it, and the connection closes)
    /// when a window of waiting brought too few bytes. One watchdog task per request, not per buffer.
    func run<Body: AsyncSequence & Sendable, Result: Sendable>(
        body: Body, _ operation: @escaping @Sendable (CountedBody<Body>) async throws -> Result
    ) async throws -> Result where Body.Element == ByteBuffer {
        let meter = BodyMeter()
        let counted = CountedBody(base: body, meter: meter)
        guard minimumBytesPerSecond > 0 else { return try await operation(counted) }
        let windowNanoseconds = max(1, window.components.seconds).multipliedReportingOverflow(by: 1_000_000_000).partialValue
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await operation(counted) }
            group.addTask { [window, minimumBytesPerSecond] in
                var (waitedBefore, receivedBefore) = (Int64(0), 0)
                while true {
                    try await Task.sleep(for: window / 4)
                    if meter.finished.load(ordering: .acquiring) { return nil }
                    let waited = meter.waited(now: BodyMeter.now())
                    guard waited - waitedBefore >= windowNanoseconds else { continue }
                    let received = meter.received.load(ordering: .relaxed)
                    let seconds = Int((waited - waitedBefore) / 1_000_000_000)
                    let (required, overflow) = minimumBytesPerSecond.multipliedReportingOverflow(by: seconds)
                    if received &- receivedBefore < (overflow ? Int.max : required) {
                        throw DistributionErrorResponse(
                            status: .requestTimeout, code: "BLOB_UPLOAD_INVALID",
                            message: "the upload's body arrived slower than \(minimumBytesPerSecond) bytes per second; send it again faster",
                            headers: [.connection: "close"])
                    }
                    (waitedBefore, receivedBefore) = (waited, received)
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

/// How much of a body has arrived and how long its reader has waited for it, shared between the reader and the
/// watchdog.
final class BodyMeter: Sendable {
    let received = Atomic<Int>(0)
    let finished = Atomic<Bool>(false)
    /// Nanoseconds spent waiting in `next()` so far, not counting a wait under way.
    let waitedBeforeThisRead = Atomic<Int64>(0)
    /// When the wait under way began (monotonic nanoseconds), 0 when the reader is not waiting.
    let waitingSince = Atomic<Int64>(0)

    static func now() -> Int64 { Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds) }

    /// All the time spent waiting for the client, as of `now`.
    func waited(now: Int64) -> Int64 {
        let since = waitingSince.load(ordering: .acquiring)
        return waitedBeforeThisRead.load(ordering: .acquiring) + (since == 0 ? 0 : max(0, now - since))
    }
}

/// A body that counts its bytes and its waiting time into a ``BodyMeter`` as it is read.
struct CountedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let meter: BodyMeter

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let meter: BodyMeter

        mutating func next() async throws -> ByteBuffer? {
            let started = BodyMeter.now()
            meter.waitingSince.store(started, ordering: .releasing)
            defer {
                // Cleared first: the watchdog may briefly see too little waiting, never too much.
                meter.waitingSince.store(0, ordering: .releasing)
                meter.waitedBeforeThisRead.wrappingAdd(Swift.max(0, BodyMeter.now() - started), ordering: .releasing)
            }
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
