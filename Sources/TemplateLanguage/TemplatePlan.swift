import Synchronization
import JMESPath

/// A template checked and put in deployment order: parameters validated, resources named, their
/// dependencies (explicit `dependsOn` and implicit `reference()`/`list*()`) resolved, cycles refused.
/// Resource bodies stay unevaluated: they are evaluated one by one at deployment time, when the
/// resources they reference exist.
public struct TemplatePlan: Sendable {
    public struct Resource: Sendable {
        /// Position among the planned resources (each copy-loop instance has its own).
        public let index: Int
        public let type: String
        public let name: String
        public let apiVersion: String
        public let id: String
        /// Indexes of the resources this one waits for.
        public let dependsOn: [Int]
        /// The resource as written (evaluated at deployment time), without its `copy`.
        public let definition: JSONValue
        /// For an instance of a copy loop: the loop's name and this instance's index.
        public let copy: (loop: String, index: Int)?

        /// The context this resource's expressions evaluate in: `context`, plus its copy index if it has one.
        public func evaluationContext(_ context: any TemplateContext) -> any TemplateContext {
            guard let copy else { return context }
            return ScopedContext.iteration(context, loop: copy.loop, index: copy.index)
        }
    }

    /// Resources in an order where each comes after everything it depends on; skipped (`condition` false) ones left out.
    public let resources: [Resource]
    /// Parameter values after defaults and checks (secure values included: never echo them).
    public let parameters: JSONObject
    public let secureParameters: Set<String>
    /// Variable definitions (evaluated where used).
    public let variables: JSONObject
    public let outputs: JSONValue

    /// Resource types this engine can deploy, and the api-versions it accepts for them (nil: any).
    public static let knownTypes: Set<String> = [
        "microsoft.managedidentity/userassignedidentities", "microsoft.keyvault/vaults", "microsoft.keyvault/vaults/accesspolicies",
        "microsoft.containerregistry/registries", "microsoft.containerregistry/registries/replications",
        "microsoft.containerregistry/registries/scopemaps", "microsoft.containerregistry/registries/tokens",
        "microsoft.authorization/roleassignments", "microsoft.resources/deployments",
    ]

    /// Resources a template may define, copies included (Azure Resource Manager's limit): planning is quadratic in them.
    public static let maximumResources = 800

