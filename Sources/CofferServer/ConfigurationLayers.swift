import Foundation
import JMESPath
import Yams

/// The settings in effect and where each came from: defaults < configuration file < environment < flags, all read
/// through ``ServerConfiguration/settings``.
public struct ResolvedConfiguration: Sendable {
    public var configuration: ServerConfiguration
    /// The source of each setting that is not at its default, by key.
    let sources: [String: String]

    /// Reads the layers. `file` is JSON, or YAML when it ends in `.yaml` or `.yml`; `environment` holds the
    /// process's variables (only the table's are read); `arguments` are `coffer serve`'s setting flags.
    public static func resolve(file: String?, environment: [String: String], arguments: [String]) throws -> ResolvedConfiguration {
        var configuration = ServerConfiguration()
        var sources: [String: SettingSource] = [:]
        let settings = ServerConfiguration.settings
        if let file {
            for (written, value) in try Self.fileEntries(file) {
                guard let setting = settings.first(where: { $0.key == written || $0.legacyKey == written }) else {
                    let known = settings.flatMap { [$0.key] + ($0.legacyKey.map { [$0] } ?? []) }
                    let near = known.min { editDistance($0, written) < editDistance($1, written) }.map { " (did you mean \"\($0)\"?)" } ?? ""
                    throw ServerStartError("the configuration file \(file) (--config) has an unknown setting \"\(written.prefix(60))\"\(near); "
                                           + "coffer serve --help lists the settings")
                }
                let source = SettingSource.file(file, key: written)
                do {
                    try setting.apply(.json(value), from: source, to: &configuration)
                } catch let error as ServerStartError {
                    throw ServerStartError("the configuration file \(file) (--config): \(error.description)")
                }
                sources[setting.key] = source
            }
        }
        for setting in settings {
            guard let text = environment[setting.environment], !text.isEmpty else { continue }
            try setting.apply(.text(text), from: .environment(setting.environment), to: &configuration)
            sources[setting.key] = .environment(setting.environment)
        }
        for (setting, flag, value) in try Self.flagEntries(arguments, settings) {
            if case .strings(let path) = setting.kind, sources[setting.key] != .flag(flag) { configuration[keyPath: path] = [] }
            try setting.apply(value, from: .flag(flag), to: &configuration)
            sources[setting.key] = .flag(flag)
        }
        configuration.graphHost = configuration.graphHost.lowercased()  // compared with the request's lowercased host
        try configuration.validate()
        return ResolvedConfiguration(configuration: configuration, sources: sources.mapValues(\.description))
    }

