import NIOCore
import Testing

@testable import Proxy

/// ``ResponseParser`` against generated answers: valid ones read the same whatever the reads they come in, and
/// mutated ones never trap, hang or hand on an inconsistent answer. Every case is a pure function of its seed.
@Suite struct ResponseParserFuzzTests {
    static let runSeed: UInt64 = 0x0E5B_0F5E_2000_0001

    /// Valid connections (one to three answers each), each fed whole, in random reads and, for some, byte by byte:
    /// every feeding must read what was generated, and the chunks handed on framed must be exactly the whole ones.
    @Test(.timeLimit(.minutes(1)))
    func generatedAnswersReadTheSameInAnyReads() async {
        let failures = await onOwnThread {
            var failures: [String] = []
            for index in 0..<1200 {
                let seed = SplitMix64.caseSeed(run: Self.runSeed, index: index)
                var random = SplitMix64(seed: seed)
                let exchange = GeneratedExchange(random: &random)
                var feedings: [[Int]] = [[]]
                for _ in 0..<3 { feedings.append(Self.randomCuts(count: exchange.bytes.count, random: &random)) }
                if index % 8 == 0 { feedings.append(Array(1..<exchange.bytes.count)) }
                for cuts in feedings {
                    if let problem = Self.check(exchange, cuts: cuts) {
                        failures.append("seed \(seed), cuts \(cuts.prefix(40)): \(problem)")
                    }
                }
            }
            return failures
        }
        #expect(failures.isEmpty, "\(failures.count) failures, first: \(failures.prefix(3))")
    }

    /// Valid connections with random edits, in random reads: the parser ends either in a ``ResponseParser/Failure``
    /// (and stays failed) or in a consistent reading, within a bounded number of events.
    @Test(.timeLimit(.minutes(1)))
    func mutatedAnswersFailOrReadConsistently() async {
        let (failures, failed) = await onOwnThread {
            var failures: [String] = []
            var failed = 0
            let cases = 3000
            for index in 0..<cases {
                let seed = SplitMix64.caseSeed(run: ~Self.runSeed, index: index)
                var random = SplitMix64(seed: seed)
                let exchange = GeneratedExchange(random: &random)
                var bytes = exchange.bytes
                HTTPMutator.mutate(&bytes, random: &random)
                let cuts =
                    random.chance(10)
                    ? Array(1..<max(1, bytes.count)) : Self.randomCuts(count: bytes.count, random: &random)
                var feeder = Feeder(toHEAD: exchange.answers.map(\.toHEAD))
                feeder.feed(bytes, cuts: cuts)
                if let error = feeder.failure {
                    failed += 1
                    if !(error is ResponseParser.Failure) { feeder.problems.append("threw \(error)") }
                    var nothing = ByteBuffer()
                    if (try? feeder.parser.next(&nothing)) != nil || feeder.parser.isIdle {
                        feeder.problems.append("not failed after a failure")
                    }
                } else {
                    feeder.close()
                }
                if !feeder.problems.isEmpty {
                    failures.append("seed \(seed), bytes \(Self.quoted(bytes)): \(feeder.problems)")
                }
            }
            return (failures, failed)
        }
        #expect(failures.isEmpty, "\(failures.count) failures, first: \(failures.prefix(3))")
        // Both outcomes must be common, or the mutations test little.
        #expect(failed > 600 && failed < 2700, "\(failed) of 3000 mutated cases failed")
    }

