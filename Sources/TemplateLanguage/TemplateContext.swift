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
    /// The current iteration of a copy loop (`copyIndex()`), or of the named one.
    func copyIndex(loop: String?) throws(TemplateError) -> Int
    /// A lambda's parameter (`lambdaVariables('x')`).
    func lambdaVariable(_ name: String) throws(TemplateError) -> JSONValue
    /// The runtime states of a copy loop's resources, in index order (`references('loop')`).
    func references(_ loop: String, full: Bool) throws(TemplateError) -> JSONValue
    /// Counts one function call against the evaluation's budget: a deployment's expressions may call functions at
    /// most ``TemplateWork/maximumCalls`` times in all (lambdas over large arrays inside copy loops add up).
    func spendCall() throws(TemplateError)
}

extension TemplateContext {
    public func copyIndex(loop: String?) throws(TemplateError) -> Int {
        throw TemplateError(loop.map { "copyIndex('\($0)') is used outside the copy loop '\($0)'" } ?? "copyIndex() can only be used inside a copy loop")
    }

    public func lambdaVariable(_ name: String) throws(TemplateError) -> JSONValue {
        throw TemplateError("lambdaVariables('\(name)') is used outside a lambda that declares '\(name)'")
    }

    public func references(_ loop: String, full: Bool) throws(TemplateError) -> JSONValue {
        throw TemplateError("references('\(loop)') needs a copy loop of that name whose resources are deployed")
    }

    /// Contexts without a budget (tests' fixed values) count nothing.
    public func spendCall() throws(TemplateError) {}
}

/// A context inside a copy loop iteration or a lambda: what the enclosing context sees, plus the loop indexes
/// and lambda variables in force here.
struct ScopedContext: TemplateContext {
    let base: any TemplateContext
    /// Copy indexes by lowercased loop name; "" is the innermost loop (plain `copyIndex()`).
    var copyIndexes: [String: Int] = [:]
    var lambdaVariables: [String: JSONValue] = [:]

    func parameter(_ name: String) throws(TemplateError) -> JSONValue { try base.parameter(name) }
    func variable(_ name: String) throws(TemplateError) -> JSONValue { try base.variable(name) }
    var resourceGroup: JSONValue { base.resourceGroup }
    var subscription: JSONValue { base.subscription }
    var tenant: JSONValue { base.tenant }
    var deployment: JSONValue { base.deployment }
    var environment: JSONValue { base.environment }
    func reference(_ resourceID: String, apiVersion: String?, full: Bool) throws(TemplateError) -> JSONValue {
        try base.reference(resourceID, apiVersion: apiVersion, full: full)
    }
    func list(_ function: String, resourceID: String, apiVersion: String) throws(TemplateError) -> JSONValue {
        try base.list(function, resourceID: resourceID, apiVersion: apiVersion)
    }

    func copyIndex(loop: String?) throws(TemplateError) -> Int {
        if let index = copyIndexes[loop?.lowercased() ?? ""] { return index }
        return try base.copyIndex(loop: loop)
    }

    func lambdaVariable(_ name: String) throws(TemplateError) -> JSONValue {
        if let value = lambdaVariables[name.lowercased()] { return value }
        return try base.lambdaVariable(name)
    }

    func references(_ loop: String, full: Bool) throws(TemplateError) -> JSONValue { try base.references(loop, full: full) }
    func spendCall() throws(TemplateError) { try base.spendCall() }

    /// `context` with one more copy-loop iteration in force.
    static func iteration(_ context: any TemplateContext, loop: String, index: Int) -> ScopedContext {
        var scoped = (context as? ScopedContext) ?? ScopedContext(base: context)
        scoped.copyIndexes[loop.lowercased()] = index
        scoped.copyIndexes[""] = index
        return scoped
    }
}
