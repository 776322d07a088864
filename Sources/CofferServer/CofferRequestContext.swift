import Hummingbird
import NIOCore

/// The request context of every Coffer request: Hummingbird's basic one, plus the client's address
/// (registry firewalls need it).
struct CofferRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
