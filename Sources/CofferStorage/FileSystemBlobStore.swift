#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// The default blob driver: objects as files under `root/objects`, staging under `root/staging`.
///
/// Blocking system calls run on NIO's thread pool, never on the concurrency pool. Publishing is
/// fsync(file) → rename → fsync(directory), so a crash leaves either the old state or the new one.
public struct FileSystemBlobStore: BlobStore {
    public let root: String
    private let threadPool: NIOThreadPool

    public init(root: String, threadPool: NIOThreadPool = .singleton) throws {
        self.root = root
        self.threadPool = threadPool
        try Self.makeDirectories(root + "/objects")
        try Self.makeDirectories(root + "/staging")
    }

    // MARK: staging

    public func createStaging(_ name: String) async throws {
        let path = try stagingPath(name)
        try await io {
            let fd = try Self.openFile(path, O_WRONLY | O_CREAT | O_TRUNC)
            close(fd)
        }
    }

    public func appendStaging(_ name: String, _ bytes: ByteBuffer) async throws {
        let path = try stagingPath(name)
        try await io {
            let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else {
                throw errno == ENOENT ? StorageError(.notFound, "staging object not found") : Self.ioError("open")
            }
            defer { close(fd) }
            try Self.writeAll(fd, bytes)
        }
    }

    public func replaceStaging(_ name: String, _ bytes: ByteBuffer) async throws {
        let path = try stagingPath(name)
        try await io {
            let temporary = path + ".replace"
            let fd = try Self.openFile(temporary, O_WRONLY | O_CREAT | O_TRUNC)
            do {
                try Self.writeAll(fd, bytes)
                guard fsync(fd) == 0 else { throw Self.ioError("fsync") }
                close(fd)
            } catch {
                close(fd)
                throw error
            }
            guard rename(temporary, path) == 0 else { throw Self.ioError("rename") }
        }
    }

    public func stagingSize(_ name: String) async throws -> Int64? {
        let path = try stagingPath(name)
        return try await io { try Self.fileSize(path) }
    }

    public func readStaging(_ name: String, offset: Int64, length: Int) async throws -> ByteBuffer {
        let path = try stagingPath(name)
        return try await io { try Self.read(path, offset: offset, length: length) }
    }

    public func commitStaging(_ name: String, as key: String) async throws {
        let source = try stagingPath(name)
        let destination = try objectPath(key)
        try await io {
            let fd = Glibc.open(source, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw errno == ENOENT ? StorageError(.notFound, "staging object not found") : Self.ioError("open")
            }
            let synced = fsync(fd) == 0
            close(fd)
            guard synced else { throw Self.ioError("fsync") }
            let directory = Self.parent(of: destination)
            try Self.makeDirectories(directory)
            guard rename(source, destination) == 0 else { throw Self.ioError("rename") }
            Self.syncDirectory(directory)
        }
    }

    public func deleteStaging(_ name: String) async throws {
        let path = try stagingPath(name)
        try await io {
            guard unlink(path) == 0 || errno == ENOENT else { throw Self.ioError("unlink") }
            _ = unlink(path + ".replace")
        }
    }

    public func listStaging() async throws -> [String] {
        let directory = root + "/staging"
        return try await io {
            try Self.entries(of: directory).filter { !$0.hasSuffix(".replace") }.sorted()
        }
    }

    // MARK: objects

    public func read(_ key: String, offset: Int64, length: Int) async throws -> ByteBuffer {
        let path = try objectPath(key)
        return try await io { try Self.read(path, offset: offset, length: length) }
    }

    public func size(_ key: String) async throws -> Int64? {
        let path = try objectPath(key)
        return try await io { try Self.fileSize(path) }
    }

    public func delete(_ key: String) async throws {
        let path = try objectPath(key)
        try await io {
            guard unlink(path) == 0 || errno == ENOENT else { throw Self.ioError("unlink") }
        }
    }

    public func list(prefix: String) async throws -> [String] {
        let base = root + "/objects"
        return try await io {
            var keys: [String] = []
            try Self.walk(base, relative: "", into: &keys)
            return keys.filter { $0.hasPrefix(prefix) }.sorted()
        }
    }

    // MARK: helpers

    private func stagingPath(_ name: String) throws -> String {
        try StorageKey.validate(name)
        guard !name.contains("/") else { throw StorageError(.invalidKey, "staging names are flat") }
        return root + "/staging/" + name
    }

    private func objectPath(_ key: String) throws -> String {
        try StorageKey.validate(key)
        return root + "/objects/" + key
    }

    private func io<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threadPool.runIfActive(body)
    }

    private static func ioError(_ operation: String) -> StorageError {
        StorageError(.ioFailure, "storage \(operation) failed: \(String(cString: strerror(errno)))")
    }

    private static func openFile(_ path: String, _ flags: Int32) throws -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ioError("open") }
        return fd
    }

    private static func writeAll(_ fd: Int32, _ bytes: ByteBuffer) throws {
        try bytes.withUnsafeReadableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw ioError("write")
                }
                offset += written
            }
        }
    }

    private static func read(_ path: String, offset: Int64, length: Int) throws -> ByteBuffer {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw errno == ENOENT ? StorageError(.notFound, "object not found") : ioError("open")
        }
        defer { close(fd) }
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        let total = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer in
            var filled = 0
            while filled < length {
                let count = pread(fd, pointer.baseAddress! + filled, length - filled, off_t(offset) + off_t(filled))
                if count < 0 {
                    if errno == EINTR { continue }
                    throw ioError("read")
                }
                if count == 0 { break }
                filled += count
            }
            return filled
        }
        _ = total
        return buffer
    }

    private static func fileSize(_ path: String) throws -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw ioError("stat")
        }
        return Int64(info.st_size)
    }

    static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST { throw ioError("mkdir") }
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    private static func syncDirectory(_ path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func entries(of directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw ioError("opendir")
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    private static func walk(_ directory: String, relative: String, into keys: inout [String]) throws {
        for name in try entries(of: directory) {
            let path = directory + "/" + name
            let key = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard stat(path, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                try walk(path, relative: key, into: &keys)
            } else {
                keys.append(key)
            }
        }
    }
}
