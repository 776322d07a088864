"""Customer-managed keys for real: the registry's master key is wrapped by the vault as its identity;
the seed's limits are refused; rotation rewraps; revocation fails closed and recovers."""
import base64
import hashlib
import json
import os
import sqlite3
import time

import pytest
import requests

from test_cli import coffer_cli

API = "api-version=2019-12-01-preview"


class Cloud:
    """The operator's view: resource manager calls with a token."""

    def __init__(self, coffer):
        self.coffer = coffer
        operator = coffer.operator()
        self.subscription = operator["subscriptionId"]
        self.base = f"https://{coffer.host}"
        token = coffer.operator_token()
        self.headers = {"Authorization": f"Bearer {token}"}

    def group(self, name):
        return f"/subscriptions/{self.subscription}/resourceGroups/{name}"

    def put(self, path, body):
        return requests.put(f"{self.base}{path}?{API}", json=body, headers=self.headers, verify=self.coffer.ca, timeout=60)

    def get(self, path):
        return requests.get(f"{self.base}{path}?{API}", headers=self.headers, verify=self.coffer.ca, timeout=60)


def setup(coffer, register_feature=True, retention_days=90):
    cloud = Cloud(coffer)
    if register_feature:
        coffer_cli(coffer, "feature", "register", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry")
    coffer_cli(coffer, "group", "create", "--name", "rg", "--location", "westeurope")
    coffer_cli(coffer, "keyvault", "create", "--name", "cmkvault", "--group", "rg", "--enable-purge-protection",
               "--retention-days", str(retention_days))
    kek = coffer_cli(coffer, "keyvault", "key", "create", "--name", "kek", "--vault-name", "cmkvault", "--query", "key.kid", "-o", "tsv").stdout.strip()
    identity = json.loads(coffer_cli(coffer, "identity", "create", "-n", "regid", "-g", "rg").stdout)
    if register_feature:
        deadline = time.time() + 30
        while coffer_cli(coffer, "feature", "show", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry",
                         "--query", "properties.state", "-o", "tsv").stdout.strip() != "Registered":
            assert time.time() < deadline
            time.sleep(1)
    return cloud, kek, identity


def operator_vault_token(coffer):
    """A key vault data-plane token for the operator (client credentials)."""
    return coffer.operator_token(f"https://vault.localhost:{coffer.port}")


def registry_body(identity, kek, sku="Premium", **properties):
    body = {"location": "westeurope", "sku": {"name": sku},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity["id"]: {}}},
            "properties": {"encryption": {"status": "enabled", "keyVaultProperties": {
                "identity": identity["clientId"], "keyIdentifier": kek}}}}
    body["properties"].update(properties)
    return body


def grant(coffer, identity, *permissions):
    coffer_cli(coffer, "keyvault", "set-policy", "-n", "cmkvault", "--object-id", identity["principalId"],
               "--key-permissions", *permissions)