    /// - Parameters:
    ///   - template: the template document.
    ///   - parameterValues: `{"name": {"value": …}}`, as deployments receive them.
    ///   - scope: `resourceGroup()`, `subscription()` and the rest; its parameters and variables are ignored.
    public static func make(template: JSONValue, parameterValues: JSONValue, scope: TemplateScope) throws(TemplateError) -> TemplatePlan {
        guard case .object(let document) = template else { throw TemplateError("the template must be a JSON object") }
        let definitions: JSONObject
        if case .object(let object)? = document["parameters"] { definitions = object } else { definitions = JSONObject() }
        let (parameters, secure) = try resolveParameters(definitions, values: parameterValues, scope: scope)
        var variables = JSONObject()
        if case .object(let object)? = document["variables"] { variables = object }
        try PlanningContext.refuseCycles(among: variables)
        try refuseUndeclaredNames(in: document, parameters: definitions, variables: variables)
        let context = PlanningContext(scope: scope, parameters: parameters, variableDefinitions: variables)

        guard case .array(let definitionsList)? = document["resources"] ?? .array([]) else {
            throw TemplateError("the template's resources must be an array")
        }
        struct Planned {
            let index: Int, type: String, name: String, apiVersion: String, id: String, definition: JSONValue
            let copy: (loop: String, index: Int)?
            /// For serial copy loops: the instances of the previous batch, waited for.
            var previousBatch: [String] = []
        }
        var planned: [Planned] = []
        for (index, resource) in definitionsList.enumerated() {
            guard case .object(var body) = resource else { throw TemplateError("resources[\(index)] must be an object") }
            // A copy loop makes `count` instances, each seeing its own copyIndex().
            var instances: [(context: any TemplateContext, copy: (loop: String, index: Int)?)] = [(context, nil)]
            var batchSize = Int.max
            if let loop = body["copy"], loop != .null {
                guard case .string(let loopName) = try TemplateEvaluator.evaluate(loop["name"], context: context) else {
                    throw TemplateError("resources[\(index)]: a copy loop needs a name")
                }
                let count = try TemplateEvaluator.copyCount(loop["count"], context: context, loop: loopName)
                instances = (0..<count).map { (ScopedContext.iteration(context, loop: loopName, index: $0), (loopName, $0)) }
                if case .string(let mode) = loop["mode"], mode.lowercased() == "serial" {
                    batchSize = 1
                    if case .number(let size) = loop["batchSize"], size >= 1 { batchSize = TemplateNumbers.integer(min(size, 800)) ?? 1 }
                }
                body["copy"] = nil
            }
            let definition = JSONValue.object(body)
            var loopInstances: [String] = []
            for instance in instances {
                if definition["condition"] != .null, !(try TemplateEvaluator.evaluate(definition["condition"], context: instance.context)).isTruthy { continue }
                guard case .string(let type) = try TemplateEvaluator.evaluate(definition["type"], context: instance.context),
                      case .string(let name) = try TemplateEvaluator.evaluate(definition["name"], context: instance.context) else {
                    throw TemplateError("resources[\(index)] needs a type and a name")
                }
                guard case .string(let apiVersion) = try TemplateEvaluator.evaluate(definition["apiVersion"], context: instance.context),
                      apiVersion.count >= 10, apiVersion.prefix(4).allSatisfy(\.isNumber) else {
                    throw TemplateError("resources[\(index)] (\(type) '\(name)') needs an apiVersion such as 2019-12-01-preview")
                }
                guard knownTypes.contains(type.lowercased()) else {
                    throw TemplateError("resources[\(index)]: the resource type '\(type)' cannot be deployed by this resource manager")
                }
                let id = try resourceID(type: type, name: name, scope: scope)
                var entry = Planned(index: index, type: type, name: name, apiVersion: apiVersion, id: id, definition: definition, copy: instance.copy)
                // Batches count the instances planned, not the loop's positions: a condition may skip some.
                let ordinal = loopInstances.count
                if batchSize != Int.max, ordinal >= batchSize {
                    let batchStart = (ordinal / batchSize - 1) * batchSize
                    entry.previousBatch = Array(loopInstances[batchStart..<min(batchStart + batchSize, ordinal)])
                }
                loopInstances.append(id)
                planned.append(entry)
                guard planned.count <= Self.maximumResources else {
                    throw TemplateError("the template defines more than \(Self.maximumResources) resources, copies included (Azure Resource Manager's limit)")
                }
            }
        }
        if Set(planned.map { $0.id.lowercased() }).count != planned.count {
            let duplicate = Dictionary(grouping: planned, by: { $0.id.lowercased() }).first { $0.value.count > 1 }!.value[0]
            throw TemplateError("the resource '\(duplicate.type)/\(duplicate.name)' is defined more than once in the template")
        }

        // The planned resources a reference names: by id, name or type/name, or every instance of a copy loop. Indexed
        // once: a `dependsOn` may list many thousands of names, each looked up against every resource otherwise.
        var named: [String: [Int]] = [:]
        for (position, entry) in planned.enumerated() {
            var keys: Set<String> = [entry.id.lowercased(), entry.name.lowercased(), "\(entry.type)/\(entry.name)".lowercased()]
            if let loop = entry.copy?.loop { keys.insert(loop.lowercased()) }
            for key in keys { named[key, default: []].append(position) }
        }
        func find(_ reference: String) -> [Int] { named[reference.lowercased()] ?? [] }
        var edges: [[Int]] = Array(repeating: [], count: planned.count)
        var edgeSets: [Set<Int>] = Array(repeating: [], count: planned.count)
        for (position, entry) in planned.enumerated() {
            let entryContext: any TemplateContext = entry.copy.map { ScopedContext.iteration(context, loop: $0.loop, index: $0.index) } ?? context
            var targets: [JSONValue] = entry.previousBatch.map { .string($0) }
            if case .array(let depends) = try TemplateEvaluator.evaluate(entry.definition["dependsOn"] == .null ? .array([]) : entry.definition["dependsOn"], context: entryContext) {
                targets += depends
            }
            targets += TemplateEvaluator.referencedResources(in: entry.definition, context: entryContext)
            for target in targets {
                guard case .string(let text) = target else { continue }
                for other in find(text) where other != position && edgeSets[position].insert(other).inserted { edges[position].append(other) }
            }
        }
        // Kahn's algorithm, keeping template order among the ready ones: O(resources² + edges), resources ≤ 800.
        var waitingOn = edges.map(\.count)
        var dependents: [[Int]] = Array(repeating: [], count: planned.count)
        for (position, targets) in edges.enumerated() { for target in targets { dependents[target].append(position) } }
        var remaining = Array(planned.indices)
        var order: [Int] = []
        while !remaining.isEmpty {
            guard let slot = remaining.firstIndex(where: { waitingOn[$0] == 0 }) else {
                let names = remaining.prefix(20).map { planned[$0].name }.joined(separator: ", ")
                throw TemplateError("circular dependency detected among resources: \(names)")
            }
            let next = remaining.remove(at: slot)
            order.append(next)
            for dependent in dependents[next] { waitingOn[dependent] -= 1 }
        }
        let resources = order.map { position in
            let entry = planned[position]
            return Resource(index: position, type: entry.type, name: entry.name, apiVersion: entry.apiVersion, id: entry.id,
                            dependsOn: edges[position], definition: entry.definition, copy: entry.copy)
        }
        return TemplatePlan(resources: resources, parameters: parameters, secureParameters: secure, variables: variables,
                            outputs: document["outputs"] ?? .null)
    }

