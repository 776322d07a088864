import HTTPTypes
import RegistryService

extension RepositoryLocks {
    /// Why a call may not go ahead on this repository, or nil. A tag or digest in the path is checked too; what needs
    /// the registry's contents (the manifest a tag points to, the tags of a manifest) is checked where they are read.
    func refusal(route: OCIRoute, method: HTTPRequest.Method, repository: String) -> String? {
        let reading = method == .get || method == .head
        switch route {
        case .manifest(_, let reference):
            let isDigest = reference.contains(":")
            let object = isDigest ? manifest(reference) : tag(reference)
            let name = isDigest ? "\(repository)@\(reference)" : "\(repository):\(reference)"
            if reading {
                if !self.repository.readEnabled { return "the repository \(repository) is read-locked (readEnabled is false)" }
                if !object.readEnabled { return "\(name) is read-locked (readEnabled is false)" }
            } else if method == .delete {
                if !self.repository.mayDelete { return "the repository \(repository) is delete-locked (deleteEnabled or writeEnabled is false)" }
                if !object.mayDelete { return "\(name) is delete-locked (deleteEnabled or writeEnabled is false)" }
            } else {
                if !self.repository.writeEnabled { return "the repository \(repository) is write-locked (writeEnabled is false)" }
                if !object.writeEnabled { return "\(name) is write-locked (writeEnabled is false)" }
            }
        case .blob:
            if reading, !self.repository.readEnabled { return "the repository \(repository) is read-locked (readEnabled is false)" }
            // A blob may be a layer of a locked image: none is deleted while any image of the repository is locked.
            if method == .delete, !self.repository.mayDelete || tags.values.contains(where: { !$0.mayDelete })
                || manifests.values.contains(where: { !$0.mayDelete }) {
                return "the repository \(repository) or an image in it is delete-locked (deleteEnabled or writeEnabled is false)"
            }
        case .startUpload, .upload where !reading:
            if !self.repository.writeEnabled { return "the repository \(repository) is write-locked (writeEnabled is false)" }
        case .acrRepository where method == .delete:
            if !self.repository.mayDelete || tags.values.contains(where: { !$0.mayDelete }) || manifests.values.contains(where: { !$0.mayDelete }) {
                return "the repository \(repository) or an image in it is delete-locked (deleteEnabled or writeEnabled is false)"
            }
        case .acrTag(_, let name) where method == .delete:
            if !self.repository.mayDelete || !tag(name).mayDelete { return "\(repository):\(name) is delete-locked (deleteEnabled or writeEnabled is false)" }
        case .acrManifest(_, let digest) where method == .delete:
            if !self.repository.mayDelete || !manifest(digest).mayDelete { return "\(repository)@\(digest) is delete-locked (deleteEnabled or writeEnabled is false)" }
        default:
            break
        }
        return nil
    }
}
