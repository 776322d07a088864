import CoreMetrics
import Foundation
import Synchronization

/// The standard `process_*` metrics (what Prometheus' own clients export), read from `/proc/self` when scraped.
final class ProcessMetrics: Sendable {
    private let cpuSeconds = FloatingPointCounter(label: "process_cpu_seconds_total")
    private let residentMemory = Gauge(label: "process_resident_memory_bytes")
    private let virtualMemory = Gauge(label: "process_virtual_memory_bytes")
    private let openFileDescriptors = Gauge(label: "process_open_fds")
    private let maximumFileDescriptors = Gauge(label: "process_max_fds")
    private let startTime = Gauge(label: "process_start_time_seconds")
    private let threads = Gauge(label: "process_threads")
    /// CPU seconds counted so far: the counter only moves forward, by what was used since the last scrape.
    private let counted = Mutex<Double>(0)

    func update() {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let end = stat.lastIndex(of: ")"), ticks > 0 {
            // Fields after the command name (which may hold spaces), numbered as in proc(5) from the state, field 3.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
            if let user = field(14), let system = field(15) {
                let total = (user + system) / ticks
                let delta = counted.withLock { counted in
                    defer { counted = max(counted, total) }
                    return total - counted
                }
                if delta > 0 { cpuSeconds.increment(by: delta) }
            }
            if let count = field(20) { threads.record(count) }
            if let vsize = field(23) { virtualMemory.record(vsize) }
            if let rss = field(24) { residentMemory.record(rss * pageSize) }
            if let started = field(22), let boot = Self.bootTime() { startTime.record(boot + started / ticks) }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFileDescriptors.record(Double(entries.count))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maximumFileDescriptors.record(Double(limit.rlim_cur)) }
    }

    /// The system's boot time, seconds since 1970 (`btime` in `/proc/stat`).
    private static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return stat.split(separator: "\n").first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6).trimmingCharacters(in: .whitespaces)) }
    }
}