    /// An output's value: `value`, or for `copy: {count, input}` the array of `input` per `copyIndex()`.
    public static func evaluateOutput(_ definition: JSONValue, context: any TemplateContext) throws(TemplateError) -> JSONValue {
        guard case .object = definition["copy"] else { return try TemplateEvaluator.evaluate(definition["value"], context: context) }
        let count = try TemplateEvaluator.copyCount(definition["copy"]["count"], context: context, loop: "output")
        var values: [JSONValue] = []
        for index in 0..<count {
            values.append(try TemplateEvaluator.evaluate(definition["copy"]["input"], context: ScopedContext.iteration(context, loop: "", index: index)))
        }
        return .array(values)
    }

    /// The resource group scoped id of `type` named `name` (`vault/add` for `vaults/accessPolicies`).
    /// Refuses a template whose variables, resources or outputs name a parameter or variable it does not declare. A
    /// nested deployment's own template is left to its own validation: its names may be its own.
    static func refuseUndeclaredNames(in document: JSONObject, parameters: JSONObject, variables: JSONObject) throws(TemplateError) {
        var variableNames = Set(variables.keys.map { $0.lowercased() })
        if let copyKey = variables.keys.first(where: { $0.lowercased() == "copy" }), case .array(let loops)? = variables[copyKey] {
            for loop in loops { if case .string(let name) = loop["name"] { variableNames.insert(name.lowercased()) } }
        }
        let parameterNames = Set(parameters.keys.map { $0.lowercased() })
        var checked: [JSONValue] = [.object(variables), document["outputs"] ?? .null]
        if case .array(let resources)? = document["resources"] {
            for resource in resources {
                guard case .object(var body) = resource else { continue }
                if case .string(let type)? = body["type"], type.lowercased() == "microsoft.resources/deployments",
                   case .object(var properties)? = body["properties"] {
                    properties["template"] = nil
                    body["properties"] = .object(properties)
                }
                checked.append(.object(body))
            }
        }
        for value in checked {
            if let problem = TemplateEvaluator.undeclaredName(in: value, parameters: parameterNames, variables: variableNames) {
                throw TemplateError(problem)
            }
        }
    }

    static func resourceID(type: String, name: String, scope: TemplateScope) throws(TemplateError) -> String {
        let typeSegments = type.split(separator: "/").map(String.init)
        let names = name.split(separator: "/").map(String.init)
        guard typeSegments.count >= 2, names.count == typeSegments.count - 1 else {
            throw TemplateError("the resource name '\(name)' does not fit the type '\(type)' (it needs \(typeSegments.count - 1) segment(s))")
        }
        var id = "\(scope.resourceGroupID)/providers/\(typeSegments[0])"
        for (segment, part) in zip(typeSegments.dropFirst(), names) { id += "/\(segment)/\(part)" }
        return id
    }

