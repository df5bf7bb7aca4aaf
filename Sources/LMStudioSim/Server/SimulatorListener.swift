import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Binds and closes the simulated host's listening sockets, one change at a time: start, the
/// `refuseConnections` fault switched on (listener and every connection closed) or off (the same port
/// bound again), stop.
actor SimulatorListener {
    private enum Phase {
        case idle
        case running
        case stopped
    }

    private let settings: SimulatorSettings
    private let state: SimulatorState
    private let group: any EventLoopGroup
    private var phase = Phase.idle
    private var mainChannel: (any Channel)?
    private var controlChannel: (any Channel)?
    /// The https listener's context, made once at start.
    private var tlsContext: NIOSSLContext?

    init(settings: SimulatorSettings, state: SimulatorState, group: any EventLoopGroup) {
        self.settings = settings
        self.state = state
        self.group = group
    }

    /// Binds the listener (unless connections are refused from the start) and the control listener.
    func start() async throws {
        switch phase {
        case .running: return
        case .stopped: throw SimulatorError.stopped
        case .idle: break
        }
        state.port = settings.requestedPort
        if let tls = settings.tls, tlsContext == nil {
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificateChainPath).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem))
            )
            tlsContext = try NIOSSLContext(configuration: configuration)
        }
        state.setAcceptsConnections(true)
        do {
            if !state.faults.refuseConnections {
                let channel = try await bind(port: settings.requestedPort, controlOnly: false)
                mainChannel = channel
                state.port = channel.localAddress?.port ?? settings.requestedPort
            } else if settings.requestedPort == 0 {
                // Refusing from the start still needs a port for later: take one and give it back.
                let channel = try await bind(port: 0, controlOnly: false)
                state.port = channel.localAddress?.port ?? 0
                try await channel.close()
            }
            if let port = settings.requestedControlPort {
                let channel = try await bind(port: port, controlOnly: true)
                controlChannel = channel
                state.controlPort = channel.localAddress?.port
            }
        } catch {
            state.setAcceptsConnections(false)
            try? await mainChannel?.close()
            mainChannel = nil
            throw error
        }
        phase = .running
    }

    /// Makes the listener match the `refuseConnections` fault.
    func reconcile() async throws {
        guard phase == .running else { return }
        if state.faults.refuseConnections {
            if let channel = mainChannel {
                mainChannel = nil
                try? await channel.close()
            }
            await closeAllConnections()
        } else if mainChannel == nil {
            mainChannel = try await bind(port: state.port, controlOnly: false)
        }
    }

    /// Closes the listeners and every connection; later calls do nothing.
    func stop() async {
        guard phase != .stopped else { return }
        phase = .stopped
        state.setAcceptsConnections(false)
        for channel in [mainChannel, controlChannel].compactMap({ $0 }) {
            try? await channel.close()
        }
        mainChannel = nil
        controlChannel = nil
        await closeAllConnections()
    }

    private func closeAllConnections() async {
        for channel in state.takeAllConnections() {
            try? await channel.close()
        }
    }

    private func bind(port: Int, controlOnly: Bool) async throws -> any Channel {
        let settings = self.settings
        let state = self.state
        let tls = controlOnly ? nil : tlsContext
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            // Binding the same port again after `refuseConnections` must not wait for TIME_WAIT.
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    var connectionID: Int?
                    if !controlOnly {
                        guard let id = state.registerConnection(channel) else {
                            channel.close(promise: nil)
                            return
                        }
                        connectionID = id
                    }
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    // The handlers write only well-formed headers, so outbound validation is skipped.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withErrorHandling: true,
                        withOutboundHeaderValidation: false
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        SimulatorHTTPHandler(
                            settings: settings,
                            state: state,
                            listener: self,
                            connectionID: connectionID
                        )
                    )
                }
            }
            .bind(host: settings.host, port: port)
            .get()
    }
}

/// Errors of the simulator's lifecycle.
public enum SimulatorError: Error, Equatable {
    /// The simulator was stopped; it cannot be started again.
    case stopped
}
