"""Who may use a registry, as ACR has it: the admin user (two passwords, listCredentials/regenerateCredential),
Entra principals through `/oauth2/exchange` and their roles (AcrPull, AcrPush, ...), `acr login`, and
`acr repository` over that flow. skopeo pushes and pulls with each kind of credential."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid

import requests

from oci_layout import build_image
from test_cli import coffer_cli

NULL_USER = "00000000-0000-0000-0000-000000000000"


def skopeo_push(coffer, tmp_path, server, repository, tag, *credentials):
    source = str(tmp_path / f"src-{uuid.uuid4().hex[:8]}")
    build_image(source, tag, [os.urandom(20_000)])
    return subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, *credentials, f"oci:{source}:{tag}",
                           f"docker://{server}/{repository}:{tag}"], capture_output=True, text=True, timeout=120)


def new_registry(coffer, name):
    coffer_cli(coffer, "group", "create", "--name", "acr-rg", "--location", "westeurope")
    return coffer_cli(coffer, "acr", "create", "-n", name, "-g", "acr-rg", "--sku", "Basic",
                      "--query", "loginServer", "-o", "tsv").stdout.strip()


def test_admin_user_credentials(coffer, tmp_path):
    server = new_registry(coffer, "adminreg")
    refused = coffer_cli(coffer, "acr", "credential", "show", "-n", "adminreg", check=False)
    assert refused.returncode == 1 and "AdminUserDisabled" in refused.stderr
    coffer_cli(coffer, "acr", "update", "-n", "adminreg", "--admin-enabled", "true")
    credentials = json.loads(coffer_cli(coffer, "acr", "credential", "show", "-n", "adminreg").stdout)
    assert credentials["username"] == "adminreg" and [p["name"] for p in credentials["passwords"]] == ["password", "password2"]
    first, second = (p["value"] for p in credentials["passwords"])
    assert skopeo_push(coffer, tmp_path, server, "app", "v1", "--dest-creds", f"adminreg:{first}").returncode == 0
    # The admin user of one registry is nobody at another.
    other = coffer_cli(coffer, "acr", "create", "-n", "otherreg", "-g", "acr-rg", "--sku", "Basic",
                       "--query", "loginServer", "-o", "tsv").stdout.strip()
    assert skopeo_push(coffer, tmp_path, other, "app", "v1", "--dest-creds", f"adminreg:{first}").returncode != 0
    # Renewing one password retires it; the other keeps working.
    renewed = json.loads(coffer_cli(coffer, "acr", "credential", "renew", "-n", "adminreg", "--password-name", "password").stdout)
    assert renewed["passwords"][0]["value"] != first and renewed["passwords"][1]["value"] == second
    assert skopeo_push(coffer, tmp_path, server, "app", "v2", "--dest-creds", f"adminreg:{first}").returncode != 0
    assert skopeo_push(coffer, tmp_path, server, "app", "v2", "--dest-creds", f"adminreg:{second}").returncode == 0
    # Disabling the admin user retires both.
    coffer_cli(coffer, "acr", "update", "-n", "adminreg", "--admin-enabled", "false")
    assert skopeo_push(coffer, tmp_path, server, "app", "v3", "--dest-creds", f"adminreg:{second}").returncode != 0
    # Passwords rest sealed: neither appears in the data directory.
    coffer_cli(coffer, "acr", "update", "-n", "adminreg", "--admin-enabled", "true")
    fresh = [p["value"] for p in json.loads(coffer_cli(coffer, "acr", "credential", "show", "-n", "adminreg").stdout)["passwords"]]
    for folder, _, files in os.walk(coffer.data_dir):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                content = handle.read()
            assert not any(password.encode() in content for password in fresh), name


def test_acr_login_and_repository_commands(coffer, tmp_path):
    server = new_registry(coffer, "loginreg")
    exposed = json.loads(coffer_cli(coffer, "acr", "login", "-n", "loginreg", "--expose-token").stdout)
    assert exposed["loginServer"] == server
    assert skopeo_push(coffer, tmp_path, server, "app", "v1", "--dest-creds", f"{NULL_USER}:{exposed['accessToken']}").returncode == 0
    # Without --expose-token the token goes to the auth file skopeo reads.
    auth_file = str(tmp_path / "auth.json")
    coffer_cli(coffer, "acr", "login", "-n", "loginreg", "--auth-file", auth_file)
    with open(auth_file) as handle:
        entry = json.load(handle)["auths"][server]["auth"]
    assert base64.b64decode(entry).decode().startswith(NULL_USER + ":")
    assert skopeo_push(coffer, tmp_path, server, "tools/cli", "v2", "--authfile", auth_file).returncode == 0
    repositories = json.loads(coffer_cli(coffer, "acr", "repository", "list", "-n", "loginreg").stdout)
    assert repositories == ["app", "tools/cli"]
    assert json.loads(coffer_cli(coffer, "acr", "repository", "show-tags", "-n", "loginreg", "--repository", "app").stdout) == ["v1"]
    coffer_cli(coffer, "acr", "repository", "delete", "-n", "loginreg", "--image", "app:v1", "--yes")
    assert json.loads(coffer_cli(coffer, "acr", "repository", "show-tags", "-n", "loginreg", "--repository", "app").stdout) in ([], None)
    # A token is bound to its registry.
    other = coffer_cli(coffer, "acr", "create", "-n", "elsewhere", "-g", "acr-rg", "--sku", "Basic",
                       "--query", "loginServer", "-o", "tsv").stdout.strip()
    assert skopeo_push(coffer, tmp_path, other, "app", "v1", "--dest-creds", f"{NULL_USER}:{exposed['accessToken']}").returncode != 0


ROLES = {  # role definition IDs, as Azure has them
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d", "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "AcrDelete": "c2f4ef07-c644-48eb-af81-4b1b4947fb11", "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
}


class RoleHolder:
    """A managed identity, holding `role` on the registry (or nothing), that reaches the registry as ACR's Entra flow
    has it: an Entra token for the identity, exchanged at `/oauth2/exchange` for a refresh token, which skopeo then
    uses as the password of the null user."""

    def __init__(self, coffer, server, registry_id, role):
        self.coffer, self.server = coffer, server
        self.identity = json.loads(coffer_cli(coffer, "identity", "create", "-n", f"id-{(role or 'none').lower()}", "-g", "acr-rg").stdout)
        self.header = coffer.workload_environment(self.identity["id"])["IDENTITY_HEADER"]
        if role:
            operator = coffer.operator()
            assigned = requests.put(f"https://{coffer.host}{registry_id}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
                                    params={"api-version": "2022-04-01"}, headers={"Authorization": f"Bearer {coffer.operator_token()}"},
                                    verify=coffer.ca, timeout=30, json={"properties": {"principalId": self.identity["principalId"], "roleDefinitionId":
                                        f"/subscriptions/{operator['subscriptionId']}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}"}})
            assert assigned.status_code == 201, assigned.text

    def entra_token(self):
        response = requests.get(f"https://localhost:{self.coffer.port}/msi/token", headers={"X-IDENTITY-HEADER": self.header}, verify=self.coffer.ca,
                                timeout=30, params={"api-version": "2019-08-01", "resource": f"https://localhost:{self.coffer.port}",
                                                    "client_id": self.identity["clientId"]})
        return response.json()["access_token"]

    def refresh_token(self):
        refresh = requests.post(f"https://{self.server}/oauth2/exchange", verify=self.coffer.ca, timeout=30, data={
            "grant_type": "access_token", "service": self.server, "access_token": self.entra_token()})
        assert refresh.status_code == 200, refresh.text
        return refresh.json()["refresh_token"]

    def access(self, scope):
        """The access a registry token for `scope` carries, and the token."""
        response = requests.post(f"https://{self.server}/oauth2/token", verify=self.coffer.ca, timeout=30, data={
            "grant_type": "refresh_token", "service": self.server, "scope": scope, "refresh_token": self.refresh_token()})
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["access"], token

    def skopeo(self, *args):
        return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)

    def can_pull(self, tmp_path, reference):
        return self.skopeo("copy", "--src-cert-dir", self.coffer.cert_dir, "--src-creds", f"{NULL_USER}:{self.refresh_token()}",
                           f"docker://{self.server}/{reference}", f"oci:{tmp_path / uuid.uuid4().hex}:x").returncode == 0

    def can_push(self, tmp_path, repository, tag):
        return skopeo_push(self.coffer, tmp_path, self.server, repository, tag, "--dest-creds", f"{NULL_USER}:{self.refresh_token()}").returncode == 0

    def can_delete(self, repository, digest):
        """Through the distribution API with the token this identity gets (skopeo's delete reads the manifest first,
        which a delete-only role such as AcrDelete may not)."""
        _, token = self.access(f"repository:{repository}:delete")
        response = requests.delete(f"https://{self.server}/v2/{repository}/manifests/{digest}", verify=self.coffer.ca, timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (202, 401, 403), response.text
        return response.status_code == 202


def test_each_role_does_with_skopeo_what_it_allows(coffer, tmp_path):
    server = new_registry(coffer, "rolesreg")
    registry_id = coffer_cli(coffer, "acr", "show", "-n", "rolesreg", "--query", "id", "-o", "tsv").stdout.strip()
    admin = ("--dest-creds", f"{coffer.username}:{coffer.password}")
    assert skopeo_push(coffer, tmp_path, server, "app", "v1", *admin).returncode == 0
    # pull, push, delete — as ACR's built-in roles allow them (Reader reads through `*/read`, Contributor holds `*`).
    expected = {None: (False, False, False), "AcrPull": (True, False, False), "AcrPush": (True, True, False),
                "AcrDelete": (False, False, True), "Reader": (True, False, False), "Contributor": (True, True, True)}
    for role, (pull, push, delete) in expected.items():
        holder = RoleHolder(coffer, server, registry_id, role)
        # The token carries exactly what the role allows of what was asked.
        access, _ = holder.access("repository:app:pull,push,delete")
        granted = access[0]["actions"] if access else []
        assert sorted(granted) == sorted(a for a, allowed in zip(("pull", "push", "delete"), (pull, push, delete)) if allowed), (role, access)
        # And skopeo, with nothing but that identity's refresh token, can pull and push as that and no more.
        assert holder.can_pull(tmp_path, "app:v1") == pull, role
        assert holder.can_push(tmp_path, "app", f"by-{(role or 'none').lower()}") == push, role
        victim = tmp_path / f"victim-{(role or 'none').lower()}"
        build_image(str(victim), "v1", [os.urandom(5_000)])
        copied = subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, *admin, f"oci:{victim}:v1",
                                 f"docker://{server}/app:del-{(role or 'none').lower()}"], capture_output=True, text=True, timeout=120)
        assert copied.returncode == 0, copied.stderr
        digest = "sha256:" + hashlib.sha256(requests.get(f"https://{server}/v2/app/manifests/del-{(role or 'none').lower()}", verify=coffer.ca, timeout=30,
                                                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json",
                                                                   "Authorization": f"Bearer {coffer.token('repository:app:pull', service=server)}"}).content).hexdigest()
        assert holder.can_delete("app", digest) == delete, role
        still_there = requests.head(f"https://{server}/v2/app/manifests/{digest}", verify=coffer.ca, timeout=30,
                                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json",
                                             "Authorization": f"Bearer {coffer.token('repository:app:pull', service=server)}"}).status_code == 200
        assert still_there != delete, role
    # A forged token is refused at the exchange.
    forged = requests.post(f"https://{server}/oauth2/exchange", verify=coffer.ca, timeout=30, data={
        "grant_type": "access_token", "service": server, "access_token": holder.entra_token()[:-4] + "AAAA"})
    assert forged.status_code == 401


def test_audiences_come_from_configuration_not_from_the_host_header(coffer):
    """A token for the vault must not open the registry exchange or the resource manager, whatever Host the request names."""
    vault_audience = f"https://vault.localhost:{coffer.port}"
    vault_token = coffer.operator_token(vault_audience)
    server = f"coffer.cr.localhost:{coffer.port}"
    for host in [f"vault.localhost:{coffer.port}", server, f"localhost:{coffer.port}"]:
        exchanged = requests.post(f"https://localhost:{coffer.port}/oauth2/exchange", verify=coffer.ca, timeout=30,
                                  headers={"Host": host}, data={"grant_type": "access_token", "service": server, "access_token": vault_token})
        assert exchanged.status_code == 401, (host, exchanged.text)
    operator = coffer.operator()
    listed = requests.get(f"https://localhost:{coffer.port}/subscriptions/{operator['subscriptionId']}/resourcegroups",
                          params={"api-version": "2021-04-01"}, headers={"Host": f"vault.localhost:{coffer.port}",
                                                                         "Authorization": f"Bearer {vault_token}"},
                          verify=coffer.ca, timeout=30)
    assert listed.status_code == 401 and listed.json()["error"]["code"] == "InvalidAuthenticationToken", listed.text
    # The configured audience still works, through either name of the server.
    arm = coffer.operator_token()
    for host in [f"localhost:{coffer.port}", f"127.0.0.1:{coffer.port}"]:
        ok = requests.get(f"https://localhost:{coffer.port}/subscriptions/{operator['subscriptionId']}/resourcegroups",
                          params={"api-version": "2021-04-01"}, headers={"Host": host, "Authorization": f"Bearer {arm}"},
                          verify=coffer.ca, timeout=30)
        assert ok.status_code == 200, ok.text
    assert requests.post(f"https://{server}/oauth2/exchange", verify=coffer.ca, timeout=30, data={
        "grant_type": "access_token", "service": server, "access_token": arm}).status_code == 200


def test_network_rules_decide_which_addresses_reach_the_data(coffer, tmp_path):
    coffer_cli(coffer, "group", "create", "--name", "acr-rg", "--location", "westeurope")
    operator = coffer.operator()
    arm = coffer.operator_token()
    url = (f"https://{coffer.host}/subscriptions/{operator['subscriptionId']}/resourceGroups/acr-rg"
           "/providers/Microsoft.ContainerRegistry/registries/firewalled")

    def put(body):
        return requests.put(url, params={"api-version": "2023-07-01"}, json=body, headers={"Authorization": f"Bearer {arm}"},
                            verify=coffer.ca, timeout=30)

    def rules(default_action, *values, sku="Premium"):
        return {"location": "westeurope", "sku": {"name": sku}, "properties": {"networkRuleSet": {
            "defaultAction": default_action, "ipRules": [{"action": "Allow", "value": value} for value in values]}}}

    assert put(rules("Allow")).status_code == 201
    server = f"firewalled.cr.localhost:{coffer.port}"
    creds = ("--dest-creds", f"{coffer.username}:{coffer.password}")
    assert skopeo_push(coffer, tmp_path, server, "app", "v1", *creds).returncode == 0
    # Deny by default, with rules that do not cover loopback: refused, with ACR's message.
    assert put(rules("Deny", "203.0.113.0/24", "2001:db8::/32")).status_code == 200
    refused = skopeo_push(coffer, tmp_path, server, "app", "v2", *creds)
    assert refused.returncode != 0 and "403" in refused.stderr
    token = coffer.token("repository:app:pull", service=server)
    denied = requests.get(f"https://{server}/v2/app/tags/list", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "DENIED"
    assert "not allowed access" in denied.json()["errors"][0]["message"]
    # The base address's catalog (every registry, path-style) leaves out what the client may not reach.
    catalog_token = coffer.token("registry:catalog:*")

    def base_catalog():
        answer = requests.get(f"https://{coffer.host}/v2/_catalog", headers={"Authorization": f"Bearer {catalog_token}"},
                              verify=coffer.ca, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["repositories"]
    assert "firewalled/app" not in base_catalog()
    # Allowing loopback (both families, since the client may come over either) lets it in again.
    assert put(rules("Deny", "127.0.0.0/8", "::1")).status_code == 200
    assert skopeo_push(coffer, tmp_path, server, "app", "v2", *creds).returncode == 0
    assert "firewalled/app" in base_catalog()
    # Public network access off: nobody.
    body = rules("Allow")
    body["properties"]["publicNetworkAccess"] = "Disabled"
    assert put(body).status_code == 200
    assert requests.get(f"https://{server}/v2/app/tags/list", headers={"Authorization": f"Bearer {token}"},
                        verify=coffer.ca, timeout=30).status_code == 403
    # Malformed rules and non-Premium registries are refused.
    for value in ["not-an-address", "/", "", "10.0.0.0/", "/8", "10.0.0.0/33", "10.0.0.0/99999999999999999999", "::1/129"]:
        bad = put(rules("Deny", value))
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidIpRule", (value, bad.text)
    # The server is still up, and the rules in force are the last good ones.
    assert requests.get(f"https://{server}/v2/app/tags/list", headers={"Authorization": f"Bearer {token}"},
                        verify=coffer.ca, timeout=30).status_code == 403
    for value in ["10.0.0.0/8", "/", ""]:
        # A registry that may not have rules is told so first, whatever the rules say (a malformed one crashed the server).
        basic = requests.put(url.replace("firewalled", "basicfw"), params={"api-version": "2023-07-01"}, json=rules("Deny", value, sku="Basic"),
                             headers={"Authorization": f"Bearer {arm}"}, verify=coffer.ca, timeout=30)
        assert basic.status_code == 400 and basic.json()["error"]["code"] == "NetworkRulesRequirePremium", (value, basic.text)
    assert requests.get(f"https://{coffer.host}/healthz", verify=coffer.ca, timeout=30).status_code == 200


def test_retention_policy_purges_untagged_manifests(tmp_path):
    import hashlib
    import tempfile
    from conftest import Coffer
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir, ["--retention-check-seconds", "1"])
    try:
        coffer_cli(coffer, "group", "create", "--name", "acr-rg", "--location", "westeurope")
        operator = coffer.operator()
        arm = coffer.operator_token()
        url = (f"https://{coffer.host}/subscriptions/{operator['subscriptionId']}/resourceGroups/acr-rg"
               "/providers/Microsoft.ContainerRegistry/registries/retained")

        def put(sku, days, status="enabled"):
            return requests.put(url, params={"api-version": "2023-07-01"}, headers={"Authorization": f"Bearer {arm}"}, verify=coffer.ca, timeout=30,
                                json={"location": "westeurope", "sku": {"name": sku},
                                      "properties": {"policies": {"retentionPolicy": {"days": days, "status": status}}}})

        refused = put("Standard", 0)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "RetentionPolicyRequiresPremium"
        assert put("Premium", 400).json()["error"]["code"] == "InvalidRetentionDays"
        assert put("Premium", 0, status="disabled").status_code == 201
        server = f"retained.cr.localhost:{coffer.port}"
        token = coffer.token("repository:app:pull,push", service=server)
        headers = {"Authorization": f"Bearer {token}"}

        def blob(data):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            assert requests.post(f"https://{server}/v2/app/blobs/uploads/?digest={digest}", data=data, headers=headers,
                                 verify=coffer.ca, timeout=30).status_code == 201
            return {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len(data)}

        def manifest(reference, body, media_type):
            data = json.dumps(body).encode()
            response = requests.put(f"https://{server}/v2/app/manifests/{reference}", data=data, verify=coffer.ca, timeout=30,
                                    headers={**headers, "Content-Type": media_type})
            assert response.status_code == 201, response.text
            return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)

        config = dict(blob(b"{}"), mediaType="application/vnd.oci.image.config.v1+json")
        oci_manifest = "application/vnd.oci.image.manifest.v1+json"

        def image_body(payload):
            return {"schemaVersion": 2, "mediaType": oci_manifest, "config": config, "layers": [blob(payload)]}

        def by_digest(body, media_type):
            return manifest("sha256:" + hashlib.sha256(json.dumps(body).encode()).hexdigest(), body, media_type)

        tagged, _ = manifest("v1", image_body(os.urandom(1000)), oci_manifest)
        loose, _ = by_digest(image_body(b"loose"), oci_manifest)
        child, child_size = by_digest(image_body(b"child"), oci_manifest)
        manifest("multi", {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": oci_manifest, "digest": child, "size": child_size, "platform": {"architecture": "arm64", "os": "linux"}}]},
            "application/vnd.oci.image.index.v1+json")

        def exists(digest):
            return requests.head(f"https://{server}/v2/app/manifests/{digest}", verify=coffer.ca, timeout=30,
                                 headers={**headers, "Accept": "application/vnd.oci.image.manifest.v1+json"}).status_code == 200

        time.sleep(2.5)
        assert exists(loose), "a disabled policy must not purge"
        assert put("Premium", 0).status_code == 200
        deadline = time.time() + 20
        while exists(loose):
            assert time.time() < deadline, "the untagged manifest was never purged"
            time.sleep(0.5)
        assert exists(tagged) and exists(child), "tagged manifests and an index's children stay"
    finally:
        coffer.stop()
        coffer.log.close()
        shutil.rmtree(workdir, ignore_errors=True)
