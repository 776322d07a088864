/// The names this server answers to as a registry token `service` — the audience its tokens must carry and the host
/// its challenges send clients to. They come from configuration: a request's `Host` only chooses among them, so a
/// client (or a proxy passing any Host through) cannot make the registry accept tokens for, or send credentials to,
/// a name the operator did not configure.
public struct RegistryServiceNames: Sendable {
    /// The base addresses (`localhost:8443`, `127.0.0.1:8443`, …); the first answers requests to any other host.
    let baseAuthorities: [String]
    /// `<registry>.<loginServerSuffix>:<port>` is a login server.
    let loginServerSuffix: String
    /// The ports login servers are reached on; the first is the one advertised.
    let ports: [Int]

    public init(baseAuthorities: [String], loginServerSuffix: String, ports: [Int]) {
        precondition(!baseAuthorities.isEmpty && !ports.isEmpty, "a registry needs at least one base address and port")
        self.baseAuthorities = baseAuthorities.map { $0.lowercased() }
        self.loginServerSuffix = loginServerSuffix.lowercased()
        self.ports = ports
    }

    /// The service a request addresses: its own authority when that is a configured name of the registry it reaches
    /// (a login server for `hostRegistry`, else a base address), otherwise the advertised one.
    public func service(requestAuthority: String?, hostRegistry: String?) -> String {
        let authority = requestAuthority?.lowercased()
        if let hostRegistry {
            let names = ports.map { "\(hostRegistry.lowercased()).\(loginServerSuffix):\($0)" }
            return names.first { $0 == authority } ?? names[0]
        }
        return baseAuthorities.first { $0 == authority } ?? baseAuthorities[0]
    }
}
