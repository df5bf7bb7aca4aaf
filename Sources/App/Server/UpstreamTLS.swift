import NIOSSL

/// The TLS client configuration for `https://` hosts, shared by the data path and the probes: the system's
/// trust roots, or the certificates of `SSL_CERT_FILE` when it is set (the variable OpenSSL and Go programs
/// such as Olla read), for hosts behind a TLS proxy with a private certificate authority.
enum UpstreamTLS {
    /// A problem with `SSL_CERT_FILE`, found at start-up rather than at the first https request.
    struct TrustRootsError: Error, CustomStringConvertible {
        let description: String
    }

    static func configuration(environment: [String: String]) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        guard let path = environment["SSL_CERT_FILE"], !path.isEmpty else { return configuration }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw TrustRootsError(description: "SSL_CERT_FILE \(path) cannot be read as PEM certificates: \(error)")
        }
        guard !certificates.isEmpty else {
            throw TrustRootsError(description: "SSL_CERT_FILE \(path) holds no PEM certificate")
        }
        configuration.trustRoots = .certificates(certificates)
        return configuration
    }
}
