"""The web console in a real browser: headless Chromium from Debian, driven by Selenium. A user signs in through the
authorization-code flow, walks every page, checks what each shows against the API, performs actions and sees them
happen, signs out; a user with only AcrPull sees no write action and is refused when it posts one anyway; text from
manifests and names renders as text; every page carries a strict Content-Security-Policy. Screenshots of each page
go to tests/interop/screenshots/ (or $COFFER_SCREENSHOT_DIR)."""
import hashlib
import json
import os
import shutil
import time
import uuid

import pytest
import requests

from test_cli import coffer_cli
from test_cmk import grant, registry_body, setup

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

SCREENSHOTS = os.environ.get("COFFER_SCREENSHOT_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "screenshots"))
HOSTILE = "<script>window.pwned=1</script>"
ROLE_IDS = {"Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d"}


def browser():
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        if os.environ.get("COFFER_REQUIRE_AZ") == "1":
            pytest.fail("chromium and chromium-driver are required (scripts/test installs them)")
        pytest.skip("no chromium/chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--ignore-certificate-errors", "--window-size=1280,1000",
                     "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))
    driver.implicitly_wait(5)
    return driver


def shot(driver, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))


def assign(coffer, cloud, scope, role, principal):
    name = str(uuid.uuid4())
    response = requests.put(f"{cloud.base}{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01",
                            headers=cloud.headers, verify=coffer.ca, timeout=30, json={"properties": {
                                "roleDefinitionId": f"/subscriptions/{cloud.subscription}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_IDS[role]}",
                                "principalId": principal, "principalType": "User"}})
    assert response.status_code in (200, 201), response.text


def push_image(coffer, registry, repository):
    """An image with a hostile annotation, tagged v1, and a signature that refers to it; returns (digest, layer sizes)."""
    host = f"{registry}.cr.localhost:{coffer.port}"
    token = coffer.token(f"repository:{repository}:pull,push", service=host)
    headers = {"Authorization": f"Bearer {token}"}

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        response = requests.post(f"https://{host}/v2/{repository}/blobs/uploads/?digest={digest}", data=data, verify=coffer.ca,
                                 timeout=60, headers={**headers, "Content-Type": "application/octet-stream"})
        assert response.status_code == 201, response.text
        return {"digest": digest, "size": len(data)}

    def manifest(body, reference):
        data = json.dumps(body).encode()
        response = requests.put(f"https://{host}/v2/{repository}/manifests/{reference}", data=data, verify=coffer.ca, timeout=60,
                                headers={**headers, "Content-Type": body["mediaType"]})
        assert response.status_code == 201, response.text
        return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)

    config = {**blob(b'{"architecture":"amd64","os":"linux"}'), "mediaType": "application/vnd.oci.image.config.v1+json"}
    layers = [{**blob(os.urandom(size)), "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"} for size in (123_456, 7_890)]
    image, image_size = manifest({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": layers,
                                  "annotations": {"org.opencontainers.image.title": HOSTILE}}, "v1")
    empty = {**blob(b"{}"), "mediaType": "application/vnd.oci.empty.v1+json"}
    manifest({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
              "config": empty, "layers": [{**blob(b"signature"), "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json"}],
              "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image, "size": image_size},
              "annotations": {"dev.sigstore.signer": "release-team"}}, "sig")
    return image, [layer["size"] for layer in layers]


def sign_in(driver, coffer, user, password):
    driver.get(f"https://{coffer.host}/")
    assert "/oauth2/v2.0/authorize" in driver.current_url, driver.current_url
    shot(driver, "01-sign-in")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "signin").click()
    wait_for_url(driver, "/console/")


def wait_for_url(driver, ending):
    deadline = time.time() + 15
    while not driver.current_url.endswith(ending):
        assert time.time() < deadline, driver.current_url
        time.sleep(0.1)


def headers_of(coffer, path, cookie):
    return requests.get(f"https://{coffer.host}{path}", cookies={"__Host-coffer-session": cookie}, verify=coffer.ca, timeout=30,
                        allow_redirects=False)


def confirm(driver, button_id):
    driver.find_element(By.ID, button_id).click()
    driver.find_element(By.ID, "question")
    driver.find_element(By.ID, "confirm").click()


