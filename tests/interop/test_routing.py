"""Host-style addressing (`<registry>.cr.localhost`) over real TLS, and the server's first-start files."""
import os
import stat
import subprocess

import requests


def curl(coffer, *args):
    result = subprocess.run(
        ["curl", "-sS", "--cacert", coffer.ca, "--resolve", f"coffer.cr.localhost:{coffer.port}:127.0.0.1", *args],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_host_style_registry_address(coffer):
    host = f"coffer.cr.localhost:{coffer.port}"
    challenge = curl(coffer, "-i", f"https://{host}/v2/")
    assert "401" in challenge.splitlines()[0]
    assert f'realm="https://{host}/oauth2/token",service="{host}"' in challenge
    token = requests.get(f"https://{coffer.host}/oauth2/token", params={"service": host, "scope": "repository:hosted:pull,push"},
                         auth=(coffer.username, coffer.password), verify=coffer.ca, timeout=30).json()["token"]
    blob = os.urandom(1000)
    import hashlib
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    blob_file = os.path.join(coffer.workdir, "blob")
    with open(blob_file, "wb") as handle:
        handle.write(blob)
    created = curl(coffer, "-i", "-X", "POST", "-H", f"Authorization: Bearer {token}", "--data-binary", f"@{blob_file}",
                   "-H", "Content-Type: application/octet-stream", f"https://{host}/v2/hosted/blobs/uploads/?digest={digest}")
    assert " 201" in created.splitlines()[0]
    assert f"location: /v2/hosted/blobs/{digest}" in created.lower()
    # The same repository is reachable path-style as coffer/hosted, with a token for that name and service.
    path_token = requests.get(f"https://{coffer.host}/oauth2/token",
                              params={"service": coffer.host, "scope": "repository:coffer/hosted:pull"},
                              auth=(coffer.username, coffer.password), verify=coffer.ca, timeout=30).json()["token"]
    pulled = requests.get(f"https://{coffer.host}/v2/coffer/hosted/blobs/{digest}", headers={"Authorization": f"Bearer {path_token}"},
                          verify=coffer.ca, timeout=30)
    assert pulled.content == blob
    # A token for one service is not accepted by another.
    refused = requests.get(f"https://{coffer.host}/v2/coffer/hosted/blobs/{digest}", headers={"Authorization": f"Bearer {token}"},
                           verify=coffer.ca, timeout=30)
    assert refused.status_code == 401


def test_secrets_are_owner_only(coffer):
    for name in ["master.key", "ca-key.pem", "server-key.pem", "token-signing-key.pem", "admin-credentials.json", "metadata.sqlite"]:
        mode = stat.S_IMODE(os.stat(os.path.join(coffer.data_dir, name)).st_mode)
        assert mode & 0o077 == 0, f"{name} is readable by others: {oct(mode)}"


def test_expect_100_continue_is_answered(coffer):
    token = requests.get(f"https://{coffer.host}/oauth2/token", params={"service": coffer.host, "scope": "repository:coffer/big:push"},
                         auth=(coffer.username, coffer.password), verify=coffer.ca, timeout=30).json()["token"]
    blob = os.urandom(2_000_000)
    import hashlib
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    path = os.path.join(coffer.workdir, "big")
    with open(path, "wb") as handle:
        handle.write(blob)
    out = subprocess.run(["curl", "-sS", "-i", "--cacert", coffer.ca, "-H", f"Authorization: Bearer {token}", "-H", "Expect: 100-continue",
                          "-H", "Content-Type: application/octet-stream", "--data-binary", f"@{path}",
                          f"https://{coffer.host}/v2/coffer/big/blobs/uploads/?digest={digest}"],
                         capture_output=True, text=True, timeout=60).stdout
    statuses = [line for line in out.splitlines() if line.startswith("HTTP/")]
    assert statuses[0].startswith("HTTP/1.1 100"), statuses
    assert statuses[-1].startswith("HTTP/1.1 201"), statuses
