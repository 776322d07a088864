import ArgumentParser
import Foundation
import JMESPath

/// Runs a client command: reports failures as `az` does (`ERROR: …` on standard error, exit status 1).
func runClient(_ options: CommonOptions, credentials: ClientCredentials? = nil, _ body: (CofferClient) async throws -> JSONValue?) async throws {
    let started = ContinuousClock.now
    defer {
        if options.verbose {
            let elapsed = (ContinuousClock.now - started).components
            let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
            FileHandle.standardError.write(Data("INFO: Command ran in \(String(format: "%.3f", seconds)) seconds\n".utf8))
        }
    }
    do {
        let client = try options.client(credentials: credentials)
        if let result = try await body(client) { try options.print(result) }
    } catch let error as CLIError {
        FileHandle.standardError.write(Data("ERROR: \(error.description)\n".utf8))
        throw ExitCode(1)
    } catch let exit as ExitCode {
        throw exit
    } catch {
        // Anything else (a file the system refused, say) is one line too, never a Foundation error dump.
        let system = error as NSError
        let message = [NSCocoaErrorDomain, NSPOSIXErrorDomain].contains(system.domain) ? system.localizedDescription : String(describing: error)
        FileHandle.standardError.write(Data("ERROR: \(message)\n".utf8))
        throw ExitCode(1)
    }
}

extension CofferClient {
    func groupPath(_ group: String) -> String { "/subscriptions/\(subscriptionID)/resourceGroups/\(group)" }

    /// The resource group's location (the default location of resources created in it).
    func location(ofGroup group: String) async throws -> String {
        let resource = try await arm(.GET, groupPath(group), apiVersion: "2021-04-01")
        guard case .string(let location) = resource["location"] else { throw CLIError("resource group \(group) has no location") }
        return location
    }

    /// The id of the vault named `name`, wherever it is in the subscription.
    func vaultID(_ name: String, group: String?) async throws -> String {
        if let group { return "\(groupPath(group))/providers/Microsoft.KeyVault/vaults/\(name)" }
        let list = try await arm(.GET, "/subscriptions/\(subscriptionID)/providers/Microsoft.KeyVault/vaults", apiVersion: "2023-07-01")
        guard case .array(let vaults) = list["value"],
              let vault = vaults.first(where: { if case .string(let vaultName) = $0["name"] { vaultName.lowercased() == name.lowercased() } else { false } }),
              case .string(let id) = vault["id"] else {
            throw CLIError("(ResourceNotFound) The vault '\(name)' was not found in subscription \(subscriptionID).")
        }
        return id
    }
}
