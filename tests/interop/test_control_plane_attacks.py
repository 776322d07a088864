"""What a principal with an ordinary token tried against the control plane (issue 11), each now refused: widening
its own rights through a deployment, and attaching identities it has no rights on."""
import hashlib
import socket
import ssl
import time
import uuid

import pytest
import requests

API = "api-version=2021-04-01"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"


class Arm:
    def __init__(self, coffer):
        self.coffer = coffer
        self.operator = coffer.operator()
        self.subscription = f"/subscriptions/{self.operator['subscriptionId']}"
        self.operator_token = coffer.operator_token()

    def call(self, method, path, token=None, body=None, api=API):
        return requests.request(method, f"https://{self.coffer.host}{path}?{api}", json=body, verify=self.coffer.ca, timeout=30,
                                headers={"Authorization": f"Bearer {token or self.operator_token}"})

    def group(self, name):
        assert self.call("PUT", f"{self.subscription}/resourcegroups/{name}", body={"location": "westeurope"}).status_code in (200, 201)
        return f"{self.subscription}/resourceGroups/{name}"

    def identity(self, group, name):
        response = self.call("PUT", f"{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}", body={"location": "westeurope"},
                             api="api-version=2023-01-31")
        assert response.status_code in (200, 201), response.text
        return response.json()

    def assign(self, scope, principal, role, token=None):
        return self.call("PUT", f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}", token=token, api="api-version=2022-04-01",
                         body={"properties": {"principalId": principal,
                                              "roleDefinitionId": f"{self.subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"}})

    def token_of(self, identity):
        """An ARM token for a managed identity, from the App Service endpoint as its workload would get one."""
        header = self.coffer.workload_environment(identity["id"])["IDENTITY_HEADER"]
        response = requests.get(f"https://{self.coffer.host}/msi/token", headers={"X-IDENTITY-HEADER": header}, verify=self.coffer.ca, timeout=30,
                                params={"api-version": "2019-08-01", "resource": f"https://{self.coffer.host}",
                                        "client_id": identity["properties"]["clientId"]})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def deploy(self, group, name, template, token):
        started = self.call("PUT", f"{group}/providers/Microsoft.Resources/deployments/{name}", token=token,
                            body={"properties": {"mode": "Incremental", "template": template}})
        assert started.status_code == 201, started.text
        deadline = time.time() + 30
        while (state := self.call("GET", f"{group}/providers/Microsoft.Resources/deployments/{name}", token=token).json())[
                "properties"]["provisioningState"] == "Running":
            assert time.time() < deadline
            time.sleep(0.2)
        return state


def role_assignment_template(subscription, principal, role):
    return {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
            "resources": [{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": str(uuid.uuid4()),
                           "properties": {"principalId": principal,
                                          "roleDefinitionId": f"{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"}}]}


def test_a_contributor_cannot_make_itself_owner_through_a_deployment(coffer):
    arm = Arm(coffer)
    group = arm.group("escalation")
    attacker = arm.identity(group, "attacker")
    assert arm.assign(group, attacker["properties"]["principalId"], CONTRIBUTOR).status_code == 201
    token = arm.token_of(attacker)
    # The REST call is refused, as before.
    direct = arm.assign(group, attacker["properties"]["principalId"], OWNER, token=token)
    assert direct.status_code == 403 and direct.json()["error"]["code"] == "AuthorizationFailed", direct.text
    # The same grant through a template fails too, naming the action, and leaves no assignment behind.
    outcome = arm.deploy(group, "grant", role_assignment_template(arm.subscription, attacker["properties"]["principalId"], OWNER), token)
    assert outcome["properties"]["provisioningState"] == "Failed", outcome
    assert "roleAssignments/write" in str(outcome["properties"]["error"]), outcome
    still_contributor = arm.assign(group, attacker["properties"]["principalId"], OWNER, token=token)
    assert still_contributor.status_code == 403
    # The positive control: the operator (an Owner) deploys the same template and the grant takes effect.
    owner_outcome = arm.deploy(group, "grant-by-owner", role_assignment_template(arm.subscription, attacker["properties"]["principalId"], OWNER),
                               arm.operator_token)
    assert owner_outcome["properties"]["provisioningState"] == "Succeeded", owner_outcome
    assert arm.assign(group, attacker["properties"]["principalId"], CONTRIBUTOR, token=token).status_code == 201


