import AzureErrors
import CofferStorage
import Foundation
import JMESPath
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// ACR's registry firewall, from the registry resources: `publicNetworkAccess: Disabled` refuses every client
/// (Coffer has no private endpoints), `networkRuleSet.defaultAction: Deny` refuses clients outside its `ipRules`
/// (addresses or CIDR ranges). Rules are cached for a few seconds per registry, since every data call asks;
/// a change through this resource manager takes effect at once.
public final class RegistryNetworkRules: Sendable {
    package struct Rules: Sendable {
        package let publicAccessDisabled: Bool
        package let denyByDefault: Bool
        package let allowed: [AddressRange]
    }

    private let documents: any DocumentStore
    private let cache = Mutex<[String: (rules: Rules?, expires: ContinuousClock.Instant)]>([:])
    private let lifetime: Duration

    package init(documents: any DocumentStore, lifetime: Duration = .seconds(5)) {
        self.documents = documents
        self.lifetime = lifetime
    }

    public func refusal(registry: String, address: String?) async throws -> String? {
        let now = ContinuousClock.now
        let rules: Rules?
        if let cached = cache.withLock({ $0[registry] }), cached.expires > now {
            rules = cached.rules
        } else {
            // A registry made without the resource manager (the default one) has no rules; a read failure throws.
            let document = try await documents.documents(type: Registries.type, name: registry).first.map { try RegistryResource.stored($0.body) }
            rules = document.flatMap { try? Self.rules(of: $0) }
            cache.withLock { $0[registry] = (rules, now + lifetime) }
        }
        guard let rules else { return nil }
        if rules.publicAccessDisabled {
            return "public network access to registry \(registry) is disabled."
        }
        guard rules.denyByDefault else { return nil }
        if let address, let parsed = AddressRange.address(address), rules.allowed.contains(where: { $0.contains(parsed) }) { return nil }
        return "client with IP '\(address ?? "unknown")' is not allowed access to registry \(registry) by its network rules."
    }

    /// Forgets a registry's cached rules (after its resource changed here).
    package func invalidate(registry: String) {
        _ = cache.withLock { $0.removeValue(forKey: registry.lowercased()) }
    }

    /// Whether a registry resource asks for rules at all (deny by default, or any IP rule), valid or not.
    package static func declaresRules(_ registry: RegistryResource) -> Bool {
        let ruleSet = registry.properties.networkRuleSet
        return ruleSet?.defaultAction?.lowercased() == "deny" || ruleSet?.ipRules?.isEmpty == false
    }

    /// The rules in a registry resource; throws Azure's 400 for a malformed rule.
    package static func rules(of registry: RegistryResource) throws -> Rules {
        let ruleSet = registry.properties.networkRuleSet
        var allowed: [AddressRange] = []
        if let ipRules = ruleSet?.ipRules {
            for rule in ipRules {
                guard let value = rule.value, let range = AddressRange(value) else {
                    throw AzureErrorResponse(.badRequest, code: "InvalidIpRule",
                                             message: "Each ipRules entry needs a value that is an IP address or a CIDR range (e.g. 203.0.113.0/24).")
                }
                if let action = rule.action, action.lowercased() != "allow" {
                    throw AzureErrorResponse(.badRequest, code: "InvalidIpRule", message: "The only ipRules action is Allow.")
                }
                allowed.append(range)
            }
        }
        let denyByDefault = ruleSet?.defaultAction?.lowercased() == "deny"
        let disabled = registry.properties.publicNetworkAccess?.lowercased() == "disabled"
        return Rules(publicAccessDisabled: disabled, denyByDefault: denyByDefault, allowed: allowed)
    }
}

/// An IPv4 or IPv6 address range: an address, or a CIDR prefix.
package struct AddressRange: Sendable {
    package let network: [UInt8]
    package let prefixLength: Int

    package init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, let network = Self.address(first) else { return nil }
        let length = parts.count == 2 ? Int(parts[1]) : network.count * 8
        guard let length, (0...(network.count * 8)).contains(length) else { return nil }
        self.network = network
        self.prefixLength = length
    }

    package func contains(_ address: [UInt8]) -> Bool {
        guard address.count == network.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(address, network) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// The bytes of an IPv4 (4) or IPv6 (16) address; an IPv4-mapped IPv6 address reads as IPv4.
    package static func address(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes.suffix(4)) }
        return bytes
    }
}
