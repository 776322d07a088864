"""Builds OCI image layouts on disk, for real clients (skopeo) to copy into and out of Coffer."""
import gzip
import hashlib
import io
import json
import os
import tarfile


def _write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as handle:
        handle.write(data)
    return "sha256:" + digest


def _layer(name, payload):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    return gzip.compress(raw.getvalue(), mtime=0), diff_id


def build_image(layout, tag, layer_payloads):
    """Writes an OCI layout holding one image with one gzip layer per payload; returns the layer digests."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as handle:
        json.dump({"imageLayoutVersion": "1.0.0"}, handle)
    layers, diff_ids = [], []
    for index, payload in enumerate(layer_payloads):
        blob, diff_id = _layer(f"file{index}.bin", payload)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": _write_blob(layout, blob), "size": len(blob)})
        diff_ids.append(diff_id)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "config": {}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _write_blob(layout, config), "size": len(config)},
        "layers": layers,
    }).encode()
    manifest_digest = _write_blob(layout, manifest)
    with open(os.path.join(layout, "index.json"), "w") as handle:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
            "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]}, handle)
    return [layer["digest"] for layer in layers]
