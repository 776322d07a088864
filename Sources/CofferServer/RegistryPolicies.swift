import ControlPlane
import RegistryAPI
import ResourceManagerAPI

// The resource manager answers the registry API's questions (who may get tokens, which addresses may
// connect); the two API modules do not import each other, so the server declares the fit here.
extension RegistryAccess: RegistryAccessProvider {}
extension RegistryNetworkRules: RegistryNetworkPolicy {}
