"""A user-assigned managed identity, created through the resource manager, reaches a vault the way the seed's registry will."""
import os
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
from azure.mgmt.keyvault.models import (AccessPolicyEntry, Permissions, Sku, VaultAccessPolicyParameters, VaultAccessPolicyProperties,
                                        VaultCreateOrUpdateParameters, VaultProperties)
from azure.mgmt.msi import ManagedServiceIdentityClient

from test_keyvault import azure, create_vault  # noqa: F401  (fixture and helper)


def managed_identity_credential(coffer, monkeypatch, identity):
    environment = coffer.workload_environment(identity.id)
    monkeypatch.setenv("IDENTITY_ENDPOINT", environment["IDENTITY_ENDPOINT"])
    monkeypatch.setenv("IDENTITY_HEADER", environment["IDENTITY_HEADER"])
    return ManagedIdentityCredential(client_id=identity.client_id)


def test_user_assigned_identity_wraps_with_access_policy(azure, coffer, monkeypatch):
    msi = ManagedServiceIdentityClient(azure["credential"], azure["operator"]["subscriptionId"], base_url=azure["base"],
                                       credential_scopes=[azure["base"] + "/.default"])
    identity = msi.user_assigned_identities.create_or_update("rg1", "registry-identity", {"location": "westeurope"})
    assert identity.principal_id and identity.client_id and identity.tenant_id == azure["operator"]["tenantId"]
    assert msi.user_assigned_identities.get("rg1", "registry-identity").client_id == identity.client_id

    vault = create_vault(azure, "cmkvault")
    key = KeyClient(vault.properties.vault_uri, azure["credential"]).create_rsa_key("kek")
    # What the seed's template does: Microsoft.KeyVault/vaults/accessPolicies 'add' for the identity's principalId.
    entry = AccessPolicyEntry(tenant_id=azure["operator"]["tenantId"], object_id=identity.principal_id,
                              permissions=Permissions(keys_property=["get", "unwrapKey", "wrapKey"]))
    azure["management"].vaults.update_access_policy("rg1", "cmkvault", "add", VaultAccessPolicyParameters(
        properties=VaultAccessPolicyProperties(access_policies=[entry])))

    credential = managed_identity_credential(coffer, monkeypatch, identity)
    crypto = CryptographyClient(key.id, credential)
    secret = os.urandom(32)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == secret
    with pytest.raises(HttpResponseError) as denied:
        KeyClient(vault.properties.vault_uri, credential).create_rsa_key("not-allowed")
    assert denied.value.status_code == 403

    # Without the identity header, or with a wrong one, there is no token.
    url = f"https://localhost:{coffer.port}/msi/token"
    params = {"api-version": "2019-08-01", "resource": f"https://vault.localhost:{coffer.port}", "client_id": identity.client_id}
    assert requests.get(url, params=params, verify=coffer.ca, timeout=30).status_code == 401
    assert requests.get(url, params=params, headers={"X-IDENTITY-HEADER": "wrong"}, verify=coffer.ca, timeout=30).status_code == 401
    # IMDS is off unless enabled.
    imds = requests.get(f"https://localhost:{coffer.port}/metadata/identity/oauth2/token", params=params, headers={"Metadata": "true"},
                        verify=coffer.ca, timeout=30)
    assert imds.status_code == 404

    msi.user_assigned_identities.delete("rg1", "registry-identity")
    gone = requests.get(url, params=params, headers={"X-IDENTITY-HEADER": os.environ["IDENTITY_HEADER"]}, verify=coffer.ca, timeout=30)
    # Gone answers as a wrong header does: whether an identity exists is not for a header holder to learn.
    assert gone.status_code == 401


def test_an_identity_header_opens_its_own_identity_only(azure, coffer):
    """One secret used to open every identity (issue 11): now each identity has its own header, handed out to those
    who may attach the identity, and the server's host secret itself opens nothing."""
    msi = ManagedServiceIdentityClient(azure["credential"], azure["operator"]["subscriptionId"], base_url=azure["base"],
                                       credential_scopes=[azure["base"] + "/.default"])
    first = msi.user_assigned_identities.create_or_update("rg1", "first", {"location": "westeurope"})
    second = msi.user_assigned_identities.create_or_update("rg1", "second", {"location": "westeurope"})
    url = f"https://localhost:{coffer.port}/msi/token"

    def token_status(header, identity, **names):
        params = {"api-version": "2019-08-01", "resource": f"https://localhost:{coffer.port}", **(names or {"client_id": identity.client_id})}
        return requests.get(url, params=params, headers={"X-IDENTITY-HEADER": header}, verify=coffer.ca, timeout=30).status_code

    header = coffer.workload_environment(first.id)["IDENTITY_HEADER"]
    assert token_status(header, first) == 200
    assert token_status(header, first, principal_id=first.principal_id) == 200
    assert token_status(header, first, mi_res_id=first.id) == 200
    assert token_status(header, second) == 401
    assert token_status(header, second, mi_res_id=second.id) == 401
    with open(os.path.join(coffer.data_dir, "identity-header")) as handle:
        host_secret = handle.read().strip()
    assert token_status(host_secret, first) == 401 and token_status(host_secret, second) == 401
    # A principal with no rights on the identity gets no header for it.
    other = msi.user_assigned_identities.create_or_update("rg1", "other", {"location": "westeurope"})
    other_token = requests.get(url, params={"api-version": "2019-08-01", "resource": f"https://localhost:{coffer.port}", "client_id": other.client_id},
                               headers={"X-IDENTITY-HEADER": coffer.workload_environment(other.id)["IDENTITY_HEADER"]},
                               verify=coffer.ca, timeout=30).json()["access_token"]
    refused = requests.post(f"https://{coffer.host}{second.id}/listWorkloadEnvironment", params={"api-version": "2023-01-31"},
                            headers={"Authorization": f"Bearer {other_token}"}, verify=coffer.ca, timeout=30)
    # (It holds no role near the group at all, so the group's gate refuses it before the assign check would.)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthorizationFailed", refused.text