def push_blob(coffer, registry, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    host = f"{registry}.cr.localhost:{coffer.port}"
    token = coffer.token("repository:app:pull,push", service=host)
    response = requests.post(f"https://{host}/v2/app/blobs/uploads/?digest={digest}", data=data, verify=coffer.ca, timeout=60,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"})
    return digest, response


def pull_blob(coffer, registry, digest):
    host = f"{registry}.cr.localhost:{coffer.port}"
    token = coffer.token("repository:app:pull", service=host)
    return requests.get(f"https://{host}/v2/app/blobs/{digest}", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=60)


def test_the_seeds_limits_are_refused(coffer):
    cloud, kek, identity = setup(coffer, register_feature=False)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/"
    refused = cloud.put(path + "cmkregistry", registry_body(identity, kek))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "FeatureNotRegistered"
    coffer_cli(coffer, "feature", "register", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry")
    time.sleep(6)
    for body, code in [
        (registry_body(identity, kek, sku="Standard"), "CustomerManagedKeyRequiresPremium"),
        (registry_body(identity, kek, policies={"trustPolicy": {"type": "Notary", "status": "enabled"}}), "ContentTrustNotSupportedWithCustomerManagedKey"),
        (registry_body(identity, kek, networkRuleSet={"defaultAction": "Deny", "virtualNetworkRules": [{"id": "/subnets/x"}]}),
         "VirtualNetworkRulesNotSupportedWithCustomerManagedKey"),
    ]:
        response = cloud.put(path + "cmkregistry", body)
        assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text
    # Only at creation; and never off again.
    assert cloud.put(path + "plainregistry", {"location": "westeurope", "sku": {"name": "Premium"}}).status_code == 201
    late = cloud.put(path + "plainregistry", registry_body(identity, kek))
    assert late.status_code == 400 and late.json()["error"]["code"] == "CustomerManagedKeyOnlyAtCreation"
    assert cloud.put(path + "cmkregistry", registry_body(identity, kek)).status_code == 201
    off = registry_body(identity, kek)
    off["properties"]["encryption"] = {"status": "disabled"}
    disabled = cloud.put(path + "cmkregistry", off)
    assert disabled.status_code == 400 and disabled.json()["error"]["code"] == "CustomerManagedKeyCannotBeDisabled"
    # Geo-replication: refused on the CMK registry, allowed on a plain Premium one, and Premium only.
    replica = {"location": "eastus"}
    refused = cloud.put(path + "cmkregistry/replications/eastus", replica)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "GeoReplicationNotSupportedWithCustomerManagedKey"
    assert cloud.get(path + "cmkregistry/replications").json()["value"] == []
    allowed = cloud.put(path + "plainregistry/replications/eastus", replica)
    assert allowed.status_code == 201 and allowed.json()["location"] == "eastus"
    assert [r["name"] for r in cloud.get(path + "plainregistry/replications").json()["value"]] == ["eastus"]
    assert cloud.put(path + "basicregistry", {"location": "westeurope", "sku": {"name": "Standard"}}).status_code == 201
    standard = cloud.put(path + "basicregistry/replications/eastus", replica)
    assert standard.status_code == 400 and standard.json()["error"]["code"] == "GeoReplicationRequiresPremium"


def test_an_identity_without_unwrap_cannot_create_the_registry(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey")
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/noaccess"
    refused = cloud.put(path, registry_body(identity, kek))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "CustomerManagedKeyInaccessible"
    assert "unwrapKey" in refused.json()["error"]["message"]
    assert cloud.get(path).status_code == 404


def test_rotation_rewraps_and_old_images_still_pull(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/rotating"
    assert cloud.put(path, registry_body(identity, kek)).status_code == 201
    data = os.urandom(300_000)
    digest, pushed = push_blob(coffer, "rotating", data)
    assert pushed.status_code == 201
    with sqlite3.connect(os.path.join(coffer.data_dir, "metadata.sqlite")) as db:
        (wrapped_before,) = db.execute("SELECT wrapped_master_key FROM registries WHERE name = 'rotating'").fetchone()
    # A new key in the same vault; redeploying the registry with it rewraps the master key.
    new_kek = coffer_cli(coffer, "keyvault", "key", "create", "--name", "kek2", "--vault-name", "cmkvault", "--query", "key.kid", "-o", "tsv").stdout.strip()
    rotated = cloud.put(path, registry_body(identity, new_kek))
    assert rotated.status_code == 200, rotated.text
    # The old wrapping is gone from every file (database, WAL): purging the new key must not leave the registry
    # readable through the old one.
    for folder, _, files in os.walk(coffer.data_dir):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                assert wrapped_before.encode() not in handle.read(), f"the master key wrapped under the old key is still in {name}"
    properties = rotated.json()["properties"]["encryption"]["keyVaultProperties"]
    assert properties["keyIdentifier"] == new_kek and properties["lastKeyRotationTimestamp"]
    pulled = pull_blob(coffer, "rotating", digest)
    assert pulled.status_code == 200 and pulled.content == data
    # The old key is no longer needed: deleting it does not touch the registry.
    coffer_cli(coffer, "keyvault", "key", "delete", "--name", "kek", "--vault-name", "cmkvault")
    coffer.stop()
    coffer.start()
    assert pull_blob(coffer, "rotating", digest).content == data


@pytest.mark.serve_args("--key-access-check-seconds", "2")
def test_revocation_fails_closed_and_recovers(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/revocable"
    assert cloud.put(path, registry_body(identity, kek)).status_code == 201
    data = os.urandom(50_000)
    digest, _ = push_blob(coffer, "revocable", data)
    coffer_cli(coffer, "keyvault", "delete-policy", "-n", "cmkvault", "--object-id", identity["principalId"])
    time.sleep(3)
    denied = pull_blob(coffer, "revocable", digest)
    assert denied.status_code == 503 and denied.json()["errors"][0]["code"] == "KEY_UNAVAILABLE"
    assert "inaccessible" in denied.json()["errors"][0]["message"]
    # The registry resource says so too, and the failure is counted.
    status = cloud.get(path).json()["properties"]["status"]
    assert status["displayStatus"] == "CustomerManagedKeyInaccessible" and "inaccessible" in status["message"]
    metrics = requests.get(f"{cloud.base}/metrics", headers=cloud.headers, verify=coffer.ca, timeout=30).text
    assert 'coffer_key_access_total{registry="revocable",operation="unwrap",outcome="denied"}' in metrics
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    assert pull_blob(coffer, "revocable", digest).content == data
    # Disabling the key does the same.
    coffer_cli(coffer, "keyvault", "key", "show", "--name", "kek", "--vault-name", "cmkvault")
    vault_token = operator_vault_token(coffer)
    key_url = f"https://cmkvault.vault.localhost:{coffer.port}/keys/kek?api-version=7.4"
    disabled = requests.patch(key_url, json={"attributes": {"enabled": False}}, headers={"Authorization": f"Bearer {vault_token}"}, verify=coffer.ca, timeout=30)
    assert disabled.status_code == 200 and disabled.json()["attributes"]["enabled"] is False, disabled.text
    time.sleep(3)
    assert pull_blob(coffer, "revocable", digest).status_code == 503
    enabled = requests.patch(key_url, json={"attributes": {"enabled": True}}, headers={"Authorization": f"Bearer {vault_token}"}, verify=coffer.ca, timeout=30)
    assert enabled.status_code == 200 and enabled.json()["attributes"]["enabled"] is True, enabled.text
    assert pull_blob(coffer, "revocable", digest).content == data


@pytest.mark.serve_args("--key-version-check-seconds", "1")
def test_versionless_key_follows_the_newest_version(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    versionless = kek.rsplit("/", 1)[0]
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/following"
    created = cloud.put(path, registry_body(identity, versionless))
    assert created.status_code == 201, created.text
    properties = created.json()["properties"]["encryption"]["keyVaultProperties"]
    assert properties["keyRotationEnabled"] is True and properties["versionedKeyIdentifier"] == kek
    data = os.urandom(10_000)
    digest, _ = push_blob(coffer, "following", data)
    newest = coffer_cli(coffer, "keyvault", "key", "rotate", "--name", "kek", "--vault-name", "cmkvault", "--query", "key.kid", "-o", "tsv").stdout.strip()
    deadline = time.time() + 20
    while cloud.get(path).json()["properties"]["encryption"]["keyVaultProperties"]["versionedKeyIdentifier"] != newest:
        assert time.time() < deadline, "the registry never followed the new key version"
        time.sleep(0.5)
    assert cloud.get(path).json()["properties"]["encryption"]["keyVaultProperties"]["lastKeyRotationTimestamp"]
    assert pull_blob(coffer, "following", digest).content == data


# The blob is referenced by no manifest: collection's grace outlasts the clock jump below.
@pytest.mark.serve_args("--key-version-check-seconds", "1", "--gc-grace-seconds", str(60 * 86400))
def test_the_vault_rotates_the_key_on_schedule_and_the_running_registry_follows(coffer, tmp_path):
    """Nobody calls rotate: the key's rotation policy says 30 days, the server's maintenance rotates it when they have
    passed, and a registry on the versionless key rewraps its master key under the new version by itself."""
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
                                  "attributes": {"expiryTime": "P90D"}}))
    coffer_cli(coffer, "keyvault", "key", "rotation-policy", "update", "--vault-name", "cmkvault", "--name", "kek", "--value", f"@{policy}")
    versionless = kek.rsplit("/", 1)[0]
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/scheduled"
    assert cloud.put(path, registry_body(identity, versionless)).status_code == 201
    data = os.urandom(40_000)
    digest, pushed = push_blob(coffer, "scheduled", data)
    assert pushed.status_code == 201
    # Not due yet: a second of maintenance passes changes nothing.
    time.sleep(2)
    assert cloud.get(path).json()["properties"]["encryption"]["keyVaultProperties"]["versionedKeyIdentifier"] == kek
    # 31 days later, with the server running: the vault makes a new version, the registry moves to it.
    coffer.stop()
    coffer.start(clock_offset="+31d")
    cloud = Cloud(coffer)
    deadline = time.time() + 30
    while (properties := cloud.get(path).json()["properties"]["encryption"]["keyVaultProperties"])["versionedKeyIdentifier"] == kek:
        assert time.time() < deadline, "the key was not rotated on schedule, or the registry did not follow"
        time.sleep(0.5)
    assert properties["versionedKeyIdentifier"].startswith(versionless + "/") and properties["lastKeyRotationTimestamp"]
    versions = coffer_cli(coffer, "keyvault", "key", "list-versions", "--name", "kek", "--vault-name", "cmkvault", "--query", "length(@)", "-o", "tsv")
    assert versions.stdout.strip() == "2", versions.stdout + versions.stderr
    assert pull_blob(coffer, "scheduled", digest).content == data


def test_acr_encryption_commands(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    assert cloud.put(cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/clireg", registry_body(identity, kek)).status_code == 201
    shown = json.loads(coffer_cli(coffer, "acr", "encryption", "show", "--name", "clireg").stdout)
    assert shown["status"] == "enabled" and shown["keyVaultProperties"]["keyIdentifier"] == kek
    other = coffer_cli(coffer, "keyvault", "key", "create", "--name", "other", "--vault-name", "cmkvault", "--query", "key.kid", "-o", "tsv").stdout.strip()
    rotated = json.loads(coffer_cli(coffer, "acr", "encryption", "rotate-key", "--name", "clireg", "--key-encryption-key", other,
                                    "--identity", identity["clientId"]).stdout)
    assert rotated["keyVaultProperties"]["keyIdentifier"] == other and rotated["keyVaultProperties"]["lastKeyRotationTimestamp"]


@pytest.mark.serve_args("--key-access-check-seconds", "2")
def test_deleting_the_key_fails_closed_and_recovering_it_restores(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/deletable"
    assert cloud.put(path, registry_body(identity, kek)).status_code == 201
    data = os.urandom(20_000)
    digest, _ = push_blob(coffer, "deletable", data)
    coffer_cli(coffer, "keyvault", "key", "delete", "--name", "kek", "--vault-name", "cmkvault")
    time.sleep(3)
    denied = pull_blob(coffer, "deletable", digest)
    assert denied.status_code == 503 and "inaccessible" in denied.json()["errors"][0]["message"]
    # Metadata stays readable while the key is away.
    host = f"deletable.cr.localhost:{coffer.port}"
    token = coffer.token("repository:app:pull", service=host)
    tags = requests.get(f"https://{host}/v2/app/tags/list", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
    assert tags.status_code == 200
    coffer_cli(coffer, "keyvault", "key", "recover", "--name", "kek", "--vault-name", "cmkvault")
    assert pull_blob(coffer, "deletable", digest).content == data


# The pushed blob is referenced by no manifest: garbage collection's grace outlasts the 8-day clock jump below,
# so the blob is still there to be (un)read.
@pytest.mark.serve_args("--key-access-check-seconds", "1", "--gc-grace-seconds", str(30 * 86400))
def test_purging_the_key_crypto_shreds_the_registry(coffer):
    cloud, kek, identity = setup(coffer, retention_days=7)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/shredded"
    assert cloud.put(path, registry_body(identity, kek)).status_code == 201
    data = os.urandom(200_000)
    digest, pushed = push_blob(coffer, "shredded", data)
    assert pushed.status_code == 201
    assert cloud.get(path).json()["properties"]["status"]["displayStatus"] == "Ready"
    # The key's material as the vault keeps it (sealed): the test looks for it again after the purge.
    with sqlite3.connect(os.path.join(coffer.data_dir, "metadata.sqlite")) as db:
        sealed = db.execute("SELECT sealed_material FROM vault_key_versions WHERE vault = 'cmkvault' AND name = 'kek'").fetchone()[0]
    assert len(sealed) > 100
    coffer_cli(coffer, "keyvault", "key", "delete", "--name", "kek", "--vault-name", "cmkvault")
    # Under purge protection nobody can purge it early, not even the operator.
    early = coffer_cli(coffer, "keyvault", "key", "purge", "--name", "kek", "--vault-name", "cmkvault", check=False)
    assert early.returncode != 0 and "purge protection" in early.stderr
    # Eight days later the retention period is over and the vault purges the key on schedule.
    coffer.stop()
    coffer.start(clock_offset="+8d")
    deadline = time.time() + 20
    while coffer_cli(coffer, "keyvault", "key", "list-deleted", "--vault-name", "cmkvault", "--query", "length(@)", "-o", "tsv").stdout.strip() != "0":
        assert time.time() < deadline, "the deleted key was never purged"
        time.sleep(0.5)
    # The registry says its data is gone for good: data calls, the resource, the metrics.
    gone = pull_blob(coffer, "shredded", digest)
    assert gone.status_code == 410 and gone.json()["errors"][0]["code"] == "KEY_PURGED", gone.text
    assert "permanently unreadable" in gone.json()["errors"][0]["message"]
    cloud = Cloud(coffer)
    status = cloud.get(path).json()["properties"]["status"]
    assert status["displayStatus"] == "CustomerManagedKeyPurged" and "purged" in status["message"]
    metrics = requests.get(f"{cloud.base}/metrics", headers=cloud.headers, verify=coffer.ca, timeout=30)
    assert metrics.status_code == 200
    assert 'coffer_key_access_total{registry="shredded",operation="unwrap",outcome="purged"}' in metrics.text
    # Recovering is impossible now, and so is reading the data with the data directory in hand: no file of it
    # (database, its WAL, freed pages, blobs) still holds the key's material.
    recovered = coffer_cli(coffer, "keyvault", "key", "recover", "--name", "kek", "--vault-name", "cmkvault", check=False)
    assert recovered.returncode != 0
    coffer.stop()
    needles = [sealed.encode(), sealed[len(sealed) // 3:len(sealed) // 3 + 48].encode()]
    for folder, _, files in os.walk(coffer.data_dir):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                content = handle.read()
            assert not any(needle in content for needle in needles), f"the purged key's material is still in {name}"
    coffer.start(clock_offset="+8d")
    assert pull_blob(coffer, "shredded", digest).status_code == 410


def test_neither_content_nor_master_key_rests_in_plaintext(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/sealedreg"
    assert cloud.put(path, registry_body(identity, kek)).status_code == 201
    data = os.urandom(300_000)
    digest, pushed = push_blob(coffer, "sealedreg", data)
    assert pushed.status_code == 201
    # The test recovers the registry's master key the only way there is: the wrapped key from the database,
    # unwrapped by the vault (the operator may use the key too). Stored as [version length][version][RSA-OAEP-256].
    with sqlite3.connect(os.path.join(coffer.data_dir, "metadata.sqlite")) as db:
        wrapped = base64.b64decode(db.execute("SELECT wrapped_master_key FROM registries WHERE name = 'sealedreg'").fetchone()[0])
    version = wrapped[1:1 + wrapped[0]].decode()
    assert kek.endswith("/" + version)
    vault_token = operator_vault_token(coffer)
    ciphertext = base64.urlsafe_b64encode(wrapped[1 + wrapped[0]:]).decode().rstrip("=")
    unwrapped = requests.post(f"{kek}/unwrapkey?api-version=7.4", json={"alg": "RSA-OAEP-256", "value": ciphertext},
                              headers={"Authorization": f"Bearer {vault_token}"}, verify=coffer.ca, timeout=30)
    assert unwrapped.status_code == 200, unwrapped.text
    master_key = base64.urlsafe_b64decode(unwrapped.json()["value"] + "==")
    assert len(master_key) == 32
    coffer.stop()
    probes = [master_key, master_key.hex().encode(), base64.b64encode(master_key), base64.urlsafe_b64encode(master_key).rstrip(b"=")]
    probes += [data[offset:offset + 64] for offset in range(0, len(data) - 64, len(data) // 8)]
    seen_wrapped = False
    for folder, _, files in os.walk(coffer.data_dir):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                content = handle.read()
            assert not any(probe in content for probe in probes), f"plaintext found in {name}"
            seen_wrapped = seen_wrapped or base64.b64encode(wrapped) in content
    assert seen_wrapped, "the scan did not read the database (the wrapped key is there)"
    coffer.start()
    assert pull_blob(coffer, "sealedreg", digest).content == data


def test_unfit_keys_and_vaults_are_refused(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    path = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/unfitreg"
    ec_key = coffer_cli(coffer, "keyvault", "key", "create", "--name", "eckey", "--vault-name", "cmkvault", "--kty", "EC",
                        "--query", "key.kid", "-o", "tsv").stdout.strip()
    disabled_key = coffer_cli(coffer, "keyvault", "key", "create", "--name", "offkey", "--vault-name", "cmkvault",
                              "--query", "key.kid", "-o", "tsv").stdout.strip()
    vault_token = operator_vault_token(coffer)
    assert requests.patch(f"https://cmkvault.vault.localhost:{coffer.port}/keys/offkey?api-version=7.4", json={"attributes": {"enabled": False}},
                          headers={"Authorization": f"Bearer {vault_token}"}, verify=coffer.ca, timeout=30).status_code == 200
    coffer_cli(coffer, "keyvault", "create", "--name", "plainvault", "--group", "rg")
    unprotected = coffer_cli(coffer, "keyvault", "key", "create", "--name", "kek", "--vault-name", "plainvault",
                             "--query", "key.kid", "-o", "tsv").stdout.strip()
    coffer_cli(coffer, "keyvault", "set-policy", "-n", "plainvault", "--object-id", identity["principalId"],
               "--key-permissions", "get", "wrapKey", "unwrapKey")
    for key, code in [(ec_key, "InvalidKeyType"), (disabled_key, "KeyDisabled"), (unprotected, "KeyVaultNotProtected")]:
        refused = cloud.put(path, registry_body(identity, key))
        assert refused.status_code == 400 and refused.json()["error"]["code"] == code, refused.text
        assert cloud.get(path).status_code == 404


def test_a_template_registry_waits_for_the_access_it_needs(coffer, tmp_path):
    cloud, kek, identity = setup(coffer)
    # The access policy waits for a second identity, so it is granted one wave after the registry first tries:
    # the registry fails for want of access, is set aside, and succeeds when retried once nothing else is left.
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"kek": {"type": "string"}},
        "resources": [
            {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30", "name": "waitid", "location": "westeurope"},
            {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30", "name": "laterid", "location": "westeurope",
             "dependsOn": ["waitid"]},
            {"type": "Microsoft.KeyVault/vaults/accessPolicies", "apiVersion": "2019-09-01", "name": "cmkvault/add", "dependsOn": ["laterid"],
             "properties": {"accessPolicies": [{"tenantId": "[subscription().tenantId]",
                                                "objectId": "[reference('waitid').principalId]",
                                                "permissions": {"keys": ["get", "wrapKey", "unwrapKey"]}}]}},
            {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2019-12-01-preview", "name": "waitingreg", "location": "westeurope",
             "sku": {"name": "Premium"},
             "identity": {"type": "UserAssigned", "userAssignedIdentities": {"[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'waitid')]": {}}},
             "properties": {"encryption": {"status": "enabled", "keyVaultProperties": {
                 "identity": "[reference('waitid').clientId]", "keyIdentifier": "[parameters('kek')]"}}}},
        ],
    }
    path = tmp_path / "wait.json"
    path.write_text(json.dumps(template))
    deployment = json.loads(coffer_cli(coffer, "deployment", "group", "create", "-g", "rg", "-f", str(path), "-p", f"kek={kek}").stdout)
    assert deployment["properties"]["provisioningState"] == "Succeeded"
    assert [r["id"].split("/")[-1] for r in deployment["properties"]["outputResources"]] == ["waitid", "laterid", "add", "waitingreg"]