    /// Checks one feeding of a valid exchange; a description of what went wrong, or nil.
    static func check(_ exchange: GeneratedExchange, cuts: [Int]) -> String? {
        var feeder = Feeder(toHEAD: exchange.answers.map(\.toHEAD))
        feeder.feed(exchange.bytes, cuts: cuts)
        if let failure = feeder.failure { return "threw \(failure)" }
        if !feeder.problems.isEmpty { return "\(feeder.problems)" }
        let endsWithClose = exchange.answers.last!.endsWithClose
        guard feeder.parser.endsWithClose == endsWithClose else { return "endsWithClose is not \(endsWithClose)" }
        let ends = feeder.answers.filter(\.ended).count
        guard ends == exchange.answers.count - (endsWithClose ? 1 : 0) else { return "\(ends) ends before the close" }
        feeder.close()
        guard feeder.parser.isIdle else { return "not idle after the close" }
        let expected = exchange.answers.map { $0.expectedReading(in: exchange.bytes, cuts: cuts) }
        guard feeder.answers == expected else {
            let wrong =
                feeder.answers.indices.first { $0 < expected.count && feeder.answers[$0] != expected[$0] }
                ?? min(feeder.answers.count, expected.count)
            let read = wrong < feeder.answers.count ? "\(feeder.answers[wrong])" : "nothing"
            let wanted = wrong < expected.count ? "\(expected[wrong])" : "nothing"
            return "answer \(wrong) read as \(read), generated as \(wanted)"
        }
        return nil
    }

    /// One to eight random cut positions, sorted, inside `0..<count`.
    static func randomCuts(count: Int, random: inout SplitMix64) -> [Int] {
        guard count > 1 else { return [] }
        return Set((0..<random.inRange(1...8)).map { _ in random.inRange(1...(count - 1)) }).sorted()
    }

    static func quoted(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(600), as: UTF8.self).debugDescription
    }
}

/// What the parser read of one answer, in a form tests compare.
struct ReadAnswer: Equatable {
    struct Field: Equatable, CustomStringConvertible {
        var name: [UInt8]
        var value: [UInt8]
        var description: String { String(decoding: name + Array(": ".utf8) + value, as: UTF8.self) }
    }

    var status = 0
    var isHTTP11 = false
    var fields: [Field] = []
    var framing = ResponseParser.Framing.none
    var keepAlive = false
    var isEventStream = false
    var hasLength = false
    var body: [UInt8] = []
    /// The chunks handed on with their framing, as bytes.
    var framed: [[UInt8]] = []
    var ended = false
}

/// Feeds bytes to a parser in reads as ``UpstreamHandler`` does (unparsed bytes held for the next read), expecting
/// the next answer as soon as one ends, and checks each event as it comes.
struct Feeder {
    var parser = ResponseParser()
    /// Whether each request, in order, is a `HEAD`.
    let toHEAD: [Bool]
    var answers: [ReadAnswer] = []
    var failure: (any Error)?
    var problems: [String] = []
    private var events = 0

    init(toHEAD: [Bool]) {
        self.toHEAD = toHEAD
        parser.expectResponse(toHEAD: toHEAD[0])
    }

    /// Feeds `bytes` cut at `cuts`, stopping at the first failure.
    mutating func feed(_ bytes: [UInt8], cuts: [Int]) {
        // A head or a body part takes at least a byte, and an end follows one of them: more events is a loop.
        let maximumEvents = 2 * bytes.count + 16
        var unparsed: ByteBuffer?
        var start = 0
        for end in cuts + [bytes.count] {
            var read = ByteBuffer(bytes: bytes[start..<end])
            start = end
            if var held = unparsed {
                unparsed = nil
                held.writeBuffer(&read)
                read = held
            }
            do {
                while let event = try parser.next(&read) {
                    take(event)
                    events += 1
                    guard events <= maximumEvents else {
                        problems.append("more than \(maximumEvents) events: a loop")
                        return
                    }
                }
            } catch {
                failure = error
                return
            }
            if read.readableBytes > 0 { unparsed = read }
        }
    }

    /// The host closes the connection.
    mutating func close() {
        if let event = parser.closed() { take(event) }
    }

