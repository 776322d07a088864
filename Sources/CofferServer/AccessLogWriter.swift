import Foundation
import Synchronization

/// Writes access log lines to standard error in batches. One line per request through swift-log's stream handler
/// cost a fifth of the manifest reads a second (a formatted, sorted metadata dictionary, a timestamp and a write
/// per line); here a line is bytes appended to a buffer that a background task writes every 100 ms, in writes of
/// whole lines of at most 4 KiB (so that lines from other writers to the same pipe are never
/// cut into). The format is the stream handler's, so the log reads the same. A crash loses at most the last 100 ms
/// of lines; a graceful stop writes them all (``flush()``).
final class AccessLogWriter: Sendable {
    static let shared = AccessLogWriter()

    private let pending = Mutex<[UInt8]>([])
    private let second = Mutex<(time: Int, text: String)>((-1, ""))
    private let flushing = Mutex<Void>(())

    private init() {
        Task.detached(priority: .utility) { [self] in
            while true {
                try? await Task.sleep(for: .milliseconds(100))
                flush()
            }
        }
    }

    /// Appends one line: the time, the level and label, `fields`, and the message, as the stream handler writes them.
    /// Never writes itself (a slow standard error must not stall a request's thread): the background task does.
    func append(fields: [UInt8]) {
        let stamp = timestamp()
        pending.withLock { buffer in
            buffer.append(contentsOf: stamp.utf8)
            buffer.append(contentsOf: " info coffer.access: ".utf8)
            buffer.append(contentsOf: fields)
            buffer.append(contentsOf: " [CofferServer] request\n".utf8)
        }
    }

    /// Writes what is pending.
    func flush() {
        flushing.withLock { _ in
            let bytes = pending.withLock { buffer in
                defer { buffer.removeAll(keepingCapacity: true) }
                return buffer
            }
            var start = 0
            while start < bytes.count {
                // At most 4 KiB (a pipe's atomic write), ending at a line's end.
                var end = min(bytes.count, start + 4096)
                if end < bytes.count, let newline = bytes[start..<end].lastIndex(of: 0x0A) { end = newline + 1 }
                bytes[start..<end].withUnsafeBytes { chunk in
                    var offset = 0
                    while offset < chunk.count {
                        let written = write(STDERR_FILENO, chunk.baseAddress! + offset, chunk.count - offset)
                        if written < 0 && errno == EINTR { continue }
                        if written <= 0 { return }  // standard error is gone: nothing else to do with the lines
                        offset += written
                    }
                }
                start = end
            }
        }
    }

    /// The stream handler's timestamp (local time, `%Y-%m-%dT%H:%M:%S%z`), formatted once a second.
    private func timestamp() -> String {
        var now = time(nil)
        if let cached = second.withLock({ $0.time == now ? $0.text : nil }) { return cached }
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        second.withLock { $0 = (now, text) }
        return text
    }
}
