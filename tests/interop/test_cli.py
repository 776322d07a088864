"""The `coffer` CLI against a live server: the seed walkthrough's first steps, with az's flags, queries and output formats."""
import json
import os
import subprocess

import requests

from conftest import BINARY


def coffer_cli(coffer, *args, check=True):
    result = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COFFER_DATA_DIR": coffer.data_dir})
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_seed_first_steps(coffer):
    group = json.loads(coffer_cli(coffer, "group", "create", "--name", "cmk-rg", "--location", "westeurope").stdout)
    assert group["name"] == "cmk-rg" and group["properties"]["provisioningState"] == "Succeeded"
    # The seed's flags, verbatim: soft delete (always on) and purge protection.
    vault = json.loads(coffer_cli(coffer, "keyvault", "create", "--name", "cmkvault", "--group", "cmk-rg",
                                  "--enable-soft-delete", "--enable-purge-protection").stdout)
    assert vault["properties"]["enablePurgeProtection"] is True and vault["location"] == "westeurope"
    # KEK=$(az keyvault key create --name <key-name> --vault-name <key-vault-name> --query key.kid --output tsv)
    kek = coffer_cli(coffer, "keyvault", "key", "create", "--name", "kek", "--vault-name", "cmkvault",
                     "--query", "key.kid", "--output", "tsv").stdout.strip()
    assert kek.startswith(f"https://cmkvault.vault.localhost:{coffer.port}/keys/kek/") and "\n" not in kek
    identity = coffer_cli(coffer, "identity", "create", "-n", "cmk-identity", "-g", "cmk-rg", "--query", "principalId",
                          "-o", "tsv").stdout.strip()
    assert len(identity) == 36
    policies = coffer_cli(coffer, "keyvault", "set-policy", "-n", "cmkvault", "--object-id", identity,
                          "--key-permissions", "get", "wrapKey", "unwrapKey", "--query",
                          f"properties.accessPolicies[?objectId=='{identity}'].permissions.keys[]", "-o", "json").stdout
    assert json.loads(policies) == ["get", "wrapKey", "unwrapKey"]
    table = coffer_cli(coffer, "keyvault", "key", "list", "--vault-name", "cmkvault", "-o", "table").stdout.splitlines()
    # As az prints it: a listed key has its id and its name.
    assert table[0].split() == ["Kid", "Name"] and table[2].split() == [f"https://cmkvault.vault.localhost:{coffer.port}/keys/kek", "kek"]
    rotated = coffer_cli(coffer, "keyvault", "key", "rotate", "--name", "kek", "--vault-name", "cmkvault", "--query", "key.kid", "-o", "tsv")
    assert rotated.stdout.strip() != kek
    versions = json.loads(coffer_cli(coffer, "keyvault", "key", "list-versions", "--name", "kek", "--vault-name", "cmkvault").stdout)
    assert len(versions) == 2


