"""The unmodified Azure CLI (azure-cli from PyPI) against a live server: cloud discovery, login, the seed walkthrough,
Microsoft Graph, role assignments, and the commands az users script (`--query … -o tsv`)."""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import ROOT
from oci_layout import build_image

TEMPLATE = os.path.join(ROOT, "tests", "interop", "templates", "CMKtemplate.json")
AZ = os.environ.get("COFFER_AZ") or shutil.which("az")


class AzureCLI:
    """`az` with its own configuration directory, trusting the server's CA, signed in as the operator."""

    def __init__(self, coffer, config_dir):
        self.coffer = coffer
        self.environment = {**os.environ, "AZURE_CONFIG_DIR": str(config_dir), "REQUESTS_CA_BUNDLE": coffer.ca,
                            "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_NO_COLOR": "true",
                            "AZURE_CORE_SURVEY_MESSAGE": "false"}

    def __call__(self, *args, check=True):
        result = subprocess.run([AZ, *args], capture_output=True, text=True, timeout=180, env=self.environment)
        if check:
            assert result.returncode == 0, f"az {' '.join(args)}\n{result.stderr}"
        return result

    def json(self, *args):
        return json.loads(self(*args, "-o", "json").stdout)

    def tsv(self, *args):
        return self(*args, "-o", "tsv").stdout.strip()

    def sign_in(self):
        """The three commands the start-up banner and the README give."""
        self("cloud", "register", "-n", "coffer", "--endpoint-resource-manager", f"https://localhost:{self.coffer.port}/")
        self("cloud", "set", "-n", "coffer")
        self("config", "set", "core.instance_discovery=false")
        operator = self.coffer.operator()
        self("login", "--service-principal", "-t", operator["tenantId"], "-u", operator["clientId"],
                 f"--password={operator['clientSecret']}")
        return operator


@pytest.fixture
def az(coffer, tmp_path):
    if not AZ:
        if os.environ.get("COFFER_REQUIRE_AZ") == "1":
            pytest.fail("COFFER_REQUIRE_AZ=1 but no az (scripts/test installs azure-cli and sets COFFER_AZ)")
        pytest.skip("no Azure CLI: run through scripts/test, which installs it")
    cli = AzureCLI(coffer, tmp_path / "azure")
    cli.sign_in()
    return cli


def test_cloud_registration_discovers_every_endpoint(az, coffer):
    cloud = az.json("cloud", "show", "-n", "coffer")
    base = f"https://localhost:{coffer.port}"
    assert cloud["endpoints"]["resourceManager"] == base + "/"
    assert cloud["endpoints"]["activeDirectory"] == base
    assert cloud["endpoints"]["activeDirectoryResourceId"] == base + "/"
    assert cloud["endpoints"]["microsoftGraphResourceId"] == f"https://graph.localhost:{coffer.port}/"
    assert cloud["suffixes"]["keyvaultDns"] == f".vault.localhost:{coffer.port}"
    assert cloud["suffixes"]["acrLoginServerEndpoint"] == f".cr.localhost:{coffer.port}"
    assert az.tsv("account", "show", "--query", "tenantId") == coffer.operator()["tenantId"]


