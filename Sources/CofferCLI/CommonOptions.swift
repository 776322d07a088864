import ArgumentParser
import CLIOutput
import Foundation
import JMESPath

/// Options every client command takes, as `az` has them.
struct CommonOptions: ParsableArguments {
    @Option(help: "JMESPath query applied to the result.") var query: String?
    @Option(name: [.customShort("o"), .long], help: "Output format: json, jsonc, tsv, table, yaml, none.") var output: String = "json"
    @Option(help: "Subscription id (default: the server's).") var subscription: String?
    @Option(help: "Data directory of the server whose operator credentials and CA to use (default ./.coffer).") var dataDir: String?

    /// Renders a result to standard output.
    func print(_ value: JSONValue) throws {
        guard let format = OutputFormat(rawValue: output) else {
            throw ValidationError("--output must be one of json, jsonc, tsv, table, yaml, none")
        }
        let text: String
        do {
            text = try format.render(value, query: query)
        } catch {
            throw CLIError("invalid --query: \(error.message)")
        }
        if !text.isEmpty { Swift.print(text) }
    }

    func client() throws -> CofferClient {
        try CofferClient(dataDirectory: dataDir ?? ProcessInfo.processInfo.environment["COFFER_DATA_DIR"] ?? ".coffer", subscription: subscription)
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