    /// The file's settings as (key as written, value): nested objects are sections (`{"listen": {"port": 1}}` is
    /// `listen.port`); a dotted key is read the same way.
    private static func fileEntries(_ file: String) throws -> [(String, JSONValue)] {
        let source = "the configuration file \(file) (--config)"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ServerStartError("cannot read \(source): check that it exists and that this user may read it")
        }
        let text = String(decoding: data, as: UTF8.self)
        let document: JSONValue
        if file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            do {
                document = try Yams.load(yaml: text).map { try Self.jsonValue(fromYAML: $0, depth: 0) } ?? .object(JSONObject())
            } catch let error as ServerStartError {
                throw ServerStartError("\(source): \(error.description)")
            } catch {
                throw ServerStartError("\(source) is not valid YAML: \(String(describing: error).prefix(200))")
            }
        } else {
            do {
                document = try JSONText.parse(text)
            } catch {
                throw ServerStartError("\(source) is not valid JSON: \(error)")
            }
        }
        guard case .object(let object) = document else { throw ServerStartError("\(source) must hold an object of settings") }
        var entries: [(String, JSONValue)] = []
        func walk(_ object: JSONObject, _ prefix: String, depth: Int) throws {
            guard depth < 4 else { throw ServerStartError("\(source) nests sections too deeply at \"\(prefix.prefix(60))\"") }
            for key in object.keys {
                let path = prefix.isEmpty ? key : prefix + "." + key
                if case .object(let section) = object[key]! {
                    try walk(section, path, depth: depth + 1)
                } else if case .null = object[key]! {
                    continue  // null, or a YAML section left empty: the default stays
                } else {
                    entries.append((path, object[key]!))
                }
            }
        }
        try walk(object, "", depth: 0)
        return entries
    }

    /// YAML's values as JSON's (numbers, strings, booleans, lists, maps with string keys).
    private static func jsonValue(fromYAML value: Any, depth: Int) throws -> JSONValue {
        guard depth < 16 else { throw ServerStartError("nested too deeply") }
        switch value {
        case let value as Bool: return .bool(value)
        case let value as Int: return .number(Double(value))
        case let value as Double: return .number(value)
        case let value as String: return .string(value)
        case let value as [Any]: return .array(try value.map { try jsonValue(fromYAML: $0, depth: depth + 1) })
        case let value as [AnyHashable: Any]:
            let pairs = try value.map { key, item in
                guard let key = key.base as? String else { throw ServerStartError("has a key that is not a string: \(String(describing: key).prefix(40))") }
                return (key, try jsonValue(fromYAML: item, depth: depth + 1))
            }
            return .object(JSONObject(pairs.sorted { $0.0 < $1.0 }))
        case is NSNull: return .null
        default: throw ServerStartError("holds a value that is not a number, string, boolean, list or section")
        }
    }

    /// `--flag value`, `--flag=value`, and a bare `--flag` for an on/off setting.
    private static func flagEntries(_ arguments: [String], _ settings: [Setting]) throws -> [(Setting, String, RawSetting)] {
        var entries: [(Setting, String, RawSetting)] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else {
                throw ServerStartError("unexpected argument \(argument.prefix(60)): settings are given as --flag value (coffer serve --help)")
            }
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            let flag = parts[0]
            guard let setting = settings.first(where: { $0.flag == flag }) else {
                let flags = settings.compactMap(\.flag) + ["--config", "--print-config"]
                let near = flags.min { editDistance($0, flag) < editDistance($1, flag) }.map { " (did you mean \($0)?)" } ?? ""
                throw ServerStartError("unknown option \(flag.prefix(60))\(near); coffer serve --help lists the options")
            }
            if parts.count == 2 {
                entries.append((setting, flag, .text(parts[1])))
            } else if case .bool = setting.kind {
                entries.append((setting, flag, .text("true")))
            } else {
                guard index < arguments.count, !arguments[index].hasPrefix("--") else {
                    throw ServerStartError("\(flag) needs a value (\(flag)=value for one that starts with --)")
                }
                entries.append((setting, flag, .text(arguments[index])))
                index += 1
            }
        }
        return entries
    }

    /// Every setting, its effective value and where it came from; passwords in URLs are redacted.
    public func report() -> String {
        let settings = ServerConfiguration.settings
        let width = settings.map(\.key.count).max() ?? 0
        return settings.map { setting in
            let value = setting.display(configuration) ?? "(none)"
            let padded = setting.key.padding(toLength: width, withPad: " ", startingAt: 0)
            return "\(padded)  \(value)  [\(sources[setting.key] ?? "default")]"
        }.joined(separator: "\n")
    }

    /// Levenshtein distance, for "did you mean" (setting names are short).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased().prefix(64)), b = Array(b.lowercased().prefix(64))
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() { current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))) }
            previous = current
        }
        return previous[b.count]
    }
}

extension ServerConfiguration {
    /// `coffer serve --help`'s list of settings: flag (or file key), help, and environment variable.
    public static var settingsHelp: String {
        var lines = ["SETTINGS (defaults < --config file < environment < flags; --print-config shows the result):"]
        for setting in settings {
            let value: String = switch setting.kind {
            case .bool: ""
            case .strings: " <value>..."
            default: " <value>"
            }
            lines.append("  " + (setting.flag.map { $0 + value } ?? "(no flag: the file or the environment)"))
            lines.append("        \(setting.help)")
            lines.append("        file: \(setting.key)   environment: \(setting.environment)")
        }
        return lines.joined(separator: "\n")
    }
}
