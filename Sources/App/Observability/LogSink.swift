import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where log lines go: a file descriptor (stdout), one `write(2)` per line, or, while olla serves,
/// gathered and written in batches (``OllaApplication`` flushes every 50 ms), so that a busy proxy does not
/// pay a system call for each request's log line.
final class LogSink: Sendable {
    static let standardOutput = LogSink(descriptor: STDOUT_FILENO)

    private struct State {
        var batching = false
        var pending: [UInt8] = []
    }

    private let descriptor: Int32
    private let state = NIOLockedValueBox(State())
    /// Pending bytes past which a write flushes at once rather than waiting for the timer.
    static let batchLimit = 64 * 1024

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Writes one line (which ends with a newline).
    func write(_ line: String) {
        var line = line
        let full: [UInt8]? = line.withUTF8 { bytes in
            state.withLockedValue { state in
                guard state.batching else { return Array(bytes) }
                state.pending.append(contentsOf: bytes)
                guard state.pending.count >= Self.batchLimit else { return nil }
                defer { state.pending.removeAll(keepingCapacity: true) }
                return state.pending
            }
        }
        if let full { writeOut(full) }
    }

    /// Collects lines from now on until ``stopBatching()``.
    func startBatching() {
        state.withLockedValue { $0.batching = true }
    }

    /// Writes what is pending and goes back to one write per line.
    func stopBatching() {
        let pending = state.withLockedValue { state -> [UInt8] in
            state.batching = false
            defer { state.pending = [] }
            return state.pending
        }
        writeOut(pending)
    }

    /// Writes what is pending.
    func flush() {
        let pending = state.withLockedValue { state -> [UInt8] in
            guard !state.pending.isEmpty else { return [] }
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
        writeOut(pending)
    }

    private func writeOut(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