def test_seed_walkthrough_with_az(az, coffer, tmp_path):
    operator = coffer.operator()
    az("feature", "register", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry",
       "--subscription", operator["subscriptionId"])
    deadline = time.time() + 30
    while az.tsv("feature", "show", "--name", "PrivatePreview", "--namespace", "Microsoft.ContainerRegistry",
                 "--query", "properties.state") != "Registered":
        assert time.time() < deadline, "the feature was never approved"
        time.sleep(1)
    az("group", "create", "--name", "seed-rg", "--location", "westeurope")
    # The seed's template grants the registry's identity an access policy, so the vault uses access policies; az then
    # looks the signed-in principal up in Microsoft Graph (/me, then servicePrincipals) to grant it the first policy.
    first_policy = az.tsv("keyvault", "create", "--name", "seedvault", "--resource-group", "seed-rg",
                          "--enable-rbac-authorization", "false", "--enable-purge-protection",
                          "--query", "properties.accessPolicies[0].objectId")
    own_object_id = az.tsv("ad", "sp", "show", "--id", operator["clientId"], "--query", "id")
    assert first_policy == own_object_id and len(own_object_id) == 36
    kek = az.tsv("keyvault", "key", "create", "--name", "seedkey", "--vault-name", "seedvault", "--query", "key.kid")
    assert kek.startswith(f"https://seedvault.vault.localhost:{coffer.port}/keys/seedkey/")

    # The template file, unchanged, through the seed's (deprecated) command: az splices the file's text into the
    # request after an unquoted property name, which the resource manager reads as Azure's does.
    state = az.tsv("group", "deployment", "create", "--resource-group", "seed-rg", "--template-file", TEMPLATE,
                   "--parameters", "registry_name=seedregistry", "identity_name=seedidentity", "vault_name=seedvault",
                   f"kek_id={kek}", "--query", "properties.provisioningState")
    assert state == "Succeeded"
    acr_id = az.tsv("acr", "show", "--name", "seedregistry", "--query", "id")
    # The registry that exists from the first start is a resource too.
    assert az.tsv("acr", "show", "--name", "coffer", "--query", "resourceGroup") == "coffer"
    encryption = az.json("resource", "show", "--id", acr_id, "--query", "properties.encryption", "--api-version", "2019-12-01-preview")
    client_id = az.tsv("identity", "show", "-n", "seedidentity", "-g", "seed-rg", "--query", "clientId")
    assert encryption["status"] == "enabled"
    assert encryption["keyVaultProperties"]["identity"] == client_id
    assert encryption["keyVaultProperties"]["keyIdentifier"] == kek

    # Push and pull with the token `az acr login --expose-token` gives.
    login = az.json("acr", "login", "--name", "seedregistry", "--expose-token")
    login_server = f"seedregistry.cr.localhost:{coffer.port}"
    assert login["loginServer"] == login_server
    creds = f"00000000-0000-0000-0000-000000000000:{login['accessToken']}"
    source, back = str(tmp_path / "source"), str(tmp_path / "back")
    build_image(source, "v1", [os.urandom(200_000)])
    for args in (["--dest-cert-dir", coffer.cert_dir, "--dest-creds", creds, f"oci:{source}:v1", f"docker://{login_server}/app:v1"],
                 ["--src-cert-dir", coffer.cert_dir, "--src-creds", creds, f"docker://{login_server}/app:v1", f"oci:{back}:v1"]):
        result = subprocess.run(["skopeo", "copy", *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr

    # Rotation by redeploy: a new key version, the template deployed again with it.
    rotated = az.tsv("keyvault", "key", "rotate", "--name", "seedkey", "--vault-name", "seedvault", "--query", "key.kid")
    assert rotated != kek
    az("deployment", "group", "create", "--resource-group", "seed-rg", "--template-file", TEMPLATE,
       "--parameters", "registry_name=seedregistry", "identity_name=seedidentity", "vault_name=seedvault", f"kek_id={rotated}")
    assert az.tsv("acr", "encryption", "show", "--name", "seedregistry", "--query", "keyVaultProperties.keyIdentifier") == rotated
    result = subprocess.run(["skopeo", "inspect", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{login_server}/app:v1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    # The seed's refusals reach az users as ERROR lines naming the cause.
    for command, code in [
        (["acr", "update", "-n", "seedregistry", "--sku", "Standard"], "CustomerManagedKeyRequiresPremium"),
        (["acr", "replication", "create", "-r", "seedregistry", "-l", "eastus"], "GeoReplicationNotSupportedWithCustomerManagedKey"),
    ]:
        refused = az(*command, check=False)
        assert refused.returncode != 0 and "ERROR:" in refused.stderr and code in refused.stderr, refused.stderr
    assert az.tsv("acr", "show", "-n", "seedregistry", "--query", "sku.name") == "Premium"
    broken = az("deployment", "group", "create", "--resource-group", "seed-rg", "--template-file", TEMPLATE,
                "--parameters", "registry_name=ab", "identity_name=other", "vault_name=seedvault", f"kek_id={kek}", check=False)
    assert broken.returncode != 0 and "InvalidResourceName" in broken.stderr


def test_template_files_with_comments_and_multi_line_strings(az, tmp_path):
    """az reads a template file as ARM does (comments, strings over several lines) and sends its text as it is, after
    an unquoted `template:` name: the resource manager must read all of that."""
    az("group", "create", "--name", "lenient-rg", "--location", "westeurope")
    template = tmp_path / "commented.json"
    template.write_text("""{
      // ARM reads templates leniently.
      "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
      "contentVersion": "1.0.0.0",
      /* one identity */
      "resources": [
        { "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
          "name": "commented-identity", "location": "[resourceGroup().location]" }
      ],
      "outputs": { "greeting": { "type": "string", "value": "[format('{0}-{1}',
                                                                    'hello', 'coffer')]" } }
    }""")
    assert az.tsv("deployment", "group", "create", "-g", "lenient-rg", "--template-file", str(template),
                  "--query", "properties.outputs.greeting.value") == "hello-coffer"
    assert az.tsv("identity", "list", "-g", "lenient-rg", "--query", "[].name") == "commented-identity"
    # What ARM refuses is still refused, with the resource manager's error code.
    broken = tmp_path / "broken.json"
    broken.write_text('{"resources": [], "outputs": {"x": {"type": "string", "value": "[parameters(\'missing\')]"}}}')
    result = az("deployment", "group", "create", "-g", "lenient-rg", "--template-file", str(broken), check=False)
    assert result.returncode != 0 and "ERROR:" in result.stderr and "InvalidTemplate" in result.stderr, result.stderr


def test_resource_providers_and_api_version_discovery(az, coffer):
    """`az feature register` tells its user to run `az provider register`; `az resource show` without `--api-version`
    picks one from the provider's resource types. Both need the provider API."""
    az("provider", "register", "-n", "Microsoft.ContainerRegistry", "--wait")
    assert az.tsv("provider", "show", "-n", "Microsoft.ContainerRegistry", "--query", "registrationState") == "Registered"
    namespaces = az.tsv("provider", "list", "--query", "sort([].namespace) | join(' ', @)").split()
    assert {"Microsoft.ContainerRegistry", "Microsoft.KeyVault", "Microsoft.ManagedIdentity"} <= set(namespaces), namespaces
    registry_id = az.tsv("acr", "show", "-n", "coffer", "--query", "id")
    assert az.tsv("resource", "show", "--ids", registry_id, "--query", "properties.loginServer") == f"coffer.cr.localhost:{coffer.port}"
    unknown = az("provider", "show", "-n", "Microsoft.Compute", check=False)
    assert unknown.returncode != 0 and "InvalidResourceNamespace" in unknown.stderr, unknown.stderr
    refused = az("provider", "unregister", "-n", "Microsoft.ContainerRegistry", check=False)
    assert refused.returncode != 0 and "always registered" in refused.stderr, refused.stderr


def test_graph_service_principals_and_role_assignments(az, coffer):
    subscription = coffer.operator()["subscriptionId"]
    az("group", "create", "--name", "rbac-rg", "--location", "westeurope")
    scope = f"/subscriptions/{subscription}/resourceGroups/rbac-rg"
    created = az.json("ad", "sp", "create-for-rbac", "--name", "ci-pusher", "--role", "AcrPush", "--scopes", scope)
    app_id, password, tenant = created["appId"], created["password"], created["tenant"]
    assert tenant == coffer.operator()["tenantId"] and password

    # The new principal is in Graph, by appId and by display name.
    sp_id = az.tsv("ad", "sp", "show", "--id", app_id, "--query", "id")
    assert az.tsv("ad", "sp", "list", "--display-name", "ci-pusher", "--query", "[].appId") == app_id
    assert az.tsv("ad", "app", "show", "--id", app_id, "--query", "displayName") == "ci-pusher"
    # Its role assignment, listed by assignee (az resolves the appId through Graph).
    assert az.tsv("role", "assignment", "list", "--assignee", app_id, "--scope", scope, "--query", "[].roleDefinitionName") == "AcrPush"
    assert az.tsv("role", "definition", "list", "--name", "AcrPull", "--query", "[].roleName") == "AcrPull"

    # Assign and remove a second role by object id.
    az("role", "assignment", "create", "--assignee", sp_id, "--role", "Reader", "--scope", scope)
    roles = az.tsv("role", "assignment", "list", "--assignee", sp_id, "--scope", scope, "--query", "sort([].roleDefinitionName)")
    assert roles.split() == ["AcrPush", "Reader"]
    az("role", "assignment", "delete", "--assignee", sp_id, "--role", "Reader", "--scope", scope)
    assert az.tsv("role", "assignment", "list", "--assignee", sp_id, "--scope", scope, "--query", "[].roleDefinitionName") == "AcrPush"

    # The new principal signs in with the password Graph gave it; a reset replaces it.
    def token_for(secret):
        import requests
        return requests.post(f"https://localhost:{coffer.port}/{tenant}/oauth2/v2.0/token", verify=coffer.ca, timeout=30, data={
            "grant_type": "client_credentials", "client_id": app_id, "client_secret": secret,
            "scope": f"https://localhost:{coffer.port}/.default"}).status_code
    assert token_for(password) == 200
    reset = az.json("ad", "sp", "credential", "reset", "--id", app_id)
    assert token_for(reset["password"]) == 200 and token_for(password) == 401

    # Deleting the service principal ends its sign-in.
    az("ad", "sp", "delete", "--id", app_id)
    assert az("ad", "sp", "show", "--id", app_id, check=False).returncode != 0
    assert token_for(reset["password"]) == 401


def test_rbac_vault_keys_with_default_az_keyvault_create(az, coffer, tmp_path):
    """`az keyvault create` defaults to an RBAC vault: the creator grants itself a data role, then uses every key command."""
    az("group", "create", "--name", "keys-rg", "--location", "westeurope")
    vault_id = az.tsv("keyvault", "create", "--name", "keysvault", "-g", "keys-rg", "--query", "id")
    assert az.tsv("keyvault", "show", "--name", "keysvault", "--query", "properties.enableRbacAuthorization") == "true"
    az("role", "assignment", "create", "--assignee", coffer.operator()["clientId"], "--role", "Key Vault Crypto Officer", "--scope", vault_id)
    kid = az.tsv("keyvault", "key", "create", "--vault-name", "keysvault", "-n", "k1", "--kty", "RSA", "--query", "key.kid")
    assert "/keys/k1/" in kid
    assert az.tsv("keyvault", "key", "list", "--vault-name", "keysvault", "--query", "[].name") == "k1"
    assert az.tsv("keyvault", "key", "show", "--vault-name", "keysvault", "-n", "k1", "--query", "key.kty") == "RSA"
    ciphertext = az.tsv("keyvault", "key", "encrypt", "--vault-name", "keysvault", "-n", "k1", "--algorithm", "RSA-OAEP-256",
                        "--value", "aGVsbG8=", "--data-type", "base64", "--query", "result")
    assert az.tsv("keyvault", "key", "decrypt", "--vault-name", "keysvault", "-n", "k1", "--algorithm", "RSA-OAEP-256",
                  "--value", ciphertext, "--data-type", "base64", "--query", "result") == "aGVsbG8="
    policy = az.json("keyvault", "key", "rotation-policy", "show", "--vault-name", "keysvault", "-n", "k1")
    assert "lifetimeActions" in policy
    rotated = az.tsv("keyvault", "key", "rotate", "--vault-name", "keysvault", "-n", "k1", "--query", "key.kid")
    assert rotated != kid
    assert len(az.json("keyvault", "key", "list-versions", "--vault-name", "keysvault", "-n", "k1")) == 2
    digest = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    signature = az.tsv("keyvault", "key", "sign", "--vault-name", "keysvault", "-n", "k1", "--algorithm", "RS256", "--digest", digest,
                       "--query", "signature")
    assert az.tsv("keyvault", "key", "verify", "--vault-name", "keysvault", "-n", "k1", "--algorithm", "RS256", "--digest", digest,
                  "--signature", signature, "--query", "isValid") == "true"
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}],
                                  "attributes": {"expiryTime": "P2Y"}}))
    assert az.tsv("keyvault", "key", "rotation-policy", "update", "--vault-name", "keysvault", "-n", "k1", "--value", f"@{policy}",
                  "--query", "lifetimeActions[0].timeAfterCreate") == "P90D"
    az("keyvault", "key", "set-attributes", "--vault-name", "keysvault", "-n", "k1", "--enabled", "false")
    assert az.tsv("keyvault", "key", "show", "--vault-name", "keysvault", "-n", "k1", "--query", "attributes.enabled") == "false"
    az("keyvault", "key", "set-attributes", "--vault-name", "keysvault", "-n", "k1", "--enabled", "true")
    backup = tmp_path / "k1.backup"
    az("keyvault", "key", "backup", "--vault-name", "keysvault", "-n", "k1", "--file", str(backup))
    az("keyvault", "key", "delete", "--vault-name", "keysvault", "-n", "k1")
    assert az.tsv("keyvault", "key", "list-deleted", "--vault-name", "keysvault", "--query", "[].name") == "k1"
    assert az.tsv("keyvault", "key", "recover", "--vault-name", "keysvault", "-n", "k1", "--query", "key.kid").startswith(
        f"https://keysvault.vault.localhost:{coffer.port}/keys/k1/")
    # Deleted and purged (this vault has no purge protection), then restored from its backup.
    az("keyvault", "key", "delete", "--vault-name", "keysvault", "-n", "k1")
    az("keyvault", "key", "purge", "--vault-name", "keysvault", "-n", "k1")
    assert az.tsv("keyvault", "key", "restore", "--vault-name", "keysvault", "--file", str(backup), "--query", "key.kid") == rotated
    pem = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(pem), "2048"], check=True, capture_output=True)
    assert az.tsv("keyvault", "key", "import", "--vault-name", "keysvault", "-n", "imported", "--pem-file", str(pem), "--query", "key.kty") == "RSA"
    assert az.tsv("keyvault", "key", "create", "--vault-name", "keysvault", "-n", "ec1", "--kty", "EC", "--curve", "P-256",
                  "--query", "key.crv") == "P-256"

    # The vault itself: soft delete, list-deleted, recover, purge.
    az("keyvault", "delete", "--name", "keysvault")
    assert az.tsv("keyvault", "list-deleted", "--query", "[].name") == "keysvault"
    assert az.tsv("keyvault", "recover", "--name", "keysvault", "--query", "name") == "keysvault"
    az("keyvault", "delete", "--name", "keysvault")
    az("keyvault", "purge", "--name", "keysvault")
    assert az.tsv("keyvault", "list-deleted", "--query", "length(@)") == "0"