    private mutating func take(_ event: ResponseParser.Event) {
        switch event {
        case .head(let head):
            if let last = answers.last, !last.ended { problems.append("a head inside an answer") }
            var answer = ReadAnswer()
            answer.status = Int(head.status.code)
            answer.isHTTP11 = head.version == .http1_1
            answer.framing = head.framing
            answer.keepAlive = head.keepAlive
            answer.isEventStream = head.isEventStream
            answer.hasLength = head.hasLength
            head.forEachField { name, value in answer.fields.append(.init(name: Array(name), value: Array(value))) }
            answers.append(answer)
        case .body(let part, let framed):
            guard var answer = answers.last, !answer.ended else {
                problems.append("a body part outside an answer")
                return
            }
            let bytes = Array(part.readableBytesView)
            if bytes.isEmpty { problems.append("an empty body part") }
            answer.body += bytes
            if case .length(let length) = answer.framing, answer.body.count > length {
                problems.append("more body than its length")
            }
            if answer.framing == .none { problems.append("a body part for a bodiless answer") }
            if let framed {
                let raw = Array(framed.readableBytesView)
                if answer.framing != .chunked { problems.append("a framed part outside chunks") }
                if !Self.isChunk(raw, of: bytes) { problems.append("framed \(raw) is not the chunk of \(bytes)") }
                answer.framed.append(raw)
            }
            answers[answers.count - 1] = answer
        case .end:
            guard var answer = answers.last, !answer.ended else {
                problems.append("an end outside an answer")
                return
            }
            answer.ended = true
            if case .length(let length) = answer.framing, answer.body.count != length {
                problems.append("an end after \(answer.body.count) bytes of \(length)")
            }
            answers[answers.count - 1] = answer
            if answers.count < toHEAD.count { parser.expectResponse(toHEAD: toHEAD[answers.count]) }
        }
    }

    /// Whether `raw` is a plain chunk (hex size, CRLF, data, CRLF) whose data is `data`.
    static func isChunk(_ raw: [UInt8], of data: [UInt8]) -> Bool {
        guard let lineEnd = raw.firstIndex(of: UInt8(ascii: "\r")), lineEnd > 0 else { return false }
        guard let size = Int(String(decoding: raw[..<lineEnd], as: UTF8.self), radix: 16) else { return false }
        return size == data.count && raw == Array(raw[..<lineEnd]) + Array("\r\n".utf8) + data + Array("\r\n".utf8)
    }
}

/// A random valid connection: one to three answers back to back, the last one possibly ending with the close.
struct GeneratedExchange {
    var bytes: [UInt8] = []
    var answers: [GeneratedAnswer] = []

    init(random: inout SplitMix64) {
        let count = random.chance(30) ? random.inRange(2...3) : 1
        for index in 0..<count {
            var generator = AnswerGenerator(base: bytes.count)
            let answer = generator.answer(mayEndWithClose: index == count - 1, random: &random)
            bytes += generator.bytes
            answers.append(answer)
        }
    }
}

/// One generated answer and what the parser must read from it.
struct GeneratedAnswer {
    var toHEAD = false
    var endsWithClose = false
    /// The reading, all but its framed chunks, which depend on the reads.
    var reading = ReadAnswer()
    /// The chunks with a plain size line: where each starts, where its size line's LF is, and where it ends, in the
    /// exchange's bytes.
    var plainChunks: [(start: Int, lineFeed: Int, end: Int)] = []

    /// The reading when the exchange's bytes are cut at `cuts`: a plain chunk goes on framed when it ends in the read
    /// that completes its size line.
    func expectedReading(in bytes: [UInt8], cuts: [Int]) -> ReadAnswer {
        func readIndex(_ position: Int) -> Int { cuts.count { $0 <= position } }
        var reading = reading
        reading.ended = true
        reading.framed = plainChunks.filter { readIndex($0.lineFeed) == readIndex($0.end - 1) }.map {
            Array(bytes[$0.start..<$0.end])
        }
        return reading
    }
}

/// Writes one valid answer (interim answers first, sometimes) from random choices.
struct AnswerGenerator {
    /// Where the answer starts in its exchange.
    let base: Int
    var bytes: [UInt8] = []

    init(base: Int) { self.base = base }

    static let tokenBytes = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~".utf8)
    /// Field-vchar and obs-text: what a value may start and end with.
    static let visibleBytes = (UInt8(0x21)...0x7E).map { $0 } + [0x80, 0xA0, 0xC3, 0xE9, 0xFF]
    static let whitespace: [[UInt8]] = [[], [], [0x20], [0x09], [0x20, 0x20], [0x20, 0x09]]
    /// `Connection` values: whether each says `close` and `keep-alive`.
    static let connectionValues: [(value: String, close: Bool, keepAlive: Bool)] = [
        ("close", true, false), ("Close", true, false), ("keep-alive", false, true), ("Keep-Alive", false, true),
        ("x-a, close", true, false), ("keep-alive, x-b", false, true), ("Upgrade", false, false),
        ("close,keep-alive", true, true), ("x-a ,\tKEEP-ALIVE , ", false, true),
    ]