def test_rbac_vault_uses_role_assignments(azure, coffer, monkeypatch):
    msi = ManagedServiceIdentityClient(azure["credential"], azure["operator"]["subscriptionId"], base_url=azure["base"],
                                       credential_scopes=[azure["base"] + "/.default"])
    identity = msi.user_assigned_identities.create_or_update("rg1", "rbac-identity", {"location": "westeurope"})
    properties = VaultProperties(tenant_id=azure["operator"]["tenantId"], sku=Sku(family="A", name="standard"),
                                 enable_rbac_authorization=True, enable_purge_protection=True)
    vault = azure["management"].vaults.begin_create_or_update("rg1", "rbacvault", VaultCreateOrUpdateParameters(
        location="westeurope", properties=properties)).result()
    headers = {"Authorization": f"Bearer {azure['token']}"}

    def assign(principal, role_id):
        name = str(uuid.uuid4())
        url = f"{azure['base']}{vault.id}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"
        response = requests.put(url, json={"properties": {
            "roleDefinitionId": f"/subscriptions/{azure['operator']['subscriptionId']}/providers/Microsoft.Authorization/roleDefinitions/{role_id}",
            "principalId": principal}}, headers=headers, timeout=30)
        assert response.status_code == 201, response.text
        return url

    # The operator (Owner of the subscription) has no data access under RBAC until it is given a Key Vault role.
    with pytest.raises(HttpResponseError) as denied:
        KeyClient(vault.properties.vault_uri, azure["credential"]).create_rsa_key("kek")
    assert denied.value.status_code == 403
    assign(azure["oid"], "14b46e9e-c2b7-41b4-b07b-48a6ebf60603")  # Key Vault Crypto Officer
    key = KeyClient(vault.properties.vault_uri, azure["credential"]).create_rsa_key("kek")

    credential = managed_identity_credential(coffer, monkeypatch, identity)
    crypto = CryptographyClient(key.id, credential)
    with pytest.raises(HttpResponseError):
        crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"k" * 32)
    assignment = assign(identity.principal_id, "e147488a-f6f5-4113-8e2d-b22465e65bf6")  # Crypto Service Encryption User
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"k" * 32)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == b"k" * 32
    assert requests.delete(assignment, headers=headers, timeout=30).status_code == 200
    with pytest.raises(HttpResponseError):
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key)
    # Unknown roles are refused with Azure's code.
    bad = requests.put(f"{azure['base']}{vault.id}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}?api-version=2022-04-01",
                       json={"properties": {"roleDefinitionId": str(uuid.uuid4()), "principalId": identity.principal_id}}, headers=headers, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "RoleDefinitionDoesNotExist"


@pytest.mark.serve_args("--enable-imds")
def test_imds_when_enabled_issues_the_named_identitys_token_and_nothing_else(azure, coffer):
    """`--enable-imds` opens Azure's instance-metadata path, which takes no secret (only `Metadata: true`): the token
    it gives is the named identity's, for the resource asked; without the header, or for an unknown identity, none."""
    import base64
    import json
    msi = ManagedServiceIdentityClient(azure["credential"], azure["operator"]["subscriptionId"], base_url=azure["base"],
                                       credential_scopes=[azure["base"] + "/.default"])
    identity = msi.user_assigned_identities.create_or_update("rg1", "imds-identity", {"location": "westeurope"})
    url = f"https://localhost:{coffer.port}/metadata/identity/oauth2/token"
    resource = f"https://vault.localhost:{coffer.port}"
    params = {"api-version": "2018-02-01", "resource": resource, "client_id": identity.client_id}
    issued = requests.get(url, params=params, headers={"Metadata": "true"}, verify=coffer.ca, timeout=30)
    assert issued.status_code == 200, issued.text
    payload = issued.json()["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["oid"] == identity.principal_id and claims["aud"] == resource
    assert issued.json()["client_id"] == identity.client_id and issued.json()["resource"] == resource
    # The token is good at the vault (it authenticates; the identity holds no policy there, so it is refused as itself).
    create_vault(azure, "imdsvault")
    denied = requests.get(f"https://imdsvault.vault.localhost:{coffer.port}/keys?api-version=7.4", verify=coffer.ca, timeout=30,
                          headers={"Authorization": f"Bearer {issued.json()['access_token']}"})
    assert denied.status_code == 403 and identity.principal_id in denied.text, denied.text
    # Without the Metadata header (what a request forged through a server-side proxy lacks), and for nobody: refused.
    assert requests.get(url, params=params, verify=coffer.ca, timeout=30).status_code == 400
    unknown = requests.get(url, params={**params, "client_id": str(uuid.uuid4())}, headers={"Metadata": "true"}, verify=coffer.ca, timeout=30)
    assert unknown.status_code == 400 and "access_token" not in unknown.text
