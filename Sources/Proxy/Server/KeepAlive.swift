/// Whether a client connection stays open after an answer: the one rule every answer of olla follows.
enum KeepAlive {
    /// - Parameters:
    ///   - requested: the request allows keep-alive (HTTP/1.1 without `Connection: close`, or HTTP/1.0 with
    ///     `Connection: keep-alive`).
    ///   - http11: the client speaks HTTP/1.1, so an answer without a length can be chunked.
    ///   - closing: the connection closes after this answer anyway (graceful drain, an unreadable pipelined
    ///     request).
    ///   - responseHasLength: the answer has a `Content-Length`; an HTTP/1.0 client learns where an answer
    ///     without one ends only from the close.
    static func allowed(requested: Bool, http11: Bool, closing: Bool, responseHasLength: Bool) -> Bool {
        requested && !closing && (http11 || responseHasLength)
    }
}
