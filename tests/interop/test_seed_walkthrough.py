"""The seed document's walkthrough, command by command, with `coffer` in place of `az`, then images in and out."""
import filecmp
import json
import os
import subprocess
import time

from conftest import ROOT
from oci_layout import build_image
from test_cli import coffer_cli

TEMPLATE = os.path.join(ROOT, "tests", "interop", "templates", "CMKtemplate.json")


def test_seed_walkthrough(coffer, tmp_path):
    subscription = coffer.operator()["subscriptionId"]
    coffer_cli(coffer, "feature", "register", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry",
               "--subscription", subscription)
    deadline = time.time() + 30
    while coffer_cli(coffer, "feature", "show", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry",
                     "--query", "properties.state", "-o", "tsv").stdout.strip() != "Registered":
        assert time.time() < deadline, "the feature was never approved"
        time.sleep(1)
    coffer_cli(coffer, "group", "create", "--name", "seed-rg", "--location", "westeurope")
    coffer_cli(coffer, "keyvault", "create", "--name", "seedvault", "--group", "seed-rg", "--enable-soft-delete", "--enable-purge-protection")
    kek = coffer_cli(coffer, "keyvault", "key", "create", "--name", "seedkey", "--vault-name", "seedvault",
                     "--query", "key.kid", "--output", "tsv").stdout.strip()
    # The template, unchanged, with the seed's (legacy) command.
    deployment = json.loads(coffer_cli(coffer, "group", "deployment", "create", "--resource-group", "seed-rg", "--template-file", TEMPLATE,
                                       "--parameters", "registry_name=seedregistry", "identity_name=seedidentity",
                                       "vault_name=seedvault", f"kek_id={kek}").stdout)
    assert deployment["properties"]["provisioningState"] == "Succeeded"
    # The registry and the access policy that lets its identity use the key deploy side by side; when the registry
    # comes first it is retried after the policy, as Azure's providers retry. Either way all three are there.
    kinds = [resource["id"].split("/")[-2] for resource in deployment["properties"]["outputResources"]]
    assert kinds[0] == "userAssignedIdentities" and sorted(kinds[1:]) == ["accessPolicies", "registries"]

    acr_id = coffer_cli(coffer, "acr", "show", "--name", "seedregistry", "--query", "id", "--output", "tsv").stdout.strip()
    encryption = json.loads(coffer_cli(coffer, "resource", "show", "--id", acr_id, "--query", "properties.encryption",
                                       "--api-version", "2019-12-01-preview").stdout)
    identity = json.loads(coffer_cli(coffer, "identity", "show", "-n", "seedidentity", "-g", "seed-rg").stdout)
    assert encryption["status"] == "enabled"
    assert encryption["keyVaultProperties"]["identity"] == identity["clientId"]
    assert encryption["keyVaultProperties"]["keyIdentifier"] == kek
    assert encryption["keyVaultProperties"]["versionedKeyIdentifier"] == kek
    vault = json.loads(coffer_cli(coffer, "keyvault", "show", "--name", "seedvault").stdout)
    granted = [policy["permissions"]["keys"] for policy in vault["properties"]["accessPolicies"]
               if policy["objectId"] == identity["principalId"]]
    assert granted == [["get", "unwrapKey", "wrapKey"]]

    # Use the registry: push and pull at its login server.
    login_server = f"seedregistry.cr.localhost:{coffer.port}"
    source, back = str(tmp_path / "source"), str(tmp_path / "back")
    layers = build_image(source, "v1", [os.urandom(500_000), os.urandom(20_000)])
    creds = f"{coffer.username}:{coffer.password}"
    for args in (["--dest-cert-dir", coffer.cert_dir, "--dest-creds", creds, f"oci:{source}:v1", f"docker://{login_server}/app:v1"],
                 ["--src-cert-dir", coffer.cert_dir, "--src-creds", creds, f"docker://{login_server}/app:v1", f"oci:{back}:v1"]):
        result = subprocess.run(["skopeo", "copy", *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    for digest in layers:
        name = digest.split(":")[1]
        assert filecmp.cmp(os.path.join(source, "blobs", "sha256", name), os.path.join(back, "blobs", "sha256", name), shallow=False)

    # A broken deployment names the resource that failed.
    failed = coffer_cli(coffer, "deployment", "group", "create", "--resource-group", "seed-rg", "--template-file", TEMPLATE,
                        "--parameters", "registry_name=ab", "identity_name=other", "vault_name=seedvault", f"kek_id={kek}", check=False)
    assert failed.returncode == 1 and "registries" in failed.stderr and "InvalidResourceName" in failed.stderr
    invalid = coffer_cli(coffer, "deployment", "group", "create", "--resource-group", "seed-rg", "--template-file", TEMPLATE,
                         "--parameters", "registry_name=seedregistry", check=False)
    assert invalid.returncode == 1 and "InvalidTemplate" in invalid.stderr
