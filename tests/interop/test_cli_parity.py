"""`coffer` prints what az prints: the same read commands, run by the unmodified Azure CLI and by `coffer` against one
server and the same resources, give the same JSON (az's `null` for a field the server did not send counts as absent).
A new mismatch fails here with the JSON path where the two part."""
import json
import os

import pytest

from oci_layout import build_image
from test_azure_cli import az  # noqa: F401  (the fixture)
from test_azure_cli import skopeo
from test_cli import coffer_cli


def differences(expected, actual, path="$"):
    """Where `actual` (coffer's output) departs from `expected` (az's), as JSON paths."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                if expected[key] is not None:
                    found.append(f"{path}.{key}: missing (az: {json.dumps(expected[key])[:80]})")
            elif key not in expected:
                found.append(f"{path}.{key}: not printed by az ({json.dumps(actual[key])[:80]})")
            else:
                found += differences(expected[key], actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(actual)} items, az {len(expected)}"]
        return [line for index, (a, b) in enumerate(zip(sorted_items(expected), sorted_items(actual)))
                for line in differences(a, b, f"{path}[{index}]")]
    if expected != actual:
        return [f"{path}: {json.dumps(actual)[:80]}, az {json.dumps(expected)[:80]}"]
    return []


def sorted_items(items):
    def identity(item):
        if isinstance(item, dict):
            return str(item.get("id") or item.get("kid") or item.get("name") or json.dumps(item, sort_keys=True))
        return json.dumps(item, sort_keys=True)
    return sorted(items, key=identity)


# Each read command, spelled the same for both CLIs.
COMMANDS = [
    ["group", "show", "-n", "parity-rg"],
    ["group", "list", "--query", "[?name=='parity-rg']"],
    ["keyvault", "show", "-n", "parityvault"],
    ["keyvault", "list", "-g", "parity-rg"],
    ["keyvault", "key", "show", "--name", "paritykey", "--vault-name", "parityvault"],
    ["keyvault", "key", "list", "--vault-name", "parityvault"],
    ["keyvault", "key", "list-versions", "--name", "paritykey", "--vault-name", "parityvault"],
    ["keyvault", "key", "rotation-policy", "show", "--name", "paritykey", "--vault-name", "parityvault"],
    ["keyvault", "key", "rotation-policy", "show", "--name", "ecKey", "--vault-name", "parityvault"],
    ["keyvault", "key", "show", "--name", "ecKey", "--vault-name", "parityvault"],
    ["keyvault", "key", "list-deleted", "--vault-name", "parityvault"],
    ["keyvault", "key", "show-deleted", "--name", "gonekey", "--vault-name", "parityvault"],
    ["identity", "show", "-n", "parityidentity", "-g", "parity-rg"],
    ["identity", "list", "-g", "parity-rg"],
    ["acr", "show", "-n", "parityreg"],
    ["acr", "list", "-g", "parity-rg"],
    ["acr", "encryption", "show", "-n", "parityreg"],
    ["acr", "credential", "show", "-n", "parityreg"],
    ["acr", "repository", "list", "-n", "parityreg"],
    ["acr", "repository", "show", "-n", "parityreg", "--repository", "app"],
    ["acr", "repository", "show", "-n", "parityreg", "--image", "app:v1"],
    ["acr", "repository", "show-tags", "-n", "parityreg", "--repository", "app"],
    ["feature", "show", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry"],
    ["feature", "list", "--namespace", "Microsoft.ContainerRegistry"],
    ["deployment", "group", "show", "-g", "parity-rg", "-n", "parity"],
    ["deployment", "group", "list", "-g", "parity-rg"],
    ["resource", "list", "-g", "parity-rg"],
    ["account", "show"],
    ["provider", "show", "-n", "Microsoft.ContainerRegistry"],
    ["provider", "list"],
]


@pytest.fixture
def resources(az, coffer, tmp_path):
    """What the commands read, made with az (the reference)."""
    az("group", "create", "-n", "parity-rg", "-l", "westeurope", "--tags", "team=platform")
    az("keyvault", "create", "-n", "parityvault", "-g", "parity-rg", "--enable-rbac-authorization", "false")
    az("keyvault", "key", "create", "--name", "paritykey", "--vault-name", "parityvault")
    az("keyvault", "key", "rotate", "--name", "paritykey", "--vault-name", "parityvault")
    az("keyvault", "key", "create", "--name", "ecKey", "--vault-name", "parityvault", "--kty", "EC", "--curve", "P-384",
       "--tags", "use=signing", "--ops", "sign", "verify")
    az("keyvault", "key", "set-attributes", "--name", "ecKey", "--vault-name", "parityvault", "--expires", "2031-01-31T00:00:00Z")
    az("keyvault", "key", "rotation-policy", "update", "--name", "ecKey", "--vault-name", "parityvault", "--value",
       json.dumps({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
                   "attributes": {"expiryTime": "P90D"}}))
    az("keyvault", "key", "create", "--name", "gonekey", "--vault-name", "parityvault")
    az("keyvault", "key", "delete", "--name", "gonekey", "--vault-name", "parityvault")
    az("identity", "create", "-n", "parityidentity", "-g", "parity-rg")
    az("acr", "create", "-n", "parityreg", "-g", "parity-rg", "--sku", "Premium", "--admin-enabled", "true")
    az("feature", "register", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry")
    template = tmp_path / "parity.json"
    template.write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0", "resources": [],
        "outputs": {"greeting": {"type": "string", "value": "hello"}}}))
    az("deployment", "group", "create", "-g", "parity-rg", "-n", "parity", "--template-file", str(template))
    source = str(tmp_path / "source")
    build_image(source, "v1", [os.urandom(1000)])
    pushed = skopeo("copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", f"{coffer.username}:{coffer.password}",
                    f"oci:{source}:v1", f"docker://parityreg.cr.localhost:{coffer.port}/app:v1")
    assert pushed.returncode == 0, pushed.stderr


def test_coffer_prints_what_az_prints(az, coffer, resources):
    report = []
    for command in COMMANDS:
        expected = json.loads(az(*command, "-o", "json").stdout or "null")
        result = coffer_cli(coffer, *command, "-o", "json", check=False)
        if result.returncode != 0:
            report.append(f"coffer {' '.join(command)}: {result.stderr.strip()}")
            continue
        report += [f"{' '.join(command)}: {line}" for line in differences(expected, json.loads(result.stdout or "null"))]
    assert not report, "\n".join(report)


def shape(value, path="$"):
    """The JSON paths of `value` (list items merged), without az's nulls: what a `--query` can reach."""
    if isinstance(value, dict):
        return {p for key, item in value.items() if item is not None for p in {f"{path}.{key}"} | shape(item, f"{path}.{key}")}
    if isinstance(value, list):
        return {p for item in value for p in shape(item, f"{path}[]")}
    return set()


