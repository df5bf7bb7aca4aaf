import Testing

@testable import Proxy

@Suite struct RequestIDGeneratorTests {
    @Test func idsAreUniqueAndReadable() {
        let generator = RequestIDGenerator()
        let ids = (0..<300).map { _ in generator.next() }
        #expect(Set(ids).count == 300)
        let first = ids[0]
        #expect(first.hasPrefix("olla-") && first.hasSuffix("-0"))
        #expect(first.count == "olla-".count + 8 + 2)
        #expect(ids[255].hasSuffix("-ff"))
        #expect(ids[256].hasSuffix("-100"))
        #expect(ids.allSatisfy { $0.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } })
    }
}