def test_the_console_in_a_browser(coffer):
    cloud, kek, identity = setup(coffer)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    registry_id = cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/consolereg"
    assert cloud.put(registry_id, registry_body(identity, kek)).status_code == 201
    image, layer_sizes = push_image(coffer, "consolereg", "team/app")
    coffer_cli(coffer, "keyvault", "key", "create", "--name", "spare", "--vault-name", "cmkvault")
    coffer_cli(coffer, "keyvault", "key", "delete", "--name", "spare", "--vault-name", "cmkvault")

    password = "correct horse battery staple"
    alice = json.loads(coffer_cli(coffer, "user", "create", "--user-principal-name", "alice@coffer.localhost",
                                  "--display-name", f"Alice {HOSTILE}", "--password", password).stdout)
    bob = json.loads(coffer_cli(coffer, "user", "create", "--user-principal-name", "bob@coffer.localhost",
                                "--display-name", "Bob", "--password", password).stdout)
    listed = json.loads(coffer_cli(coffer, "user", "list").stdout)
    assert {user["userPrincipalName"] for user in listed} == {"alice@coffer.localhost", "bob@coffer.localhost"}
    assert all("password" not in json.dumps(user).lower() for user in listed)
    graph_checks(coffer, bob, password)
    assign(coffer, cloud, cloud.group("rg"), "Owner", alice["id"])
    assign(coffer, cloud, registry_id, "AcrPull", bob["id"])
    coffer_cli(coffer, "keyvault", "set-policy", "-n", "cmkvault", "--object-id", alice["id"], "--key-permissions", "get", "list", "recover")

    driver = browser()
    try:
        # A wrong password is refused on the sign-in page; the right one lands on the console.
        driver.get(f"https://{coffer.host}/console/")
        driver.find_element(By.ID, "username").send_keys("alice@coffer.localhost")
        driver.find_element(By.ID, "password").send_keys("not the password")
        driver.find_element(By.ID, "signin").click()
        assert "not right" in driver.find_element(By.ID, "signin-error").text
        sign_in(driver, coffer, "alice@coffer.localhost", password)
        # The hostile display name is text, and no script of it ran.
        assert HOSTILE in driver.find_element(By.ID, "signed-in-user").text
        assert driver.execute_script("return window.pwned") is None
        cookie = driver.get_cookie("__Host-coffer-session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        page = headers_of(coffer, "/console/", cookie["value"])
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        shot(driver, "02-registries")

        # Registries: the CMK registry with its status, as the API shows it.
        rows = driver.find_element(By.ID, "registries").text
        assert "consolereg" in rows and "Customer-managed key" in rows and "Ready" in rows
        driver.find_element(By.LINK_TEXT, "consolereg").click()
        api = cloud.get(registry_id).json()
        properties = driver.find_element(By.ID, "registry-properties").text
        key_vault = api["properties"]["encryption"]["keyVaultProperties"]
        assert key_vault["versionedKeyIdentifier"] in properties and key_vault["identity"] in properties
        assert "Premium" in properties and api["properties"]["loginServer"] in properties and "Disabled" in properties
        assert driver.find_element(By.ID, "registry-status").text.startswith("Ready")
        assert "KiB" in driver.find_element(By.ID, "storage-used").text
        audit = driver.find_element(By.ID, "key-access").text
        assert "wrap" in audit and "success" in audit and kek.split("/")[-2] in audit
        shot(driver, "03-registry")

        # Repository → tag → manifest: layers and sizes, the hostile annotation as text, the signature as a referrer.
        driver.find_element(By.LINK_TEXT, "team/app").click()
        assert not driver.find_elements(By.ID, "error"), driver.find_element(By.ID, "error").text
        tags = driver.find_element(By.ID, "tags").text
        assert "v1" in tags and image in tags and "sig" in tags
        shot(driver, "04-repository")
        driver.find_element(By.LINK_TEXT, "v1").click()
        layers = driver.find_element(By.ID, "layers").text
        assert all(f"{size / 1024:.1f} KiB" in layers for size in layer_sizes), layers
        assert HOSTILE in driver.find_element(By.ID, "annotations").text
        assert driver.execute_script("return window.pwned") is None
        referrers = driver.find_element(By.ID, "referrers").text
        assert "application/vnd.dev.cosign.artifact.sig.v1+json" in referrers and "release-team" in referrers
        assert f"podman pull consolereg.cr.localhost:{coffer.port}/team/app@{image}" in driver.find_element(By.ID, "manifest-properties").text
        shot(driver, "05-manifest")
        driver.set_window_size(390, 844)
        shot(driver, "05-manifest-phone")
        driver.set_window_size(1280, 1000)

        # Vaults → keys: versions, which registries a key protects, deleted keys with their purge date.
        driver.find_element(By.LINK_TEXT, "Key vaults").click()
        assert "cmkvault" in driver.find_element(By.ID, "vaults").text
        driver.find_element(By.LINK_TEXT, "cmkvault").click()
        key_section = driver.find_element(By.ID, "key-kek").text
        assert kek.split("/")[-1] in key_section and "consolereg" in key_section and "enabled" in key_section
        assert "spare" in driver.find_element(By.ID, "deleted-keys").text
        shot(driver, "06-vault")

        # Recover the deleted key: confirmed, then the vault has it again.
        confirm(driver, "recover-spare")
        assert "recovered" in driver.find_element(By.ID, "notice").text
        assert coffer_cli(coffer, "keyvault", "key", "show", "--name", "spare", "--vault-name", "cmkvault", check=False).returncode == 0

        # Rotate the registry's key to a new version of it: the registry now uses that version.
        new_version = coffer_cli(coffer, "keyvault", "key", "create", "--name", "kek", "--vault-name", "cmkvault",
                                 "--query", "key.kid", "-o", "tsv").stdout.strip()
        driver.get(f"https://{coffer.host}/console/registry?id={registry_id}")
        confirm(driver, "rotate-key")
        assert "wrapped under" in driver.find_element(By.ID, "notice").text
        rotated = cloud.get(registry_id).json()["properties"]["encryption"]["keyVaultProperties"]
        assert rotated["versionedKeyIdentifier"] == new_version and rotated["lastKeyRotationTimestamp"]
        assert new_version in driver.find_element(By.ID, "registry-properties").text
        shot(driver, "07-rotated")

        # The admin user: enable, show its passwords (as the API lists them).
        confirm(driver, "enable-admin")
        confirm(driver, "show-credentials")
        shown = driver.find_element(By.ID, "admin-credentials").text
        listed = requests.post(f"{cloud.base}{registry_id}/listCredentials?api-version=2023-07-01", headers=cloud.headers, verify=coffer.ca, timeout=30).json()
        coffer.secrets_seen.update(password["value"] for password in listed["passwords"])
        assert listed["username"] in shown and all(password["value"] in shown for password in listed["passwords"])

        # Delete the tag `sig`: gone from the API's tag list.
        driver.get(f"https://{coffer.host}/console/repository?id={registry_id}&repository=team/app")
        confirm(driver, "delete-tag-sig")
        assert "deleted" in driver.find_element(By.ID, "notice").text
        host = f"consolereg.cr.localhost:{coffer.port}"
        token = coffer.token("repository:team/app:pull", service=host)
        tags = requests.get(f"https://{host}/v2/team/app/tags/list", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30).json()
        assert tags["tags"] == ["v1"]

        # A post without the session's form token is refused, whatever it asks.
        forged = requests.post(f"https://{coffer.host}/console/actions/delete-tag", cookies={"__Host-coffer-session": cookie["value"]},
                               data={"id": registry_id, "repository": "team/app", "tag": "v1", "confirmed": "yes"}, verify=coffer.ca, timeout=30)
        assert forged.status_code == 403

        # Sign out: the session is over, the console sends the browser to sign in again.
        driver.find_element(By.ID, "signout").click()
        wait_for_url(driver, "/console/signed-out")
        assert headers_of(coffer, "/console/", cookie["value"]).status_code == 302
        driver.get(f"https://{coffer.host}/console/")
        assert "/oauth2/v2.0/authorize" in driver.current_url

        # Bob holds only AcrPull: no registry to manage, the tags without a delete action, and a forged post refused.
        driver.delete_all_cookies()
        sign_in(driver, coffer, "bob@coffer.localhost", password)
        assert "consolereg" not in driver.page_source
        driver.get(f"https://{coffer.host}/console/repository?id={registry_id}&repository=team/app")
        assert "v1" in driver.find_element(By.ID, "tags").text
        assert not driver.find_elements(By.CSS_SELECTOR, "form[action='/console/actions/delete-tag']")
        shot(driver, "08-pull-only")
        driver.get(f"https://{coffer.host}/console/registry?id={registry_id}")
        assert driver.find_elements(By.ID, "error")
        assert not driver.find_elements(By.ID, "rotate-key")
        form_token = driver.find_element(By.CSS_SELECTOR, "input[name=form_token]").get_attribute("value")
        driver.execute_script("""
            const form = document.createElement('form'); form.method = 'post'; form.action = '/console/actions/delete-tag';
            for (const [name, value] of Object.entries(arguments[0])) {
                const input = document.createElement('input'); input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
            }
            document.body.appendChild(form); form.submit();""",
            {"form_token": form_token, "id": registry_id, "repository": "team/app", "tag": "v1", "confirmed": "yes"})
        time.sleep(0.5)
        assert driver.find_elements(By.ID, "error")
        shot(driver, "09-refused")
        tags = requests.get(f"https://{host}/v2/team/app/tags/list", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30).json()
        assert tags["tags"] == ["v1"]

        # A hostile repository name in the address is refused as text, never markup.
        driver.get(f"https://{coffer.host}/console/repository?id={registry_id}&repository={HOSTILE}")
        assert driver.execute_script("return window.pwned") is None and "<script>window" not in driver.page_source.replace("&lt;", "<", 0)
    finally:
        driver.quit()


def graph_checks(coffer, bob, password):
    """Bob, with no role in the directory, through the password and refresh-token grants (the Azure CLI's public
    client): Graph's /me is him, and other users are hidden whether they exist or not."""
    tenant = coffer.operator()["tenantId"]
    token_url = f"https://{coffer.host}/{tenant}/oauth2/v2.0/token"
    az_client = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    issued = requests.post(token_url, verify=coffer.ca, timeout=30, data={
        "grant_type": "password", "client_id": az_client, "username": "bob@coffer.localhost", "password": password,
        "scope": "https://graph.microsoft.com/.default openid offline_access"}).json()
    coffer.secrets_seen.update((issued["access_token"], issued["refresh_token"], issued["id_token"]))
    refreshed = requests.post(token_url, verify=coffer.ca, timeout=30, data={
        "grant_type": "refresh_token", "client_id": az_client, "refresh_token": issued["refresh_token"],
        "scope": "https://graph.microsoft.com/.default"}).json()
    coffer.secrets_seen.update((refreshed["access_token"], refreshed["refresh_token"]))
    # A refresh token is no access token anywhere.
    for token, expected in ((refreshed["access_token"], 200), (issued["refresh_token"], 401)):
        me = requests.get(f"https://graph.localhost:{coffer.port}/v1.0/me", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
        assert me.status_code == expected, me.text
    assert me.status_code == 401
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    for name in ("alice@coffer.localhost", "nobody@coffer.localhost"):
        hidden = requests.get(f"https://graph.localhost:{coffer.port}/v1.0/users/{name}", headers=headers, verify=coffer.ca, timeout=30)
        assert hidden.status_code == 403, hidden.text
    own = requests.get(f"https://graph.localhost:{coffer.port}/v1.0/users/bob@coffer.localhost", headers=headers, verify=coffer.ca, timeout=30)
    assert own.json()["id"] == bob["id"]


def test_the_authorization_code_flow_refuses_what_it_must(coffer):
    tenant = coffer.operator()["tenantId"]
    base = f"https://{coffer.host}/{tenant}/oauth2/v2.0"
    # An unknown redirect URI is never redirected to: the page says so.
    answer = requests.get(f"{base}/authorize", params={"client_id": "c0ffee00-c0a5-4e1e-9c5a-000000000001", "response_type": "code",
                                                       "redirect_uri": "https://evil.example/callback", "code_challenge": "x" * 43,
                                                       "code_challenge_method": "S256"}, verify=coffer.ca, allow_redirects=False, timeout=30)
    assert answer.status_code == 400 and "redirect URI" in answer.text and "Location" not in answer.headers
    # PKCE is required: without a challenge the client gets an error at its redirect URI, not a sign-in page.
    answer = requests.get(f"{base}/authorize", params={"client_id": "c0ffee00-c0a5-4e1e-9c5a-000000000001", "response_type": "code",
                                                       "redirect_uri": f"https://localhost:{coffer.port}/console/callback", "state": "s"},
                          verify=coffer.ca, allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and "error=invalid_request" in answer.headers["Location"] and "state=s" in answer.headers["Location"]
    # A made-up code redeems nothing.
    answer = requests.post(f"{base}/token", data={"grant_type": "authorization_code", "code": "made-up", "client_id": "c0ffee00-c0a5-4e1e-9c5a-000000000001",
                                                  "redirect_uri": f"https://localhost:{coffer.port}/console/callback", "code_verifier": "v" * 43},
                           verify=coffer.ca, timeout=30)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # A sign-in form posted from another site is refused.
    answer = requests.post(f"{base}/authorize", headers={"Origin": "https://evil.example"}, data={"username": "a@b.c", "password": "x"},
                           verify=coffer.ca, timeout=30)
    assert answer.status_code == 403
