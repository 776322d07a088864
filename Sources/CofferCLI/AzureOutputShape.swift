import JMESPath

/// What az prints for a resource. az prints the SDK's model, not the wire JSON: for registries, identities and the
/// other resources whose models flatten `properties` (the spec's `x-ms-client-flatten`), the properties stand at
/// the top level; and every resource with a resource-group id gains `resourceGroup`. So `--query loginServer`
/// works the same with `coffer` as with `az`.
enum AzureOutputShape {
    /// The resource with its `properties` lifted to the top level (a property never replaces a top-level field).
    static func flattened(_ resource: JSONValue) -> JSONValue {
        guard case .object(let object) = resource else { return resource }
        var result = JSONObject()
        for key in object.keys where key != "properties" { result[key] = object[key] }
        if case .object(let properties)? = object["properties"] {
            for key in properties.keys where result[key] == nil { result[key] = properties[key] }
        }
        return withResourceGroup(.object(result))
    }

    /// Each resource of a list, flattened.
    static func flattenedList(_ list: JSONValue) -> JSONValue {
        guard case .array(let items) = list else { return list }
        return .array(items.map(flattened))
    }

    /// The resource with `resourceGroup` named from its id, as az adds it.
    static func withResourceGroup(_ resource: JSONValue) -> JSONValue {
        guard case .object(var object) = resource, object["resourceGroup"] == nil, case .string(let id)? = object["id"] else { return resource }
        let parts = id.split(separator: "/")
        guard let index = parts.firstIndex(where: { $0.lowercased() == "resourcegroups" }), index + 1 < parts.count else { return resource }
        object["resourceGroup"] = .string(String(parts[index + 1]))
        return .object(object)
    }
}