def test_attaching_an_identity_needs_rights_on_it(coffer):
    arm = Arm(coffer)
    mine = arm.group("mine")
    theirs = arm.group("theirs")
    attacker = arm.identity(mine, "builder")
    own_identity = arm.identity(mine, "helper")
    privileged = arm.identity(theirs, "privileged")
    assert arm.assign(mine, attacker["properties"]["principalId"], CONTRIBUTOR).status_code == 201
    token = arm.token_of(attacker)
    registries = f"{mine}/providers/Microsoft.ContainerRegistry/registries"

    def registry(name, identity_ids):
        return arm.call("PUT", f"{registries}/{name}", token=token, api="api-version=2023-07-01", body={
            "location": "westeurope", "sku": {"name": "Premium"},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {} for identity_id in identity_ids}}})

    refused = registry("stealer", [privileged["id"]])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "LinkedAuthorizationFailed", refused.text
    # Another resource's system-assigned identity is not a user-assigned identity, whatever rights the caller has.
    owned = arm.call("PUT", f"{registries}/victim", api="api-version=2023-07-01",
                     body={"location": "westeurope", "sku": {"name": "Premium"}, "identity": {"type": "SystemAssigned"}})
    assert owned.status_code == 201, owned.text
    borrowed = registry("borrower", [owned.json()["id"]])
    assert borrowed.status_code == 400 and borrowed.json()["error"]["code"] == "InvalidUserAssignedIdentity", borrowed.text
    # Through a template, the same check holds.
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
                "resources": [{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "templated",
                               "location": "westeurope", "sku": {"name": "Premium"},
                               "identity": {"type": "UserAssigned", "userAssignedIdentities": {privileged["id"]: {}}}}]}
    outcome = arm.deploy(mine, "attach", template, token)
    assert outcome["properties"]["provisioningState"] == "Failed" and "assign/action" in str(outcome["properties"]["error"]), outcome
    # An identity the caller may use (Contributor on its group) attaches.
    allowed = registry("builder", [own_identity["id"]])
    assert allowed.status_code == 201, allowed.text


def test_collection_paths_and_missing_groups_tell_a_stranger_nothing(coffer):
    """Found by review: a write to a collection path (no resource name) indexed an empty list and took the server
    down, for any token of the tenant; and a missing group answered 404 where an existing one answered 403."""
    arm = Arm(coffer)
    group = arm.group("collections")
    stranger = arm.identity(group, "stranger")  # no role anywhere
    token = arm.token_of(stranger)
    for provider in ["Microsoft.KeyVault/vaults", "Microsoft.ContainerRegistry/registries", "Microsoft.Resources/deployments",
                     "Microsoft.ManagedIdentity/userAssignedIdentities"]:
        for method in ["PUT", "POST", "DELETE", "PATCH"]:
            response = arm.call(method, f"{group}/providers/{provider}", token=token, body={})
            assert response.status_code in (403, 404, 405), (provider, method, response.status_code, response.text)
    assert requests.get(f"https://{coffer.host}/healthz", verify=coffer.ca, timeout=30).status_code == 200
    existing = arm.call("GET", f"{group}/providers/Microsoft.KeyVault/vaults", token=token)
    missing = arm.call("GET", f"{arm.subscription}/resourceGroups/no-such-group/providers/Microsoft.KeyVault/vaults", token=token)
    assert (existing.status_code, existing.json()["error"]["code"]) == (403, "AuthorizationFailed"), existing.text
    assert (missing.status_code, missing.json()["error"]["code"]) == (403, "AuthorizationFailed"), missing.text
    # Whoever may read the subscription still learns that a group is missing.
    assert arm.call("GET", f"{arm.subscription}/resourceGroups/no-such-group/providers/Microsoft.KeyVault/vaults").status_code == 404


