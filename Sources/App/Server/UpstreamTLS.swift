import Logging
import NIOSSL

/// The TLS client configuration for `https://` hosts, shared by the data path and the probes: the system's
/// trust roots, or the certificates of `SSL_CERT_FILE` when it is set (the variable OpenSSL and Go programs
/// such as Olla read), for hosts behind a TLS proxy with a private certificate authority.
enum UpstreamTLS {
    /// A problem with `SSL_CERT_FILE`, found at start-up rather than at the first https request.
    struct TrustRootsError: Error, CustomStringConvertible {
        let description: String
    }

    /// The configuration, and the data path's context made from it.
    /// - Returns: a nil context when the system has no trust roots and `SSL_CERT_FILE` is not set: olla still
    ///   serves http hosts, and an https host fails to connect with the reason.
    /// - Throws: ``TrustRootsError`` when `SSL_CERT_FILE` is set and cannot be used.
    static func make(environment: [String: String], logger: Logger) throws -> (TLSConfiguration, NIOSSLContext?) {
        let configuration = try self.configuration(environment: environment)
        do {
            return (configuration, try NIOSSLContext(configuration: configuration))
        } catch {
            if let path = environment["SSL_CERT_FILE"], !path.isEmpty {
                throw TrustRootsError(description: "SSL_CERT_FILE \(path) cannot be used: \(error)")
            }
            logger.warning("no TLS trust roots on this system; https hosts cannot be reached: \(error)")
            return (configuration, nil)
        }
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
