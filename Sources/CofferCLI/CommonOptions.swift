import ArgumentParser
import CLIOutput
import Foundation
import JMESPath

/// Options every client command takes, as `az` has them.
struct CommonOptions: ParsableArguments {
    @Option(help: "JMESPath query applied to the result.") var query: String?
    @Option(name: [.customShort("o"), .long], help: "Output format: json, jsonc, tsv, table, yaml, none.") var output: String = "json"
    @Option(help: "Subscription id (default: the server's).") var subscription: String?
    @Option(help: "Data directory of the server whose operator credentials and CA to use (default: the `coffer login` profile, else ./.coffer).")
    var dataDir: String?
    @Flag(help: "Say how long the command took.") var verbose = false
    @Flag(help: "Log every HTTP call (method, address, status, time; never tokens) to standard error.") var debug = false

    /// Renders a result to standard output.
    func print(_ value: JSONValue) throws {
        guard let format = OutputFormat(rawValue: output) else {
            throw ValidationError("--output must be one of json, jsonc, tsv, table, yaml, none")
        }
        let text: String
        do {
            text = try format.render(AzureOutputShape.withResourceGroups(value), query: query)
        } catch {
            throw CLIError("invalid --query: \(error.message)")
        }
        if !text.isEmpty { Swift.print(text) }
    }

    /// Credentials given outright win (`coffer login` checking them before it keeps them); then a data directory
    /// named on the command line or in `COFFER_DATA_DIR`; then the `coffer login` profile;
    /// then the operator of `./.coffer`.
    func client(credentials explicitCredentials: ClientCredentials? = nil) throws -> CofferClient {
        let credentials: ClientCredentials
        if let explicitCredentials {
            credentials = explicitCredentials
        } else if let directory = dataDir ?? ProcessInfo.processInfo.environment["COFFER_DATA_DIR"] {
            credentials = try .operatorCredentials(dataDirectory: directory)
        } else if let profile = try ClientCredentials.profile() {
            credentials = profile
        } else {
            credentials = try .operatorCredentials(dataDirectory: ".coffer")
        }
        return try CofferClient(credentials: credentials, subscription: subscription, debug: debug)
    }
}

/// A failure reported the way `az` reports one: `ERROR: …` on standard error, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension JSONValue {
    static func from(_ pairs: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(pairs)) }
}