def skopeo(*args):
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)


def test_registry_tokens_and_scope_maps(az, coffer, tmp_path):
    """Repository-scoped credentials: what a token's scope map allows and nothing more; disabled means refused now."""
    import requests
    az("group", "create", "--name", "tokens-rg", "--location", "westeurope")
    az("acr", "create", "-n", "tokreg", "-g", "tokens-rg", "--sku", "Standard")
    server = f"tokreg.cr.localhost:{coffer.port}"
    source = str(tmp_path / "source")
    build_image(source, "v1", [os.urandom(50_000)])
    admin = f"{coffer.username}:{coffer.password}"
    assert skopeo("copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", admin, f"oci:{source}:v1", f"docker://{server}/other:v1").returncode == 0

    az("acr", "scope-map", "create", "-n", "pushapp", "-r", "tokreg", "--repository", "app", "content/read", "content/write",
       "--description", "CI pushes app")
    assert az.tsv("acr", "scope-map", "show", "-n", "pushapp", "-r", "tokreg", "--query", "join(' ', sort(actions))") == \
        "repositories/app/content/read repositories/app/content/write"
    created = az.json("acr", "token", "create", "-n", "citoken", "-r", "tokreg", "--scope-map", "pushapp")
    assert created["status"] == "enabled" and created["scopeMapId"].endswith("/scopeMaps/pushapp")
    password = created["credentials"]["passwords"][0]["value"]
    creds = f"citoken:{password}"
    # Its scope map's repository, and only it.
    pushed = skopeo("copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", creds, f"oci:{source}:v1", f"docker://{server}/app:v1")
    assert pushed.returncode == 0, pushed.stderr
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{server}/app:v1").returncode == 0
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{server}/other:v1").returncode != 0
    assert skopeo("copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", creds, f"oci:{source}:v1",
                  f"docker://{server}/elsewhere:v1").returncode != 0
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", "citoken:wrong-password", f"docker://{server}/app:v1").returncode != 0

    # A read-only token made with --repository: it gets its own scope map; it pulls and cannot push.
    read_only = az.json("acr", "token", "create", "-n", "readtoken", "-r", "tokreg", "--repository", "app", "content/read")
    reader = f"readtoken:{read_only['credentials']['passwords'][1]['value']}"
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", reader, f"docker://{server}/app:v1").returncode == 0
    assert skopeo("copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", reader, f"oci:{source}:v1", f"docker://{server}/app:v2").returncode != 0
    assert az.tsv("acr", "token", "list", "-r", "tokreg", "--query", "join(' ', sort([].name))") == "citoken readtoken"
    assert "readtoken-scope-map" in az.tsv("acr", "scope-map", "list", "-r", "tokreg", "--query", "[].name").split()

    # Disabled: refused at once, even with an access token issued before.
    bearer = requests.get(f"https://{server}/oauth2/token", params={"service": server, "scope": "repository:app:pull"},
                          auth=("citoken", password), verify=coffer.ca, timeout=30).json()["access_token"]
    manifest = f"https://{server}/v2/app/manifests/v1"
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    assert requests.get(manifest, headers={"Authorization": f"Bearer {bearer}", **accept}, verify=coffer.ca, timeout=30).status_code == 200
    az("acr", "token", "update", "-n", "citoken", "-r", "tokreg", "--status", "disabled")
    assert requests.get(manifest, headers={"Authorization": f"Bearer {bearer}", **accept}, verify=coffer.ca, timeout=30).status_code == 401
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{server}/app:v1").returncode != 0
    az("acr", "token", "update", "-n", "citoken", "-r", "tokreg", "--status", "enabled")
    assert requests.get(manifest, headers={"Authorization": f"Bearer {bearer}", **accept}, verify=coffer.ca, timeout=30).status_code == 200

    # New passwords; a deleted one stops working.
    password2 = az.tsv("acr", "token", "credential", "generate", "-n", "citoken", "-r", "tokreg", "--password2", "--query", "passwords[0].value")
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", f"citoken:{password2}", f"docker://{server}/app:v1").returncode == 0
    az("acr", "token", "credential", "delete", "-n", "citoken", "-r", "tokreg", "--password1")
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{server}/app:v1").returncode != 0
    # The access token granted for the deleted password ends with it.
    assert requests.get(manifest, headers={"Authorization": f"Bearer {bearer}", **accept}, verify=coffer.ca, timeout=30).status_code == 401
    assert az.tsv("acr", "token", "show", "-n", "citoken", "-r", "tokreg", "--query", "credentials.passwords[].name") == "password2"

    # A wider scope map opens the other repository; a deleted token opens nothing.
    az("acr", "scope-map", "update", "-n", "pushapp", "-r", "tokreg", "--add-repository", "other", "content/read")
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", f"citoken:{password2}", f"docker://{server}/other:v1").returncode == 0
    az("acr", "token", "delete", "-n", "citoken", "-r", "tokreg", "--yes")
    assert skopeo("inspect", "--cert-dir", coffer.cert_dir, "--creds", f"citoken:{password2}", f"docker://{server}/app:v1").returncode != 0

    # System scope maps are listed and cannot be changed; usage counts the bytes stored.
    assert "_repositories_pull" in az.tsv("acr", "scope-map", "list", "-r", "tokreg", "--query", "[].name").split()
    refused = az("acr", "scope-map", "delete", "-n", "_repositories_pull", "-r", "tokreg", "--yes", check=False)
    assert refused.returncode != 0 and "SystemScopeMapCannotBeDeleted" in refused.stderr
    usage = az.json("acr", "show-usage", "-n", "tokreg")["value"]
    size = next(entry for entry in usage if entry["name"] == "Size")
    assert size["unit"] == "Bytes" and size["limit"] == 100 * 1024 ** 3 and size["currentValue"] > 50_000


