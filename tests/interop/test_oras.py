"""oras (PyPI) pushes an artifact and a referrer to it; the referrers API lists the referrer."""
import hashlib
import json
import os

import oras.client
import oras.oci
import oras.provider
import requests


def bearer(coffer, scope):
    response = requests.get(f"https://{coffer.host}/oauth2/token", params={"service": coffer.host, "scope": scope},
                            auth=(coffer.username, coffer.password), verify=coffer.ca, timeout=30)
    response.raise_for_status()
    return response.json()["token"]


def test_artifact_and_referrer(coffer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = oras.client.OrasClient(hostname=coffer.host, tls_verify=coffer.ca)
    client.login(username=coffer.username, password=coffer.password, hostname=coffer.host, tls_verify=coffer.ca)
    with open("artifact.txt", "wb") as handle:
        handle.write(os.urandom(20_000))
    target = f"{coffer.host}/coffer/oras/artifact:v1"
    pushed = client.push(target=target, files=["artifact.txt:application/vnd.example.data"])
    assert pushed.status_code == 201
    subject_digest = pushed.headers["Docker-Content-Digest"]
    manifest = client.get_manifest(target)
    subject_size = len(json.dumps(manifest).encode())  # size only describes; the registry indexes by digest

    with open("signature.sig", "wb") as handle:
        handle.write(b"signed by a test")
    subject = oras.oci.Subject(mediaType=oras.defaults.default_manifest_media_type, digest=subject_digest, size=subject_size)
    referrer = client.push(target=f"{coffer.host}/coffer/oras/artifact:sig", files=["signature.sig:application/vnd.example.signature"],
                           subject=subject, manifest_annotations={"org.example.kind": "signature"})
    assert referrer.status_code == 201
    assert referrer.headers.get("OCI-Subject") == subject_digest

    token = bearer(coffer, "repository:coffer/oras/artifact:pull")
    listed = requests.get(f"https://{coffer.host}/v2/coffer/oras/artifact/referrers/{subject_digest}",
                          headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
    assert listed.status_code == 200
    index = listed.json()
    assert [entry["digest"] for entry in index["manifests"]] == [referrer.headers["Docker-Content-Digest"]]
    assert index["manifests"][0]["annotations"] == {"org.example.kind": "signature"}

    # Pull the artifact back and compare bytes.
    out = tmp_path / "out"
    files = client.pull(target=target, outdir=str(out))
    with open(files[0], "rb") as pulled, open("artifact.txt", "rb") as original:
        assert hashlib.sha256(pulled.read()).digest() == hashlib.sha256(original.read()).digest()
