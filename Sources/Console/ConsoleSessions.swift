import CofferStorage
import Crypto
import Foundation
import Identity
import Synchronization

/// Signed-in browsers. The cookie holds a random 256-bit id; the store holds only its hash (a copied database
/// signs nobody in), the user's object id, the form token (CSRF) and the expiry. No access token is kept: the console
/// mints a short one for each request it makes for the user. Sessions live in the document store, so every node of
/// a cluster knows them.
final class ConsoleSessions: Sendable {
    let store: any DocumentStore

    init(store: any DocumentStore) {
        self.store = store
    }
    /// Eight hours from sign-in, whatever the activity: a working day.
    static let lifetime: Int64 = 8 * 3600
    /// Sessions one user may hold at once; a new sign-in beyond ends the oldest.
    static let perUser = 20
    /// When this node last swept ended sessions (at most once a minute: a sweep reads them all).
    private let lastSweep = Mutex<Int64>(0)
    static let type = "coffer/consolesessions"

    struct Session: Codable, Sendable {
        let userObjectID: String
        /// Every form carries it; a post without it is refused (another site cannot read it, so cannot forge a post).
        let formToken: String
        let expires: Int64
    }

    /// A new session for the user: the cookie value, and the session.
    func create(userObjectID: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> (String, Session) {
        let sweep = lastSweep.withLock { last in
            guard now - last >= 60 else { return false }
            last = now
            return true
        }
        if sweep {
            for document in try await store.documents(type: Self.type, name: nil) {
                if let old = try? JSONDecoder().decode(Session.self, from: Data(document.body.utf8)), old.expires < now {
                    _ = try await store.deleteDocument(id: document.id)
                }
            }
        }
        // The user's own sessions are found by name (indexed): past the limit the oldest end.
        let own = try await store.documents(type: Self.type, name: userObjectID.lowercased()).compactMap { document in
            (try? JSONDecoder().decode(Session.self, from: Data(document.body.utf8))).map { (document.id, $0.expires) }
        }.sorted { $0.1 < $1.1 }
        for (id, _) in own.prefix(max(0, own.count - Self.perUser + 1)) { _ = try await store.deleteDocument(id: id) }
        let cookie = Self.randomToken()
        let session = Session(userObjectID: userObjectID, formToken: Self.randomToken(), expires: now + Self.lifetime)
        try await store.insertDocument(StoredDocument(id: Self.documentID(cookie), type: Self.type, name: userObjectID.lowercased(),
                                                      body: String(decoding: try JSONEncoder().encode(session), as: UTF8.self)))
        return (cookie, session)
    }

    func session(cookie: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> Session? {
        guard cookie.utf8.count == 43, let document = try await store.document(id: Self.documentID(cookie)),
              let session = try? JSONDecoder().decode(Session.self, from: Data(document.body.utf8)), session.expires >= now else { return nil }
        return session
    }

    func end(cookie: String) async throws {
        guard cookie.utf8.count == 43 else { return }
        _ = try await store.deleteDocument(id: Self.documentID(cookie))
    }

    static func documentID(_ cookie: String) -> String {
        "/consolesessions/" + SHA256.hash(data: Array(cookie.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomToken() -> String {
        Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
    }

    /// Whether two tokens are equal, in time independent of where they differ.
    static func sameToken(_ lhs: String, _ rhs: String) -> Bool {
        let lhs = Array(lhs.utf8), rhs = Array(rhs.utf8)
        return lhs.count == rhs.count && zip(lhs, rhs).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