    private enum Framing { case length, chunked, untilClose }
    private enum FieldKind { case framing, connection, contentType, random }

    mutating func answer(mayEndWithClose: Bool, random: inout SplitMix64) -> GeneratedAnswer {
        for _ in 0..<(random.chance(15) ? random.inRange(1...2) : 0) {
            statusLine(code: random.pick([100, 102, 103]), isHTTP11: random.chance(80), random: &random)
            for _ in 0..<random.inRange(0...2) { _ = field(name: randomName(&random), random: &random) }
            bytes += Array("\r\n".utf8)
        }
        var answer = GeneratedAnswer()
        answer.toHEAD = random.chance(10)
        let isHTTP11 = random.chance(80)
        let status = random.pick([200, 201, 204, 304, 404, 500])
        statusLine(code: status, isHTTP11: isHTTP11, random: &random)
        answer.reading.status = status
        answer.reading.isHTTP11 = isHTTP11
        let bodiless = answer.toHEAD || status == 204 || status == 304
        var framing: Framing = random.chance(50) ? .length : .chunked
        if mayEndWithClose && random.chance(20) { framing = .untilClose }
        let body = (0..<(random.chance(10) ? 0 : random.inRange(1...(random.chance(10) ? 3000 : 120)))).map { _ in
            UInt8(random.below(256))
        }

        // The fields, the framing one and some others among random ones, in random order.
        var kinds = Array(repeating: FieldKind.random, count: random.inRange(0...5))
        if framing != .untilClose { kinds.append(.framing) }
        if random.chance(30) { kinds.append(.connection) }
        if random.chance(20) { kinds.append(.contentType) }
        for index in kinds.indices.reversed() { kinds.swapAt(index, random.below(index + 1)) }
        var close = false
        var keepAliveToken = false
        for kind in kinds {
            switch kind {
            case .framing where framing == .length:
                answer.reading.fields.append(
                    field(name: randomCase("content-length", &random), value: Array(String(body.count).utf8), &random)
                )
                answer.reading.hasLength = true
            case .framing:
                answer.reading.fields.append(
                    field(
                        name: randomCase("transfer-encoding", &random),
                        value: randomCase("chunked", &random),
                        &random
                    )
                )
            case .connection:
                let connection = random.pick(Self.connectionValues)
                close = close || connection.close
                keepAliveToken = keepAliveToken || connection.keepAlive
                // Written as is: its own spaces are part of the test.
                bytes += Array("Connection: \(connection.value)\r\n".utf8)
                var value = Array(connection.value.utf8)[...]
                while let first = value.first, first == 0x20 || first == 0x09 { value.removeFirst() }
                while let last = value.last, last == 0x20 || last == 0x09 { value.removeLast() }
                answer.reading.fields.append(.init(name: Array("Connection".utf8), value: Array(value)))
            case .contentType:
                let isEventStream = random.chance(60)
                let value =
                    isEventStream
                    ? random.pick(["text/event-stream", "text/event-stream; charset=utf-8"]) : "application/json"
                answer.reading.fields.append(
                    field(name: randomCase("content-type", &random), value: randomCase(value, &random), &random)
                )
                answer.reading.isEventStream = isEventStream
            case .random:
                answer.reading.fields.append(field(name: randomName(&random), random: &random))
            }
        }
        bytes += Array("\r\n".utf8)

        answer.endsWithClose = !bodiless && framing == .untilClose
        answer.reading.keepAlive =
            answer.endsWithClose ? false : isHTTP11 ? !close : keepAliveToken && !close
        if bodiless {
            answer.reading.framing = .none
            return answer
        }
        answer.reading.body = body
        switch framing {
        case .length:
            answer.reading.framing = .length(body.count)
            bytes += body
        case .untilClose:
            answer.reading.framing = .untilClose
            bytes += body
        case .chunked:
            answer.reading.framing = .chunked
            var rest = body[...]
            while !rest.isEmpty {
                let size = min(rest.count, random.inRange(1...(random.chance(20) ? 400 : 40)))
                let start = base + bytes.count
                bytes += chunkSize(size, &random)
                let plain = !random.chance(20)
                if !plain { bytes += chunkExtensions(&random) }
                bytes += Array("\r\n".utf8)
                let lineFeed = base + bytes.count - 1
                bytes += rest.prefix(size)
                rest = rest.dropFirst(size)
                bytes += Array("\r\n".utf8)
                if plain { answer.plainChunks.append((start, lineFeed, base + bytes.count)) }
            }
            bytes += Array(String(repeating: "0", count: random.inRange(1...3)).utf8)
            if random.chance(20) { bytes += chunkExtensions(&random) }
            bytes += Array("\r\n".utf8)
            for _ in 0..<(random.chance(25) ? random.inRange(1...2) : 0) {
                _ = field(name: randomName(&random), random: &random)
            }
            bytes += Array("\r\n".utf8)
        }
        return answer
    }