# Each write command, with a name to fill in ({}) so that az and coffer make resources of their own.
WRITES = [
    ["group", "create", "-n", "{}-rg", "-l", "westeurope"],
    ["keyvault", "create", "-n", "{}vault", "-g", "parity-rg", "--enable-rbac-authorization", "false"],
    ["keyvault", "key", "create", "--name", "{}key", "--vault-name", "parityvault"],
    ["keyvault", "key", "rotate", "--name", "{}key", "--vault-name", "parityvault"],
    ["keyvault", "set-policy", "-n", "{}vault", "--object-id", "00000000-0000-0000-0000-0000000000aa", "--key-permissions", "get"],
    ["identity", "create", "-n", "{}identity", "-g", "parity-rg"],
    ["acr", "create", "-n", "{}reg", "-g", "parity-rg", "--sku", "Premium"],
    ["acr", "update", "-n", "{}reg", "--admin-enabled", "true"],
    ["keyvault", "key", "delete", "--name", "{}key", "--vault-name", "parityvault"],
]


def test_coffer_writes_answer_in_the_shape_az_prints(az, coffer, resources):
    report = []
    for command in WRITES:
        expected = shape(json.loads(az(*[part.replace("{}", "az") for part in command], "-o", "json").stdout or "null"))
        result = coffer_cli(coffer, *[part.replace("{}", "coffer") for part in command], "-o", "json", check=False)
        if result.returncode != 0:
            report.append(f"coffer {' '.join(command)}: {result.stderr.strip()}")
            continue
        actual = shape(json.loads(result.stdout or "null"))
        report += [f"{' '.join(command)}: {path} missing" for path in sorted(expected - actual)]
        report += [f"{' '.join(command)}: {path} not printed by az" for path in sorted(actual - expected)]
    assert not report, "\n".join(report)
