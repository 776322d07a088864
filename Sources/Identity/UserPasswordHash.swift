import Crypto
import _CryptoExtras
import Foundation
import NIOPosix
import Synchronization

/// A person's password as stored: scrypt of the password with a random salt, and the parameters it was made with
/// (so they can be raised later without breaking older hashes). People choose passwords with little entropy, so
/// unlike ``PasswordCredential`` (generated 256-bit secrets) each guess against a stolen store must cost real work.
public struct UserPasswordHash: Codable, Sendable, Equatable {
    public var algorithm: String
    /// log2 of scrypt's N, its block size r and parallelism p.
    public var costLog2: Int
    public var blockSize: Int
    public var parallelism: Int
    public var salt: String
    public var hash: String

    /// 2^16 × 8 × 128 bytes = 64 MiB and about 0.2 s per check on one core (release build).
    public static let defaultCostLog2 = 16
    /// One check or hash at a time, server-wide, on NIO's blocking-work pool (never on the async executor's few
    /// threads): a flood of sign-ins waits here instead of taking every core and 64 MiB each, and past 16 waiting
    /// the next is refused at once (``SignInBusy``).
    static let gate = CheckGate(limit: 1, maximumWaiting: 16)

    public static func create(password: String, costLog2: Int = defaultCostLog2) async throws -> UserPasswordHash {
        let salt = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
        let derived = try await gate.run { try derive(password, salt: salt, costLog2: costLog2, blockSize: 8, parallelism: 1) }
        return UserPasswordHash(algorithm: "scrypt", costLog2: costLog2, blockSize: 8, parallelism: 1,
                                salt: salt.base64EncodedString(), hash: derived.base64EncodedString())
    }

    /// Whether `password` is the one this hash was made from. Parameters outside what ``create`` makes (a tampered
    /// store) never match rather than cost unbounded memory. Throws ``SignInBusy`` when too many checks wait.
    public func matches(_ password: String) async throws -> Bool {
        guard algorithm == "scrypt", (10...20).contains(costLog2), (1...16).contains(blockSize), (1...4).contains(parallelism),
              let salt = Data(base64Encoded: salt), let expected = Data(base64Encoded: hash) else { return false }
        let (costLog2, blockSize, parallelism) = (costLog2, blockSize, parallelism)
        let derived: Data
        do {
            derived = try await Self.gate.run { try Self.derive(password, salt: salt, costLog2: costLog2, blockSize: blockSize, parallelism: parallelism) }
        } catch let busy as SignInBusy {
            throw busy
        } catch {
            return false
        }
        return derived.count == expected.count && zip(derived, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// A hash of a password nobody has, checked when the user named does not exist: a sign-in takes as long for an
    /// unknown name as for a wrong password, so names cannot be probed by timing.
    public static let decoy = UserPasswordHash(algorithm: "scrypt", costLog2: defaultCostLog2, blockSize: 8, parallelism: 1,
                                               salt: Data(repeating: 7, count: 16).base64EncodedString(),
                                               hash: Data(repeating: 0, count: 32).base64EncodedString())

    private static func derive(_ password: String, salt: Data, costLog2: Int, blockSize: Int, parallelism: Int) throws -> Data {
        let key = try KDF.Scrypt.deriveKey(from: Array(password.utf8), salt: salt, outputByteCount: 32, rounds: 1 << costLog2,
                                           blockSize: blockSize, parallelism: parallelism,
                                           maxMemory: 129 * blockSize * (1 << costLog2) * parallelism + (1 << 20))
        return key.withUnsafeBytes { Data($0) }
    }
}

/// Too many sign-ins are being checked at once: the caller should answer "busy, retry" rather than wait.
public struct SignInBusy: Error, Sendable {}

private enum GateEntry { case admitted, queued, refused }

/// At most `limit` costly checks at once, run on NIO's thread pool; up to `maximumWaiting` more wait their turn (in
/// order), and any beyond are refused.
final class CheckGate: Sendable {
    private struct State {
        var running = 0
        /// Resumed with false (admitted) when a slot frees.
        var waiting: [CheckedContinuation<Bool, Never>] = []
    }
    private let state = Mutex(State())
    private let limit: Int
    private let maximumWaiting: Int

    init(limit: Int, maximumWaiting: Int) {
        self.limit = limit
        self.maximumWaiting = maximumWaiting
    }

    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let refused = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let entry: GateEntry = state.withLock { state in
                if state.running < limit {
                    state.running += 1
                    return .admitted
                }
                guard state.waiting.count < maximumWaiting else { return .refused }
                state.waiting.append(continuation)
                return .queued
            }
            switch entry {
            case .admitted: continuation.resume(returning: false)
            case .refused: continuation.resume(returning: true)
            case .queued: break
            }
        }
        if refused { throw SignInBusy() }
        defer {
            // The slot passes to the next in line, or frees.
            let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                if state.waiting.isEmpty {
                    state.running -= 1
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.resume(returning: false)
        }
        return try await NIOThreadPool.singleton.runIfActive(work)
    }
}
