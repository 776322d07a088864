/// Media types the registry understands as manifests.
public enum MediaTypes {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"

    public static let manifestTypes: Set<String> = [ociManifest, ociIndex, dockerManifest, dockerManifestList]
    public static let indexTypes: Set<String> = [ociIndex, dockerManifestList]
}