    static func resolveParameters(_ definitions: JSONObject, values: JSONValue, scope: TemplateScope) throws(TemplateError) -> (JSONObject, Set<String>) {
        var provided = JSONObject()
        if case .object(let object) = values {
            for key in object.keys {
                guard definitions.keys.contains(where: { $0.lowercased() == key.lowercased() }) else {
                    throw TemplateError("the template parameter '\(key)' is not defined in the template")
                }
                let entry = object[key]!
                if case .object(let wrapper) = entry, let value = wrapper["value"] { provided[key.lowercased()] = value } else { provided[key.lowercased()] = entry }
            }
        }
        var result = JSONObject()
        var secure: Set<String> = []
        let defaultsContext = PlanningContext(scope: scope, parameters: JSONObject(), variableDefinitions: JSONObject())
        for name in definitions.keys {
            let definition = definitions[name]!
            guard case .string(let typeName) = definition["type"] else { throw TemplateError("the parameter '\(name)' has no type") }
            let type = typeName.lowercased()
            if type.hasPrefix("secure") { secure.insert(name) }
            var value: JSONValue
            if let given = provided[name.lowercased()] {
                value = given
            } else if definition["defaultValue"] != .null || {
                if case .object(let object) = definition { return object["defaultValue"] != nil }
                return false
            }() {
                value = try TemplateEvaluator.evaluate(definition["defaultValue"], context: defaultsContext.with(parameters: result))
            } else {
                throw TemplateError("the value for the template parameter '\(name)' is not provided")
            }
            value = try coerce(value, to: type, name: name)
            if case .array(let allowed) = definition["allowedValues"], !allowed.contains(where: { TemplateFunctions.equal($0, value) }) {
                throw TemplateError("the value of the parameter '\(name)' is not one of its allowed values")
            }
            if case .string(let text) = value {
                if case .number(let minimum) = definition["minLength"], Double(text.count) < minimum {
                    throw TemplateError("the parameter '\(name)' must be at least \(JSONText.format(number: minimum)) characters")
                }
                if case .number(let maximum) = definition["maxLength"], Double(text.count) > maximum {
                    throw TemplateError("the parameter '\(name)' must be at most \(JSONText.format(number: maximum)) characters")
                }
            }
            if case .number(let number) = value {
                if case .number(let minimum) = definition["minValue"], number < minimum { throw TemplateError("the parameter '\(name)' must be at least \(minimum)") }
                if case .number(let maximum) = definition["maxValue"], number > maximum { throw TemplateError("the parameter '\(name)' must be at most \(maximum)") }
            }
            result[name] = value
        }
        return (result, secure)
    }

    /// Parameter values from the command line arrive as strings; types make them what they say.
    static func coerce(_ value: JSONValue, to type: String, name: String) throws(TemplateError) -> JSONValue {
        switch (type, value) {
        case ("string", .string), ("securestring", .string), ("int", .number), ("bool", .bool), ("array", .array),
             ("object", .object), ("secureobject", .object):
            return value
        case ("int", .string(let text)):
            if let number = Int(text) { return .number(Double(number)) }
        case ("bool", .string(let text)) where ["true", "false"].contains(text.lowercased()):
            return .bool(text.lowercased() == "true")
        case ("array", .string(let text)), ("object", .string(let text)):
            if let parsed = try? JSONText.parse(text) { return try coerce(parsed, to: type, name: name) }
        default: break
        }
        throw TemplateError("the value of the parameter '\(name)' is not of its type \(type)")
    }
}

/// Where a deployment happens: the subscription, the resource group and the deployment itself.
public struct TemplateScope: Sendable {
    public var subscriptionID: String
    public var tenantID: String
    public var resourceGroupName: String
    public var resourceGroup: JSONValue
    public var deploymentName: String

    public init(subscriptionID: String, tenantID: String, resourceGroupName: String, resourceGroup: JSONValue, deploymentName: String) {
        self.subscriptionID = subscriptionID
        self.tenantID = tenantID
        self.resourceGroupName = resourceGroupName
        self.resourceGroup = resourceGroup
        self.deploymentName = deploymentName
    }

    public var resourceGroupID: String { "/subscriptions/\(subscriptionID)/resourceGroups/\(resourceGroupName)" }
}

/// The context expressions are evaluated in while planning and deploying; `reference()` reads `resources`.
public struct PlanningContext: TemplateContext {
    public let scope: TemplateScope
    let parameters: JSONObject
    let variableDefinitions: JSONObject
    /// Variables evaluated so far (successes only): a chain of variables that each use the one before twice would
    /// otherwise cost exponential work.
    private let evaluatedVariables = VariableCache()
    /// The function calls this deployment's expressions have made (shared by every copy of this context).
    private let work = TemplateWork()
    /// Variables whose value may change as the deployment goes on (they read `reference()` or `list*()`, directly or
    /// through other variables): never memoized.
    private let volatileVariables: Set<String>
    /// Runtime state of deployed resources by lowercased id (`reference()` reads these).
    public private(set) var deployedResources: [String: JSONValue] = [:]
    /// Ids of this template's deployed resources by lowercased name: `reference('name')` means the template's
    /// resource of that name, as in ARM.
    private var idsByName: [String: String] = [:]
    /// Ids of the deployed instances of each copy loop, by lowercased loop name and copy index.
    private var loopMembers: [String: [Int: String]] = [:]
    /// Results of `list*()` calls, fetched before the expressions that make them are evaluated.
    private var listResults: [String: JSONValue] = [:]