    private mutating func statusLine(code: Int, isHTTP11: Bool, random: inout SplitMix64) {
        bytes += Array("HTTP/1.\(isHTTP11 ? 1 : 0) \(code)".utf8)
        if !random.chance(15) {
            bytes.append(0x20)
            let reason = ["OK", "", "Some Reason", "Not Found", "  spaced\tout  "]
            bytes += random.chance(80) ? Array(random.pick(reason).utf8) : randomValue(&random)
        }
        bytes += Array("\r\n".utf8)
    }

    /// Writes `name: value` with random whitespace around the value; the field as the parser must read it.
    private mutating func field(name: [UInt8], value: [UInt8], _ random: inout SplitMix64) -> ReadAnswer.Field {
        bytes += name + [UInt8(ascii: ":")] + random.pick(Self.whitespace) + value + random.pick(Self.whitespace)
        bytes += Array("\r\n".utf8)
        return .init(name: name, value: value)
    }

    private mutating func field(name: [UInt8], random: inout SplitMix64) -> ReadAnswer.Field {
        field(name: name, value: randomValue(&random), &random)
    }

    /// A value without whitespace at its ends; it may be empty and may hold spaces, tabs and obs-text.
    private func randomValue(_ random: inout SplitMix64) -> [UInt8] {
        let count = random.inRange(0...30)
        return (0..<count).map { index in
            if index > 0 && index < count - 1 && random.chance(15) { return random.pick([0x20, 0x09]) }
            return random.pick(Self.visibleBytes)
        }
    }

    private func randomName(_ random: inout SplitMix64) -> [UInt8] {
        Array("X-".utf8) + (0..<random.inRange(1...12)).map { _ in random.pick(Self.tokenBytes) }
    }

    private func randomCase(_ text: String, _ random: inout SplitMix64) -> [UInt8] {
        text.utf8.map { byte in
            byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") && random.chance(30) ? byte - 0x20 : byte
        }
    }

    private func chunkSize(_ size: Int, _ random: inout SplitMix64) -> [UInt8] {
        let hex = String(size, radix: 16, uppercase: random.chance(50))
        return Array((String(repeating: "0", count: random.chance(10) ? random.inRange(1...3) : 0) + hex).utf8)
    }

    /// `;name`, `;name=token` or `;name="quoted"`, one to three of them.
    private func chunkExtensions(_ random: inout SplitMix64) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<random.inRange(1...3) {
            bytes.append(UInt8(ascii: ";"))
            bytes += (0..<random.inRange(1...8)).map { _ in random.pick(Self.tokenBytes) }
            switch random.below(3) {
            case 0:
                break
            case 1:
                bytes.append(UInt8(ascii: "="))
                bytes += (0..<random.inRange(1...8)).map { _ in random.pick(Self.tokenBytes) }
            default:
                bytes += Array("=\"".utf8)
                for _ in 0..<random.inRange(0...10) {
                    let byte = random.pick(Self.visibleBytes + [0x20, 0x09])
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                    bytes.append(byte)
                }
                bytes.append(UInt8(ascii: "\""))
            }
        }
        return bytes
    }
}