@pytest.mark.serve_args("--idle-connection-seconds", "2")
def test_idle_connections_are_closed(coffer):
    """Connections had no idle timeout: sockets that never send a request (or never finish its headers) stayed open."""
    context = ssl.create_default_context(cafile=coffer.ca)

    def seconds_until_closed(sent):
        """Sends `sent`, reads whatever comes, and says how long the server took to close; None if it never did."""
        with socket.create_connection(("127.0.0.1", coffer.port)) as raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
            if sent:
                tls.sendall(sent)
            tls.settimeout(30)
            started = time.time()
            received = b""
            try:
                while chunk := tls.recv(65536):
                    received += chunk
            except (ConnectionResetError, ssl.SSLError):
                pass
            except socket.timeout:
                return None, received
            return time.time() - started, received

    for sent in [b"", b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"]:
        elapsed, _ = seconds_until_closed(sent)
        assert elapsed is not None and elapsed < 20, (sent, elapsed)
    # A request that completes is answered, then the idle connection closes too.
    elapsed, received = seconds_until_closed(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200") and elapsed is not None and elapsed < 20, (received[:100], elapsed)


@pytest.mark.serve_args("--request-body-seconds", "2")
def test_a_trickled_body_is_cut_off(coffer):
    """A control-plane or token request whose body arrives a byte at a time held its connection for as long as the
    client kept sending (each byte reset the idle timeout): now its whole body must arrive within a deadline."""
    tenant = coffer.operator()["tenantId"]
    path = f"/{tenant}/oauth2/v2.0/token"
    # The positive control: a whole body is read and answered on its merits (a wrong secret).
    whole = requests.post(f"https://{coffer.host}{path}", verify=coffer.ca, timeout=30,
                          data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x",
                                "scope": f"https://{coffer.host}/.default"})
    assert whole.status_code == 401, whole.text
    head = (f"POST {path} HTTP/1.1\r\nHost: {coffer.host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 1000\r\n\r\ngrant_type=").encode()
    received, closed, elapsed = send_slowly(coffer, head, total=989, step=1, pause=0.5, seconds=30)
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b"RequestTimeout" in received
    assert closed and elapsed < 20, elapsed


def test_deleting_a_group_deletes_what_it_holds(coffer):
    """A deleted group's registries (admin passwords included), identities and role assignments kept serving, and a new
    group of the same name inherited them (issue 11)."""
    arm = Arm(coffer)
    group = arm.group("doomed")
    worker = arm.identity(group, "worker")
    assert arm.assign(group, worker["properties"]["principalId"], CONTRIBUTOR).status_code == 201
    header = coffer.workload_environment(worker["id"])["IDENTITY_HEADER"]
    registry_id = f"{group}/providers/Microsoft.ContainerRegistry/registries/doomedreg"
    created = arm.call("PUT", registry_id, api="api-version=2023-07-01",
                       body={"location": "westeurope", "sku": {"name": "Premium"}, "properties": {"adminUserEnabled": True}})
    assert created.status_code == 201, created.text
    credentials = arm.call("POST", f"{registry_id}/listCredentials", api="api-version=2023-07-01").json()
    admin = (credentials["username"], credentials["passwords"][0]["value"])
    server = f"doomedreg.cr.localhost:{coffer.port}"

    def registry_token():
        return requests.get(f"https://{server}/oauth2/token", params={"service": server, "scope": "repository:app:pull,push"},
                            auth=admin, verify=coffer.ca, timeout=30)

    token = registry_token().json()["token"]
    blob = b"held by a group about to go"
    digest = "sha256:" + __import__("hashlib").sha256(blob).hexdigest()
    pushed = requests.post(f"https://{server}/v2/app/blobs/uploads/?digest={digest}", data=blob, verify=coffer.ca, timeout=30,
                           headers={"Authorization": f"Bearer {token}"})
    assert pushed.status_code == 201, pushed.text

    # Deletion is a long-running operation (202 and a Location to poll), started here by the group's Contributor, whose
    # role (and identity) go with the group: the poll stays open to whoever started it, and to nobody else without rights.
    bystander = arm.identity(arm.group("bystanders"), "bystander")
    bystander_token, worker_token = arm.token_of(bystander), arm.token_of(worker)
    deleted = arm.call("DELETE", group, token=worker_token)
    assert deleted.status_code == 202 and deleted.headers.get("Retry-After"), deleted.text
    location = deleted.headers["Location"]

    def poll(token):
        return requests.get(location, headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)

    assert poll(bystander_token).status_code == 403
    deadline = time.time() + 30
    while (status := poll(worker_token).status_code) == 202 and time.time() < deadline:
        time.sleep(0.2)
    assert status == 200
    assert arm.call("GET", group).status_code == 404
    # The registry is gone with its data and its admin user; the identity and its role with it.
    assert registry_token().status_code == 401
    read = requests.get(f"https://{server}/v2/app/blobs/{digest}", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
    assert read.status_code == 404 and read.json()["errors"][0]["code"] == "NAME_UNKNOWN", read.text
    gone = requests.get(f"https://{coffer.host}/msi/token", headers={"X-IDENTITY-HEADER": header}, verify=coffer.ca, timeout=30,
                        params={"api-version": "2019-08-01", "resource": f"https://{coffer.host}", "client_id": worker["properties"]["clientId"]})
    assert gone.status_code == 401
    # A new group of the same name starts empty.
    arm.group("doomed")
    assert arm.call("GET", registry_id, api="api-version=2023-07-01").status_code == 404
    assert arm.call("GET", f"{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities", api="api-version=2023-01-31").json()["value"] == []
    assignments = arm.call("GET", f"{group}/providers/Microsoft.Authorization/roleAssignments", api="api-version=2022-04-01").json()["value"]
    assert all(a["properties"]["principalId"] != worker["properties"]["principalId"] for a in assignments), assignments


def test_import_and_registry_tokens_open_no_other_registry(coffer, tmp_path):
    """A Contributor of its own group names another resource whose name is a victim registry's as an import source,
    or asks its registry token for the base address's catalog; an import is not a way around a source's firewall."""
    import subprocess
    from oci_layout import build_image
    arm = Arm(coffer)
    victim_group, attacker_group = arm.group("victim-rg"), arm.group("attacker-rg")
    registry_api = "api-version=2023-07-01"
    for group, name in ((victim_group, "victimreg"), (attacker_group, "attackreg")):
        response = arm.call("PUT", f"{group}/providers/Microsoft.ContainerRegistry/registries/{name}", api=registry_api,
                            body={"location": "westeurope", "sku": {"name": "Premium"}})
        assert response.status_code in (200, 201), response.text
    source = str(tmp_path / "source")
    build_image(source, "v1", [b"secret layer"])
    pushed = subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", f"{coffer.username}:{coffer.password}",
                             f"oci:{source}:v1", f"docker://victimreg.cr.localhost:{coffer.port}/app:v1"], capture_output=True, text=True, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    attacker = arm.identity(attacker_group, "attacker")
    assert arm.assign(attacker_group, attacker["properties"]["principalId"], CONTRIBUTOR).status_code == 201
    token = arm.token_of(attacker)
    # An identity in the attacker's group named like the victim registry stands in for a registry id.
    decoy = arm.call("PUT", f"{attacker_group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/victimreg", token=token,
                     api="api-version=2023-01-31", body={"location": "westeurope"})
    assert decoy.status_code in (200, 201), decoy.text
    imported = arm.call("POST", f"{attacker_group}/providers/Microsoft.ContainerRegistry/registries/attackreg/importImage", token=token,
                        api=registry_api, body={"source": {"resourceId": decoy.json()["id"], "sourceImage": "app:v1"}, "targetTags": ["loot:v1"]})
    assert imported.status_code == 400 and "not found" in imported.json()["error"]["message"], imported.text
    # Naming the victim registry itself needs pull on it.
    direct = arm.call("POST", f"{attacker_group}/providers/Microsoft.ContainerRegistry/registries/attackreg/importImage", token=token,
                      api=registry_api, body={"source": {"resourceId": f"{victim_group}/providers/Microsoft.ContainerRegistry/registries/victimreg",
                                                         "sourceImage": "app:v1"}, "targetTags": ["loot:v1"]})
    assert direct.status_code == 403, direct.text
    # A token of the attacker's registry that may read all of its metadata gets no catalog of the whole server.
    registry = f"{attacker_group}/providers/Microsoft.ContainerRegistry/registries/attackreg"
    assert arm.call("PUT", f"{registry}/tokens/reader", token=token, api=registry_api,
                    body={"properties": {"scopeMapId": f"{registry}/scopeMaps/_repositories_pull_metadata_read"}}).status_code in (200, 201)
    password = arm.call("POST", f"{registry}/generateCredentials", token=token, api=registry_api,
                        body={"tokenId": f"{registry}/tokens/reader", "name": "password1"}).json()["passwords"][0]["value"]
    base = coffer.host
    granted = requests.get(f"https://{base}/oauth2/token", params=[("service", base), ("scope", "registry:catalog:*"),
                                                                   ("scope", "repository:attackreg/x:pull")],
                           auth=("reader", password), verify=coffer.ca, timeout=30).json()["access_token"]
    catalog = requests.get(f"https://{base}/v2/_catalog", headers={"Authorization": f"Bearer {granted}"}, verify=coffer.ca, timeout=30)
    assert catalog.status_code == 403 and "victimreg" not in catalog.text
    # The victim closes its registry to the network and to trusted services: the operator's import is refused too.
    closed = arm.call("PATCH", f"{victim_group}/providers/Microsoft.ContainerRegistry/registries/victimreg", api=registry_api,
                      body={"properties": {"publicNetworkAccess": "Disabled", "networkRuleBypassOptions": "None"}})
    assert closed.status_code == 200, closed.text
    refused = arm.call("POST", f"{registry}/importImage", api=registry_api,
                       body={"source": {"resourceId": f"{victim_group}/providers/Microsoft.ContainerRegistry/registries/victimreg",
                                        "sourceImage": "app:v1"}, "targetTags": ["copy:v1"]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ImportSourceNetworkRestricted", refused.text


def send_slowly(coffer, head, total, step, pause, seconds):
    """Sends a request's `head`, then `total` body bytes, `step` bytes every `pause` seconds, over a raw TLS socket, for
    at most `seconds`; stops early once the server has answered in full or closed the connection. Returns (what the
    server answered, whether it closed the connection, seconds taken)."""
    context = ssl.create_default_context(cafile=coffer.ca)
    with socket.create_connection(("127.0.0.1", coffer.port)) as raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(head)
        tls.settimeout(pause)
        started, sent, received, closed = time.time(), 0, b"", False

        def answered():
            head, separator, body = received.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
            return separator and len(body) >= length and b"connection: close" not in head.lower()

        while time.time() - started < seconds and not closed and not answered():
            if sent < total:
                tls.sendall(b"x" * min(step, total - sent))
                sent += min(step, total - sent)
            try:
                chunk = tls.recv(65536)
                closed = not chunk
                received += chunk
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                closed = True
        return received, closed, time.time() - started


def patch_at_rate(coffer, location, token, total, step, pause, seconds):
    """PATCHes `total` bytes to an upload, `step` bytes every `pause` seconds (``send_slowly``)."""
    head = (f"PATCH {location} HTTP/1.1\r\nHost: {coffer.host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n").encode()
    return send_slowly(coffer, head, total, step, pause, seconds)


@pytest.mark.serve_args("--upload-rate-window-seconds", "2", "--upload-minimum-bytes-per-second", "1000")
def test_a_trickled_upload_is_cut_off(coffer):
    """A registry upload's body streams, so it had no deadline: a client sending a little just before each idle
    timeout held its connection and its upload session for as long as it liked. Each rate window must now bring a
    minimum of bytes."""
    token = coffer.token("repository:coffer/trickle:pull,push")
    base = f"https://{coffer.host}"
    headers = {"Authorization": f"Bearer {token}"}

    def start():
        started = requests.post(f"{base}/v2/coffer/trickle/blobs/uploads/", headers=headers, verify=coffer.ca, timeout=30)
        assert started.status_code == 202, started.text
        return started.headers["Location"].removeprefix(base)

    # The positive control: the same raw client at a normal rate gets its chunk accepted.
    received, _, _ = patch_at_rate(coffer, start(), token, total=200_000, step=20_000, pause=0.05, seconds=20)
    assert received.startswith(b"HTTP/1.1 202"), received[:300]

    # 100 bytes every half second: far below 1000 bytes per second, and never idle long enough for the idle timeout.
    location = start()
    received, closed, elapsed = patch_at_rate(coffer, location, token, total=100_000, step=100, pause=0.5, seconds=30)
    assert received.startswith(b"HTTP/1.1 408"), received[:300]
    assert b"BLOB_UPLOAD_INVALID" in received and b"bytes per second" in received
    assert b"connection: close" in received.lower()
    assert closed and elapsed < 20, elapsed
    # A manifest's body is held to the same rate.
    head = (f"PUT /v2/coffer/trickle/manifests/v1 HTTP/1.1\r\nHost: {coffer.host}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 100000\r\n\r\n").encode()
    received, closed, elapsed = send_slowly(coffer, head, total=100_000, step=100, pause=0.5, seconds=30)
    assert received.startswith(b"HTTP/1.1 408") and closed and elapsed < 20, (received[:300], closed, elapsed)
    # The session is left in a state a client can read (it may resume or start over), and the server serves on.
    status = requests.get(f"{base}{location}", headers=headers, verify=coffer.ca, timeout=30)
    assert status.status_code in (204, 404), status.text
    data = b"after the trickle"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    pushed = requests.post(f"{base}/v2/coffer/trickle/blobs/uploads/?digest={digest}", data=data, verify=coffer.ca, timeout=30,
                           headers={**headers, "Content-Type": "application/octet-stream"})
    assert pushed.status_code == 201, pushed.text


def test_a_body_the_registry_does_not_read_is_not_drained_at_the_clients_pace(coffer):
    """A `/v2` body the handler leaves unread was drained by the HTTP server after the answer, at the client's pace:
    `GET /v2/` announcing a gigabyte, trickled a little before each idle timeout, held its connection for ever. Now a
    little unread rest is read at once (the connection serves on), anything more closes the connection."""
    token = coffer.token("repository:coffer/unread:pull,push")
    for method, path in [("GET", "/v2/"), ("PUT", "/v2/coffer/unread/manifests/v1")]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {coffer.host}\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 1000000000\r\n\r\n").encode()
        received, closed, elapsed = send_slowly(coffer, head, total=1_000_000_000, step=100, pause=0.5, seconds=30)
        assert received.startswith(b"HTTP/1.1 "), received[:300]
        assert b"connection: close" in received.lower(), received[:400]
        assert closed and elapsed < 20, (method, closed, elapsed)

    # The control: a small body sent whole is read, and the same connection answers the next request.
    context = ssl.create_default_context(cafile=coffer.ca)
    with socket.create_connection(("127.0.0.1", coffer.port)) as raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.settimeout(10)
        request = (f"GET /v2/ HTTP/1.1\r\nHost: {coffer.host}\r\nAuthorization: Bearer {token}\r\n"
                   "Content-Length: 10\r\n\r\n0123456789").encode()
        for _ in range(2):
            tls.sendall(request)
            received = b""
            while b"\r\n\r\n" not in received or not received.endswith(b"{}"):
                chunk = tls.recv(65536)
                assert chunk, received
                received += chunk
            assert received.startswith(b"HTTP/1.1 200") and b"connection: close" not in received.lower(), received[:300]


@pytest.mark.serve_args("--request-body-seconds", "2")
def test_bodies_outside_the_registry_are_held_to_the_body_deadline(coffer):
    """`/healthz` answered before its body was read, and `/v2/…` sent to a vault's or Graph's host skipped both the
    body deadline and the registry's reader: either body was then drained at the client's pace."""
    vault_host = f"anyvault.vault.localhost:{coffer.port}"
    for host, path in [(coffer.host, "/healthz"), (vault_host, "/v2/x"), (f"graph.localhost:{coffer.port}", "/v2/x")]:
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                "Content-Length: 1000000000\r\n\r\n").encode()
        received, closed, elapsed = send_slowly(coffer, head, total=1_000_000_000, step=100, pause=0.5, seconds=30)
        assert received.startswith(b"HTTP/1.1 408"), (path, received[:300])
        assert closed and elapsed < 20, (path, closed, elapsed)