def test_acr_repository_commands(az, coffer, tmp_path):
    """`az acr repository` reads and deletes through ACR's metadata API (`/acr/v1/…`), with the caller's Entra token."""
    az("group", "create", "--name", "repos-rg", "--location", "westeurope")
    az("acr", "create", "-n", "reporeg", "-g", "repos-rg", "--sku", "Basic")
    server = f"reporeg.cr.localhost:{coffer.port}"
    source = str(tmp_path / "source")
    build_image(source, "v1", [os.urandom(20_000)])
    admin = f"{coffer.username}:{coffer.password}"
    for destination in ("team/app:v1", "team/app:stable", "tools:v1"):
        assert skopeo("copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", admin, f"oci:{source}:v1",
                      f"docker://{server}/{destination}").returncode == 0
    assert az.tsv("acr", "repository", "list", "-n", "reporeg", "--query", "join(' ', @)") == "team/app tools"
    assert az.tsv("acr", "repository", "show-tags", "-n", "reporeg", "--repository", "team/app", "--query", "join(' ', @)") == "stable v1"
    shown = az.json("acr", "repository", "show", "-n", "reporeg", "--repository", "team/app")
    assert shown["tagCount"] == 2 and shown["manifestCount"] == 1 and shown["registry"] == server
    digest = az.tsv("acr", "repository", "show", "-n", "reporeg", "--image", "team/app:v1", "--query", "digest")
    assert digest.startswith("sha256:")
    manifests = az.json("acr", "manifest", "list-metadata", "-r", "reporeg", "-n", "team/app")
    assert [m["digest"] for m in manifests] == [digest] and sorted(manifests[0]["tags"]) == ["stable", "v1"]
    # Image locks (`az acr repository update`, ACR's changeable attributes): a write-locked tag is neither moved nor
    # deleted, a delete-locked repository is not deleted; lifted, both are.
    locked = az.json("acr", "repository", "update", "-n", "reporeg", "--image", "team/app:stable", "--write-enabled", "false")
    assert locked["changeableAttributes"]["writeEnabled"] is False and locked["changeableAttributes"]["deleteEnabled"] is True, locked
    assert az.tsv("acr", "repository", "show", "-n", "reporeg", "--image", "team/app:stable",
                  "--query", "changeableAttributes.writeEnabled").lower() == "false"
    refused = az("acr", "repository", "untag", "-n", "reporeg", "--image", "team/app:stable", check=False)
    assert refused.returncode != 0 and "locked" in refused.stderr, refused.stderr
    build_image(str(tmp_path / "other"), "v2", [os.urandom(10_000)])
    moved = skopeo("copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", admin, f"oci:{tmp_path / 'other'}:v2",
                   f"docker://{server}/team/app:stable")
    assert moved.returncode != 0 and "denied" in moved.stderr.lower(), moved.stderr
    az("acr", "repository", "update", "-n", "reporeg", "--repository", "team/app", "--delete-enabled", "false")
    undeletable = az("acr", "repository", "delete", "-n", "reporeg", "--repository", "team/app", "--yes", check=False)
    assert undeletable.returncode != 0, undeletable.stdout
    az("acr", "repository", "update", "-n", "reporeg", "--repository", "team/app", "--delete-enabled", "true")
    az("acr", "repository", "update", "-n", "reporeg", "--image", "team/app:stable", "--write-enabled", "true")
    az("acr", "repository", "untag", "-n", "reporeg", "--image", "team/app:stable")
    assert az.tsv("acr", "repository", "show-tags", "-n", "reporeg", "--repository", "team/app", "--query", "join(' ', @)") == "v1"
    deleted = az.json("acr", "repository", "delete", "-n", "reporeg", "--repository", "team/app", "--yes")
    assert deleted["manifestsDeleted"] == [digest] and deleted["tagsDeleted"] == ["v1"]
    assert az.tsv("acr", "repository", "list", "-n", "reporeg", "--query", "join(' ', @)") == "tools"
    missing = az("acr", "repository", "show", "-n", "reporeg", "--repository", "team/app", check=False)
    assert missing.returncode != 0 and "ERROR:" in missing.stderr

    # az acr import, from another registry of this server (by login server, then by --registry), under the target's key.
    az("acr", "create", "-n", "importreg", "-g", "repos-rg", "--sku", "Basic")
    az("acr", "import", "-n", "importreg", "--source", f"{server}/tools:v1", "-t", "copied/tools:v1")
    assert az.tsv("acr", "repository", "show-tags", "-n", "importreg", "--repository", "copied/tools", "--query", "join(' ', @)") == "v1"
    again = az("acr", "import", "-n", "importreg", "--source", "tools:v1", "-r", "reporeg", "-t", "copied/tools:v1", check=False)
    assert again.returncode != 0 and "TagAlreadyExists" in again.stderr
    az("acr", "import", "-n", "importreg", "--source", "tools:v1", "-r", "reporeg", "-t", "copied/tools:v1", "--force")
    back = str(tmp_path / "back")
    pulled = skopeo("copy", "--src-cert-dir", coffer.cert_dir, "--src-creds", admin, f"docker://importreg.cr.localhost:{coffer.port}/copied/tools:v1",
                    f"oci:{back}:v1")
    assert pulled.returncode == 0, pulled.stderr
    missing = az("acr", "import", "-n", "importreg", "--source", f"{server}/tools:absent", "-t", "x:y", check=False)
    assert missing.returncode != 0 and "ImageNotFound" in missing.stderr