def test_errors_look_like_az(coffer):
    missing = coffer_cli(coffer, "group", "show", "--name", "nope", check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("ERROR: (ResourceGroupNotFound)")
    bad_query = coffer_cli(coffer, "group", "list", "--query", "[?", check=False)
    assert bad_query.returncode == 1 and "invalid --query" in bad_query.stderr
    usage = coffer_cli(coffer, "keyvault", "create", "--name", "x", check=False)
    assert usage.returncode != 0 and "resource-group" in usage.stderr


def test_feature_registration(coffer):
    # az feature register --name PrivatePreview --namespace Microsoft.ContainerRegistry --subscription <subscriptionID>
    subscription = coffer.operator()["subscriptionId"]
    registered = json.loads(coffer_cli(coffer, "feature", "register", "--name", "PrivatePreview", "--namespace",
                                       "Microsoft.ContainerRegistry", "--subscription", subscription).stdout)
    assert registered["name"] == "Microsoft.ContainerRegistry/PrivatePreview"
    assert registered["properties"]["state"] in ("Registering", "Registered")
    import time
    deadline = time.time() + 30
    state = ""
    while time.time() < deadline:
        state = coffer_cli(coffer, "feature", "show", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry",
                           "--query", "properties.state", "-o", "tsv").stdout.strip()
        if state == "Registered":
            break
        time.sleep(1)
    assert state == "Registered"
    other = coffer_cli(coffer, "feature", "show", "--name", "Other", "--namespace", "Microsoft.ContainerRegistry", "--query",
                       "properties.state", "-o", "tsv").stdout.strip()
    assert other == "NotRegistered"
    wrong = coffer_cli(coffer, "feature", "register", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry",
                       "--subscription", "00000000-0000-0000-0000-000000000000", check=False)
    assert wrong.returncode == 1 and "SubscriptionNotFound" in wrong.stderr


def test_registry_resource_is_a_real_registry(coffer, tmp_path):
    from oci_layout import build_image
    coffer_cli(coffer, "group", "create", "--name", "acr-rg", "--location", "westeurope")
    login_server = coffer_cli(coffer, "acr", "create", "-n", "myregistry1", "-g", "acr-rg", "--sku", "Premium",
                              "--query", "loginServer", "-o", "tsv").stdout.strip()
    assert login_server == f"myregistry1.cr.localhost:{coffer.port}"
    # ACR_ID=$(az acr show --name <registry-name> --query id --output tsv)
    acr_id = coffer_cli(coffer, "acr", "show", "--name", "myregistry1", "--query", "id", "--output", "tsv").stdout.strip()
    assert acr_id.endswith("/providers/Microsoft.ContainerRegistry/registries/myregistry1")
    # az resource show --id $ACR_ID --query properties.encryption --api-version 2019-12-01-preview
    encryption = json.loads(coffer_cli(coffer, "resource", "show", "--id", acr_id, "--query", "properties.encryption",
                                       "--api-version", "2019-12-01-preview").stdout)
    assert encryption == {"status": "disabled"}

    source = str(tmp_path / "source")
    build_image(source, "v1", [os.urandom(100_000)])
    creds = f"{coffer.username}:{coffer.password}"
    pushed = subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", creds, f"oci:{source}:v1",
                             f"docker://{login_server}/app:v1"], capture_output=True, text=True, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    tags = subprocess.run(["skopeo", "list-tags", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{login_server}/app"],
                          capture_output=True, text=True, timeout=60)
    assert '"v1"' in tags.stdout

    for bad in (["acr", "create", "-n", "ab", "-g", "acr-rg", "--sku", "Premium"], ["acr", "create", "-n", "coffer", "-g", "acr-rg", "--sku", "Basic"],
                ["acr", "create", "-n", "othername", "-g", "acr-rg", "--sku", "Gold"]):
        refused = coffer_cli(coffer, *bad, check=False)
        assert refused.returncode == 1 and refused.stderr.startswith("ERROR: (")

    coffer_cli(coffer, "acr", "delete", "-n", "myregistry1", "--yes")
    gone = subprocess.run(["skopeo", "list-tags", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{login_server}/app"],
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode != 0


def test_resources_are_listed_and_filtered(coffer):
    coffer_cli(coffer, "group", "create", "--name", "list-rg", "--location", "westeurope")
    coffer_cli(coffer, "group", "create", "--name", "other-rg", "--location", "northeurope")
    coffer_cli(coffer, "identity", "create", "-n", "listid", "-g", "list-rg")
    coffer_cli(coffer, "keyvault", "create", "--name", "listvault", "--group", "list-rg")
    coffer_cli(coffer, "acr", "create", "-n", "listregistry", "-g", "other-rg", "--sku", "Basic")

    def names(*args):
        return sorted(json.loads(coffer_cli(coffer, "resource", "list", *args, "--query", "[].name").stdout))

    # `coffer` is the registry that exists from the first start (resource group `coffer`).
    assert names() == ["coffer", "listid", "listregistry", "listvault"]
    assert names("-g", "list-rg") == ["listid", "listvault"]
    assert names("--resource-type", "Microsoft.ContainerRegistry/registries") == ["coffer", "listregistry"]
    assert names("--resource-type", "microsoft.keyvault/VAULTS", "-g", "list-rg") == ["listvault"]
    assert names("--name", "listid") == ["listid"]
    assert names("--location", "northeurope") == ["listregistry"]
    shown = json.loads(coffer_cli(coffer, "resource", "show", "-g", "list-rg", "--resource-type", "Microsoft.KeyVault/vaults",
                                  "-n", "listvault").stdout)
    assert shown["properties"]["vaultUri"].startswith("https://listvault.vault.localhost")
    # ARM's filter grammar, and a clear error for what it does not know.
    operator = coffer.operator()
    token = coffer.operator_token()
    url = f"https://{coffer.host}/subscriptions/{operator['subscriptionId']}/resources"
    found = requests.get(url, params={"api-version": "2021-04-01", "$filter": "substringof('list', name) and resourceGroup eq 'list-rg'"},
                         headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
    assert sorted(r["name"] for r in found.json()["value"]) == ["listid", "listvault"]
    assert all("properties" not in r for r in found.json()["value"])
    bad = requests.get(url, params={"api-version": "2021-04-01", "$filter": "provisioningState eq 'x'"},
                       headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidFilterInQueryString"


def test_login_as_a_service_principal_debug_and_verbose(coffer, tmp_path):
    operator = coffer.operator()
    environment = {key: value for key, value in os.environ.items() if key not in ("COFFER_DATA_DIR", "COFFER_URL")}
    environment["COFFER_CONFIG_DIR"] = str(tmp_path / "config")

    def cli(*args):
        # From a directory with no .coffer in it: only the profile can say who to be.
        return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120, env=environment, cwd=str(tmp_path))

    assert cli("group", "list").returncode == 1
    login = ["login", "--service-principal", "-u", operator["clientId"], "--tenant", operator["tenantId"],
             "--authority", f"https://{coffer.host}", "--ca-file", coffer.ca]
    wrong = cli(*login, "--password=not-the-secret")
    assert wrong.returncode == 1 and wrong.stderr.startswith("ERROR:")
    # `--password=…`: a generated secret may start with "-", which would otherwise read as an option (as with az).
    signed_in = cli(*login, f"--password={operator['clientSecret']}")
    assert signed_in.returncode == 0, signed_in.stderr
    accounts = json.loads(signed_in.stdout)
    assert accounts[0]["id"] == operator["subscriptionId"] and accounts[0]["isDefault"] is True
    assert accounts[0]["user"] == {"name": operator["clientId"], "type": "servicePrincipal"}
    profile = tmp_path / "config" / "profile.json"
    assert oct(profile.stat().st_mode & 0o777) == "0o600"
    assert cli("account", "show", "--query", "user.name", "-o", "tsv").stdout.strip() == operator["clientId"]
    created = cli("group", "create", "--name", "from-profile", "--location", "westeurope", "--debug", "--verbose")
    assert created.returncode == 0, created.stderr
    debug_lines = [line for line in created.stderr.splitlines() if line.startswith("DEBUG: ")]
    assert any("PUT https://" in line and "/resourcegroups/from-profile" in line.lower() and "-> 201" in line for line in debug_lines), created.stderr
    assert "Bearer" not in created.stderr and operator["clientSecret"] not in created.stderr
    assert "Command ran in" in created.stderr
    assert cli("logout").returncode == 0 and not profile.exists()
    assert cli("account", "show").returncode == 1


def test_key_rotation_policy_commands(coffer, tmp_path):
    coffer_cli(coffer, "group", "create", "--name", "rp-rg", "--location", "westeurope")
    coffer_cli(coffer, "keyvault", "create", "--name", "rpvault", "--group", "rp-rg")
    coffer_cli(coffer, "keyvault", "key", "create", "--name", "k", "--vault-name", "rpvault")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
                                  "attributes": {"expiryTime": "P90D"}}))
    coffer_cli(coffer, "keyvault", "key", "rotation-policy", "update", "--vault-name", "rpvault", "--name", "k", "--value", f"@{policy}")
    shown = json.loads(coffer_cli(coffer, "keyvault", "key", "rotation-policy", "show", "--vault-name", "rpvault", "--name", "k").stdout)
    # In az's shape: the policy's expiry as expiresIn, each action flat.
    assert shown["expiresIn"] == "P90D"
    assert shown["lifetimeActions"] == [{"action": "Rotate", "timeAfterCreate": "P30D"}]


def test_outputs_have_the_shape_az_prints(coffer):
    """az prints SDK models: a registry's and an identity's properties at the top level, `resourceGroup` added."""
    coffer_cli(coffer, "group", "create", "--name", "shape-rg", "--location", "westeurope")
    coffer_cli(coffer, "acr", "create", "-n", "shaperegistry", "-g", "shape-rg", "--sku", "Standard")
    assert coffer_cli(coffer, "acr", "show", "--name", "shaperegistry", "--query", "loginServer", "-o", "tsv").stdout.strip() == \
        f"shaperegistry.cr.localhost:{coffer.port}"
    shown = json.loads(coffer_cli(coffer, "acr", "show", "--name", "shaperegistry").stdout)
    assert shown["adminUserEnabled"] is False and shown["resourceGroup"] == "shape-rg" and "properties" not in shown
    identity = json.loads(coffer_cli(coffer, "identity", "create", "-n", "shapeid", "-g", "shape-rg").stdout)
    assert len(identity["clientId"]) == 36 and len(identity["principalId"]) == 36 and identity["resourceGroup"] == "shape-rg"
    # identity list, like az's, needs no group.
    assert coffer_cli(coffer, "identity", "list", "--query", "[].name", "-o", "tsv").stdout.split() == ["shapeid"]
    assert coffer_cli(coffer, "acr", "list", "-g", "shape-rg", "--query", "[].loginServer", "-o", "tsv").stdout.split() == \
        [f"shaperegistry.cr.localhost:{coffer.port}"]


def test_cli_edges_a_newcomer_meets(coffer):
    """Issue 16's CLI edges: `--admin-enabled` as az takes it, help for every option, no `--no-wait` where nothing
    waits, and a /metrics 401 that says what it takes."""
    coffer_cli(coffer, "group", "create", "--name", "edges-rg", "--location", "westeurope")
    bare = json.loads(coffer_cli(coffer, "acr", "create", "-n", "edgesone", "-g", "edges-rg", "--sku", "Basic", "--admin-enabled").stdout)
    assert bare["adminUserEnabled"] is True
    spelled = json.loads(coffer_cli(coffer, "acr", "create", "-n", "edgestwo", "-g", "edges-rg", "--sku", "Basic",
                                    "--admin-enabled", "false").stdout)
    assert spelled["adminUserEnabled"] is False
    for command in (["acr", "show"], ["acr", "create"], ["identity", "create"], ["keyvault", "set-policy"], ["group", "delete"]):
        help_text = coffer_cli(coffer, *command, "--help").stdout
        name_line = next(line for line in help_text.splitlines() if "--name" in line)
        assert len(name_line.split("--name", 1)[1].split(maxsplit=1)) == 2, (command, name_line)  # a description follows
    assert "--no-wait" not in coffer_cli(coffer, "deployment", "group", "validate", "--help").stdout
    assert "--no-wait" in coffer_cli(coffer, "deployment", "group", "create", "--help").stdout
    # A word that is no command says so, as az does (the parser blamed the first option it could not place).
    for words, group in ((["acr", "frobnicate", "--name", "x"], "coffer acr"), (["frob"], "coffer"), (["keyvault", "key", "lst"], "coffer keyvault key")):
        wrong = coffer_cli(coffer, *words, check=False)
        assert wrong.returncode == 2 and f"is not a command of '{group}'" in wrong.stderr and "--name'" not in wrong.stderr, wrong.stderr
    assert "coffer acr" in coffer_cli(coffer, "help", "acr").stdout
    # An auth file that cannot be written is one line naming it, not a Foundation error dump.
    for path in ("/proc/coffer-test/auth.json", "/proc/auth.json"):
        failed = coffer_cli(coffer, "acr", "login", "-n", "edgesone", "--auth-file", path, check=False)
        assert failed.returncode == 1 and failed.stderr.startswith("ERROR: ") and path in failed.stderr, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1 and "NSCocoaErrorDomain" not in failed.stderr, failed.stderr

    # /metrics: Basic is refused with a line that says what to send; the client-credentials grant (as Prometheus'
    # oauth2 settings send it, the secret in Basic) gets a token that opens it.
    refused = requests.get(f"https://{coffer.host}/metrics", auth=(coffer.username, coffer.password), verify=coffer.ca, timeout=30)
    assert refused.status_code == 401 and "bearer token" in refused.json()["error"]["message"], refused.text
    operator = coffer.operator()
    token = requests.post(f"https://{coffer.host}/{operator['tenantId']}/oauth2/v2.0/token", verify=coffer.ca, timeout=30,
                          auth=(operator["clientId"], operator["clientSecret"]),
                          data={"grant_type": "client_credentials", "scope": f"https://{coffer.host}/.default"}).json()["access_token"]
    scraped = requests.get(f"https://{coffer.host}/metrics", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
    assert scraped.status_code == 200 and "coffer_key_access_total" in scraped.text


def test_key_set_attributes_disables_and_enables_a_key(coffer):
    """The README's "disable the key" had no command: `keyvault key set-attributes` as az has it."""
    coffer_cli(coffer, "group", "create", "--name", "attrs-rg", "--location", "westeurope")
    coffer_cli(coffer, "keyvault", "create", "--name", "attrsvault", "--group", "attrs-rg")
    coffer_cli(coffer, "keyvault", "key", "create", "--name", "k", "--vault-name", "attrsvault")
    disabled = json.loads(coffer_cli(coffer, "keyvault", "key", "set-attributes", "--name", "k", "--vault-name", "attrsvault",
                                     "--enabled", "false", "--expires", "2031-01-31T00:00:00Z", "--tags", "team=platform").stdout)
    assert disabled["attributes"]["enabled"] is False and disabled["attributes"]["expires"] == "2031-01-31T00:00:00+00:00"
    assert disabled["tags"] == {"team": "platform"}
    shown = coffer_cli(coffer, "keyvault", "key", "show", "--name", "k", "--vault-name", "attrsvault", "--query", "attributes.enabled", "-o", "tsv")
    assert shown.stdout.strip() == "False"  # as az writes booleans in tsv
    enabled = json.loads(coffer_cli(coffer, "keyvault", "key", "set-attributes", "--name", "k", "--vault-name", "attrsvault", "--enabled").stdout)
    assert enabled["attributes"]["enabled"] is True
    bad = coffer_cli(coffer, "keyvault", "key", "set-attributes", "--name", "k", "--vault-name", "attrsvault", "--expires", "soon", check=False)
    assert bad.returncode != 0 and "ISO 8601" in bad.stderr, bad.stderr


def test_the_first_registry_is_a_resource_like_any_other(coffer):
    """The `coffer` registry exists from the first start; it was invisible to the control plane (`acr show -n coffer`:
    not found). It is now a resource in a group of its own, listed and managed like any registry."""
    shown = json.loads(coffer_cli(coffer, "acr", "show", "-n", "coffer").stdout)
    assert shown["resourceGroup"] == "coffer" and shown["loginServer"] == f"coffer.cr.localhost:{coffer.port}"
    assert shown["sku"]["name"] == "Premium" and shown["adminUserEnabled"] is False
    assert "coffer" in json.loads(coffer_cli(coffer, "acr", "list", "--query", "[].name").stdout)
    # Managed like any registry: its admin user turned on, and its password pushes to it.
    coffer_cli(coffer, "acr", "update", "-n", "coffer", "--admin-enabled", "true")
    password = coffer_cli(coffer, "acr", "credential", "show", "-n", "coffer", "--query", "passwords[0].value", "-o", "tsv").stdout.strip()
    token = requests.get(f"https://{coffer.host}/oauth2/token", params={"service": coffer.host, "scope": "repository:coffer/app:push,pull"},
                         auth=("coffer", password), verify=coffer.ca, timeout=30)
    assert token.status_code == 200 and token.json()["token"], token.text
    # A restart adopts nothing twice and keeps its settings.
    coffer.stop()
    coffer.start()
    again = json.loads(coffer_cli(coffer, "acr", "list", "--query", "[?name=='coffer']").stdout)
    assert len(again) == 1 and again[0]["adminUserEnabled"] is True


def test_repository_show_and_image_locks(coffer, tmp_path):
    """`acr repository show|update` as az has them: ACR's metadata API, a lock set and lifted by the bare flag."""
    from oci_layout import build_image
    build_image(str(tmp_path / "image"), "v1", [os.urandom(5000)])
    pushed = subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", f"{coffer.username}:{coffer.password}",
                             f"oci:{tmp_path / 'image'}:v1", f"docker://coffer.cr.localhost:{coffer.port}/team/app:v1"],
                            capture_output=True, text=True, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    repository = json.loads(coffer_cli(coffer, "acr", "repository", "show", "-n", "coffer", "--repository", "team/app").stdout)
    assert repository["imageName"] == "team/app" and repository["tagCount"] == 1
    image = json.loads(coffer_cli(coffer, "acr", "repository", "show", "-n", "coffer", "--image", "team/app:v1").stdout)
    assert image["name"] == "v1" and image["digest"].startswith("sha256:") and image["changeableAttributes"]["writeEnabled"] is True
    locked = json.loads(coffer_cli(coffer, "acr", "repository", "update", "-n", "coffer", "--image", "team/app:v1", "--write-enabled", "false").stdout)
    assert locked["changeableAttributes"]["writeEnabled"] is False
    moved = subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", f"{coffer.username}:{coffer.password}",
                            f"oci:{tmp_path / 'image'}:v1", f"docker://coffer.cr.localhost:{coffer.port}/team/app:v1"],
                           capture_output=True, text=True, timeout=120)
    assert moved.returncode != 0, "a write-locked tag was written"
    # The bare flag means true, as in az.
    lifted = coffer_cli(coffer, "acr", "repository", "update", "-n", "coffer", "--image", "team/app:v1", "--write-enabled",
                        "--query", "changeableAttributes.writeEnabled", "-o", "tsv")
    assert lifted.stdout.strip() == "True"
    missing = coffer_cli(coffer, "acr", "repository", "show", "-n", "coffer", "--image", "team/app:absent", check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("ERROR:"), missing.stderr
    neither = coffer_cli(coffer, "acr", "repository", "show", "-n", "coffer", check=False)
    assert neither.returncode != 0 and "--repository" in neither.stderr