    public init(scope: TemplateScope, parameters: JSONObject, variableDefinitions: JSONObject) {
        self.scope = scope
        self.parameters = parameters
        self.variableDefinitions = variableDefinitions
        self.volatileVariables = Self.volatile(among: variableDefinitions)
    }

    private static func volatile(among definitions: JSONObject) -> Set<String> {
        var uses: [String: Set<String>] = [:]
        var volatile: Set<String> = []
        func note(_ name: String, _ definition: JSONValue) {
            uses[name] = TemplateEvaluator.variableNames(in: definition)
            if TemplateEvaluator.readsDeploymentState(definition) { volatile.insert(name) }
        }
        for key in definitions.keys {
            guard let definition = definitions[key] else { continue }
            if key.lowercased() == "copy", case .array(let loops) = definition {
                for loop in loops { if case .string(let name) = loop["name"] { note(name.lowercased(), loop) } }
            } else {
                note(key.lowercased(), definition)
            }
        }
        // Whatever uses a volatile variable is volatile too.
        var changed = true
        while changed {
            changed = false
            for (name, used) in uses where !volatile.contains(name) && !used.isDisjoint(with: volatile) {
                volatile.insert(name)
                changed = true
            }
        }
        return volatile
    }

    func with(parameters: JSONObject) -> PlanningContext {
        PlanningContext(scope: scope, parameters: parameters, variableDefinitions: variableDefinitions)
    }

    public func parameter(_ name: String) throws(TemplateError) -> JSONValue {
        guard let key = parameters.keys.first(where: { $0.lowercased() == name.lowercased() }) else {
            throw TemplateError("the template parameter '\(name)' is not found")
        }
        return parameters[key]!
    }

    /// The variables being evaluated on this thread, innermost last: a variable whose name is computed can still
    /// refer to itself, which the static check cannot see, and must end in an error rather than a stack overflow.
    @TaskLocal static var resolving: [String] = []
    static let maximumVariableDepth = 32

    /// Refuses variables that refer to each other by name (`variables('a')` in b and `variables('b')` in a), at
    /// validation, before anything is evaluated.
    static func refuseCycles(among definitions: JSONObject) throws(TemplateError) {
        var edges: [String: Set<String>] = [:]
        for key in definitions.keys {
            if key.lowercased() == "copy", case .array(let loops)? = definitions[key] {
                for loop in loops {
                    if case .string(let name) = loop["name"] { edges[name.lowercased()] = TemplateEvaluator.variableNames(in: loop) }
                }
            } else if let definition = definitions[key] {
                edges[key.lowercased()] = TemplateEvaluator.variableNames(in: definition)
            }
        }
        var finished: Set<String> = []
        var path: [String] = []
        func visit(_ name: String) throws(TemplateError) {
            if let start = path.firstIndex(of: name) {
                throw TemplateError("the variables \((path[start...] + [name]).joined(separator: " → ")) refer to each other")
            }
            guard !finished.contains(name), let next = edges[name] else { return }
            path.append(name)
            for target in next.sorted() { try visit(target) }
            path.removeLast()
            finished.insert(name)
        }
        for name in edges.keys.sorted() { try visit(name) }
    }

    public func variable(_ name: String) throws(TemplateError) -> JSONValue {
        let lower = name.lowercased()
        let resolving = Self.resolving
        guard !resolving.contains(lower) else {
            throw TemplateError("the variable '\(name)' refers to itself (\((resolving + [lower]).joined(separator: " → ")))")
        }
        guard resolving.count < Self.maximumVariableDepth else {
            throw TemplateError("variables refer to variables more than \(Self.maximumVariableDepth) deep")
        }
        let memoized = !volatileVariables.contains(lower)
        if memoized, let cached = evaluatedVariables.value(lower) { return cached }
        do {
            let value = try Self.$resolving.withValue(resolving + [lower]) { try resolveVariable(name) }
            if memoized { evaluatedVariables.store(value, for: lower) }
            return value
        } catch let error as TemplateError {
            throw error
        } catch {
            throw TemplateError("\(error)")
        }
    }

