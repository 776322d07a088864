import NIOCore
import Testing
@testable import RegistryAPI

/// The upload rate guard counts only the time its reader waits for the client: a slow client is cut off, a slow
/// server (setting up the session, writing to a slow store) is not the client's fault.
@Suite struct UploadRateGuardTests {
    /// A body that yields `chunks` buffers of `size` bytes, `pause` apart.
    static func body(chunks: Int, size: Int, pause: Duration) -> AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            Task {
                for _ in 0..<chunks {
                    try? await Task.sleep(for: pause)
                    continuation.yield(ByteBuffer(repeating: 0x61, count: size))
                }
                continuation.finish()
            }
        }
    }

    /// A body whose buffers are all there at once: its reader never waits, however loaded the machine.
    struct ImmediateBody: AsyncSequence, Sendable {
        let chunks: Int, size: Int
        struct AsyncIterator: AsyncIteratorProtocol {
            var remaining: Int
            let size: Int
            mutating func next() async -> ByteBuffer? {
                guard remaining > 0 else { return nil }
                remaining -= 1
                return ByteBuffer(repeating: 0x61, count: size)
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: chunks, size: size) }
    }

    static let guardOneSecond = UploadRateGuard(minimumBytesPerSecond: 1000, window: .seconds(1))

    @Test func aTrickledBodyIsCutOff() async throws {
        // 10 bytes every 100 ms: 100 bytes per second, a tenth of the minimum.
        let error = await #expect(throws: DistributionErrorResponse.self) {
            try await Self.guardOneSecond.run(body: Self.body(chunks: 100, size: 10, pause: .milliseconds(100))) { body in
                var total = 0
                for try await buffer in body { total += buffer.readableBytes }
                return total
            }
        }
        #expect(error?.status == .requestTimeout)
        #expect(error?.headers[.connection] == "close")
    }

    @Test func timeTheServerSpendsElsewhereDoesNotCount() async throws {
        // The server takes 2.5 s before it reads and 0.5 s after each buffer (a slow store); the client's bytes are
        // waiting for it all along (all there at once: a producer task could be starved on a loaded machine, and
        // that wait would count as the client's). Nothing here is the client's slowness.
        let total = try await Self.guardOneSecond.run(body: ImmediateBody(chunks: 5, size: 2000)) { body in
            try await Task.sleep(for: .milliseconds(2500))
            var total = 0
            for try await buffer in body {
                total += buffer.readableBytes
                try await Task.sleep(for: .milliseconds(500))
            }
            return total
        }
        #expect(total == 10_000)
    }

    @Test func aFastBodyPassesAndZeroTurnsTheGuardOff() async throws {
        // All there at once: a producer task, even one that never sleeps, can be starved for seconds by other tests
        // on a two-core machine, and its reader's wait would count as the client's.
        let fast = try await Self.guardOneSecond.run(body: ImmediateBody(chunks: 20, size: 5000)) { body in
            var total = 0
            for try await buffer in body { total += buffer.readableBytes }
            return total
        }
        #expect(fast == 100_000)
        let off = UploadRateGuard(minimumBytesPerSecond: 0, window: .seconds(1))
        let slow = try await off.run(body: Self.body(chunks: 3, size: 1, pause: .milliseconds(700))) { body in
            var total = 0
            for try await buffer in body { total += buffer.readableBytes }
            return total
        }
        #expect(slow == 3)
    }
}