/// Random edits of a valid connection aimed at the parser's decisions: line ends, colons, lengths and chunk sizes,
/// besides plain bit flips, insertions, deletions and cuts.
enum HTTPMutator {
    static let bytesOfInterest: [UInt8] = Array("\r\n\0 \t:;=\"0F-,".utf8) + [0x7F, 0xFF]
    static let snippets = [
        "\r\n", "\r\n\r\n", "Content-Length: 5\r\n", "Content-Length: 0\r\n", "Transfer-Encoding: chunked\r\n",
        "Connection: close\r\n", "FFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFFF", "7fffffffffffffff", "0\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 101 Switching\r\n\r\n", "HTTP/1.1 200 OK\r\n",
        " :", "X-A: a\r\n folded\r\n", "1 \r\n", ";a=\"\\", "99999999999999999999",
    ].map { Array($0.utf8) }

    static let hugeSizes = [
        "FFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFFF", "7FFFFFFFFFFFFFFF", "10000000000000000", "0000000000000001",
        "fffffffffffffffffffffffff",
    ].map { Array($0.utf8) }

    /// Applies one to three edits.
    static func mutate(_ bytes: inout [UInt8], random: inout SplitMix64) {
        for _ in 0..<random.inRange(1...3) { mutateOnce(&bytes, random: &random) }
    }

    private static func mutateOnce(_ bytes: inout [UInt8], random: inout SplitMix64) {
        guard !bytes.isEmpty else {
            bytes += random.pick(snippets)
            return
        }
        let position = random.below(bytes.count + 1)
        let index = min(position, bytes.count - 1)
        // Line starts and colons are where the parser decides most.
        let lineStarts = bytes.indices.filter { $0 > 0 && bytes[$0 - 1] == UInt8(ascii: "\n") }
        switch random.below(11) {
        case 0:
            bytes[index] ^= 1 << UInt8(random.below(8))
        case 1:
            bytes[index] = random.pick(bytesOfInterest)
        case 2:
            bytes.insert(random.pick(bytesOfInterest), at: position)
        case 3:
            bytes.removeSubrange(index..<min(bytes.count, index + random.inRange(1...6)))
        case 4:
            bytes.removeSubrange(position...)
        case 5:
            let start = random.below(bytes.count)
            bytes.insert(contentsOf: bytes[start..<min(bytes.count, start + random.inRange(1...40))], at: position)
        case 6:
            let at = random.chance(70) && !lineStarts.isEmpty ? random.pick(lineStarts) : position
            bytes.insert(contentsOf: random.pick(snippets), at: at)
        case 7:
            // A space before a colon.
            let colons = bytes.indices.filter { bytes[$0] == UInt8(ascii: ":") }
            if !colons.isEmpty { bytes.insert(0x20, at: random.pick(colons)) }
        case 8:
            // A line end broken into a bare CR or LF.
            let ends = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\r") }
            if !ends.isEmpty {
                let end = random.pick(ends)
                bytes.remove(at: random.chance(50) ? end : min(end + 1, bytes.count - 1))
            }
        case 9:
            // A chunk size (or any line starting with hex digits) made huge, or long with leading zeros.
            let sizeLines = lineStarts.filter { ASCII.hexValue(bytes[$0]) != nil }
            guard !sizeLines.isEmpty else { return }
            let start = random.pick(sizeLines)
            var end = start
            while end < bytes.count, ASCII.hexValue(bytes[end]) != nil { end += 1 }
            bytes.replaceSubrange(start..<end, with: random.pick(hugeSizes))
        default:
            // A line repeated (a second Content-Length, Transfer-Encoding or chunk).
            guard lineStarts.count >= 2 else { return }
            let line = random.below(lineStarts.count - 1)
            let copy = bytes[lineStarts[line]..<lineStarts[line + 1]]
            bytes.insert(contentsOf: copy, at: lineStarts[line + 1])
        }
    }
}