def port_443_is_free():
    import socket
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections of an earlier server may linger in TIME_WAIT
        try:
            sock.bind(("127.0.0.1", 443))
            return True
        except OSError:
            return False


def test_az_login_as_a_user(tmp_path):
    """`az login -u … -p …` for a person: MSAL's password grant, then az lists subscriptions and reads Graph's /me.
    MSAL asks for the user realm at the authority's host on port 443 whatever the configured port, so this needs
    Coffer on 443 (as a production deployment would be); it is skipped where 443 is taken."""
    if not AZ:
        pytest.skip("no Azure CLI: run through scripts/test, which installs it")
    if not port_443_is_free():
        pytest.skip("port 443 is in use; MSAL's user-realm discovery only reaches 443")
    from conftest import Coffer
    os.makedirs(tmp_path / "server")
    server = Coffer(str(tmp_path / "server"), port=443)
    try:
        operator_cli = AzureCLI(server, tmp_path / "operator")
        operator = operator_cli.sign_in()
        password = "a pass phrase for alice"
        user = operator_cli.json("ad", "user", "create", "--display-name", "Alice", "--password", password,
                                 "--user-principal-name", "alice@coffer.localhost")
        assert user["userPrincipalName"] == "alice@coffer.localhost" and "passwordProfile" not in user
        operator_cli("role", "assignment", "create", "--assignee-object-id", user["id"], "--assignee-principal-type", "User",
                     "--role", "Reader", "--scope", f"/subscriptions/{operator['subscriptionId']}")
        alice = AzureCLI(server, tmp_path / "alice")
        alice("cloud", "register", "-n", "coffer", "--endpoint-resource-manager", "https://localhost:443/")
        alice("cloud", "set", "-n", "coffer")
        alice("config", "set", "core.instance_discovery=false")
        refused = alice("login", "-t", operator["tenantId"], "-u", "alice@coffer.localhost", "-p", "not her password", check=False)
        assert refused.returncode != 0 and "AADSTS50126" in refused.stderr
        alice("login", "-t", operator["tenantId"], "-u", "alice@coffer.localhost", "-p", password)
        account = alice.json("account", "show")
        assert account["user"] == {"name": "alice@coffer.localhost", "type": "user"} and account["id"] == operator["subscriptionId"]
        assert "coffer" in [group["name"] for group in alice.json("group", "list")]
        assert alice.json("ad", "signed-in-user", "show")["id"] == user["id"]
        # Her role is Reader: writes are refused by the resource manager, as for any principal.
        denied = alice("group", "create", "-n", "hers", "-l", "westeurope", check=False)
        assert denied.returncode != 0 and "AuthorizationFailed" in denied.stderr
    finally:
        server.stop()
        server.log.close()
