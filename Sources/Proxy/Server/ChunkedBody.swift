import NIOCore

/// The chunked framing of an answer's body (RFC 9112 section 7.1) as bytes, for answers without a length to an
/// HTTP/1.1 client: each part is one chunk, `<size in hex>\r\n<part>\r\n`, and `0\r\n<trailers>\r\n` ends it.
enum ChunkedBody {
    /// Parts up to this size are copied behind their size line and go out as one write; a larger part goes as
    /// is, between two small writes, rather than being copied.
    static let copyLimit = 16 * 1024

    /// Writes `part` as one chunk (not flushed). An empty part is not written: it would end the body.
    static func write(_ part: ByteBuffer, context: ChannelHandlerContext) {
        let size = part.readableBytes
        guard size > 0 else { return }
        var framed = context.channel.allocator.buffer(capacity: size <= copyLimit ? size + 12 : 12)
        framed.writeHexadecimal(size)
        framed.writeStaticString("\r\n")
        if size <= copyLimit {
            framed.writeImmutableBuffer(part)
            framed.writeStaticString("\r\n")
            context.write(NIOAny(framed), promise: nil)
        } else {
            context.write(NIOAny(framed), promise: nil)
            context.write(NIOAny(part), promise: nil)
            context.write(NIOAny(ByteBuffer(staticString: "\r\n")), promise: nil)
        }
    }

    /// The last chunk and the end of the body, with the trailer lines when there are any.
    static func end(trailers: HeaderBlock? = nil) -> ByteBuffer {
        guard let trailers else { return ByteBuffer(staticString: "0\r\n\r\n") }
        var end = HeaderBlock(capacity: 8 + trailers.bytes.readableBytes)
        end.addLine("0\r\n")
        end.add(trailers)
        return end.finish()
    }
}