    private func resolveVariable(_ name: String) throws(TemplateError) -> JSONValue {
        if let key = variableDefinitions.keys.first(where: { $0.lowercased() == name.lowercased() && $0.lowercased() != "copy" }) {
            return try TemplateEvaluator.evaluate(variableDefinitions[key]!, context: self)
        }
        // Variables made by a copy loop: `"copy": [{"name", "count", "input"}]` among the variables.
        if let key = variableDefinitions.keys.first(where: { $0.lowercased() == "copy" }), case .array(let loops) = variableDefinitions[key]!,
           let loop = loops.first(where: { if case .string(let loopName) = $0["name"] { loopName.lowercased() == name.lowercased() } else { false } }) {
            return .array(try TemplateEvaluator.expandCopy(loop, context: self).1)
        }
        throw TemplateError("the template variable '\(name)' is not found")
    }

    public var resourceGroup: JSONValue { scope.resourceGroup }
    public var subscription: JSONValue {
        .object(JSONObject([("id", .string("/subscriptions/\(scope.subscriptionID)")), ("subscriptionId", .string(scope.subscriptionID)),
                            ("tenantId", .string(scope.tenantID)), ("displayName", .string("Coffer subscription"))]))
    }
    public var tenant: JSONValue { .object(JSONObject([("tenantId", .string(scope.tenantID))])) }
    public var deployment: JSONValue { .object(JSONObject([("name", .string(scope.deploymentName))])) }
    public var environment: JSONValue { .object(JSONObject([("name", .string("Coffer"))])) }

    /// Records a deployed resource's state for later `reference()` calls.
    public mutating func recordDeployed(id: String, name: String, state: JSONValue, copy: (loop: String, index: Int)? = nil) {
        deployedResources[id.lowercased()] = state
        idsByName[name.lowercased()] = id.lowercased()
        if let copy { loopMembers[copy.loop.lowercased(), default: [:]][copy.index] = id.lowercased() }
    }

    public func spendCall() throws(TemplateError) { try work.spend() }

    public func references(_ loop: String, full: Bool) throws(TemplateError) -> JSONValue {
        guard let members = loopMembers[loop.lowercased()] else {
            throw TemplateError("references('\(loop)'): no copy loop of that name has deployed resources")
        }
        var states: [JSONValue] = []
        for index in members.keys.sorted() {
            let state = deployedResources[members[index]!] ?? .null
            states.append(full ? state : state["properties"])
        }
        return .array(states)
    }

    public func reference(_ resourceID: String, apiVersion: String?, full: Bool) throws(TemplateError) -> JSONValue {
        guard let resource = deployedResources[resolve(resourceID)] else {
            throw TemplateError("the resource '\(resourceID)' is not deployed (yet)")
        }
        return full ? resource : resource["properties"]
    }

    /// The id a `list*()` or `reference()` target means: an id as is, or the template's resource of that name.
    public func resolve(_ resourceID: String) -> String {
        resourceID.hasPrefix("/") ? resourceID.lowercased() : idsByName[resourceID.lowercased()] ?? resourceID.lowercased()
    }

    /// Records what `function(resourceID, …)` gives, for the expressions about to be evaluated.
    public mutating func recordList(_ function: String, resourceID: String, result: JSONValue) {
        listResults[function.lowercased() + "\u{0}" + resolve(resourceID)] = result
    }

    public func list(_ function: String, resourceID: String, apiVersion: String) throws(TemplateError) -> JSONValue {
        guard let result = listResults[function.lowercased() + "\u{0}" + resolve(resourceID)] else {
            throw TemplateError("\(function)() is not available for '\(resourceID)'")
        }
        return result
    }
}

/// Variable values by lowercased name, shared by the copies of one planning context.
/// A deployment's evaluation budget: function calls counted across all its expressions, so that no template (a copy
/// loop of 800 over lambdas over large arrays, say) can keep the server's CPU for long.
public final class TemplateWork: Sendable {
    /// About a second of evaluation: real templates make thousands of calls.
    public static let maximumCalls = 1_000_000
    private let calls = Mutex<Int>(0)

    func spend() throws(TemplateError) {
        let made = calls.withLock { count in
            count += 1
            return count
        }
        guard made <= Self.maximumCalls else {
            throw TemplateError("the template needs more than \(Self.maximumCalls) function calls to evaluate; simplify it")
        }
    }
}

final class VariableCache: Sendable {
    private let values = Mutex<[String: JSONValue]>([:])

    func value(_ name: String) -> JSONValue? { values.withLock { $0[name] } }
    func store(_ value: JSONValue, for name: String) { values.withLock { $0[name] = value } }
}
