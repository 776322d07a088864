import JMESPath

/// What expressions can see of the deployment they are part of. The template engine supplies it;
/// tests supply fixed values.
public protocol TemplateContext: Sendable {
    func parameter(_ name: String) throws(TemplateError) -> JSONValue
    func variable(_ name: String) throws(TemplateError) -> JSONValue
    var resourceGroup: JSONValue { get }
    var subscription: JSONValue { get }
    var tenant: JSONValue { get }
    var deployment: JSONValue { get }
    var environment: JSONValue { get }
    /// The runtime state of a resource: its properties, or (`full`) the whole resource.
    func reference(_ resourceID: String, apiVersion: String?, full: Bool) throws(TemplateError) -> JSONValue
    /// `listKeys` and the other `list*` functions.
    func list(_ function: String, resourceID: String, apiVersion: String) throws(TemplateError) -> JSONValue
}
