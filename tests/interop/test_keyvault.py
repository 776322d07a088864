"""The real Azure SDKs (azure-identity, azure-mgmt-keyvault, azure-keyvault-keys) against a live Coffer."""
import base64
import json
import os
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, KeyWrapAlgorithm
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import (AccessPolicyEntry, Permissions, Sku, VaultAccessPolicyParameters,
                                        VaultAccessPolicyProperties, VaultCreateOrUpdateParameters, VaultProperties)


@pytest.fixture
def azure(coffer, monkeypatch):
    """Credentials, management client and an empty resource group, with the CA trusted the usual way."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", coffer.ca)
    monkeypatch.setenv("SSL_CERT_FILE", coffer.ca)
    operator = coffer.operator()
    credential = ClientSecretCredential(operator["tenantId"], operator["clientId"], operator["clientSecret"],
                                        authority=f"https://{coffer.host}", disable_instance_discovery=True)
    base = f"https://{coffer.host}"
    token = credential.get_token(f"{base}/.default").token
    group = requests.put(f"{base}/subscriptions/{operator['subscriptionId']}/resourcegroups/rg1?api-version=2021-04-01",
                         json={"location": "westeurope"}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert group.status_code == 201, group.text
    management = KeyVaultManagementClient(credential, operator["subscriptionId"], base_url=base, credential_scopes=[f"{base}/.default"])
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return {"credential": credential, "management": management, "operator": operator, "oid": claims["oid"], "base": base, "token": token}


def create_vault(azure, name, purge_protection=True, key_permissions=("all",)):
    # Access policies, named explicitly: from API version 2026-02-01 (this SDK's) a new vault defaults to RBAC, as in Azure.
    properties = VaultProperties(tenant_id=azure["operator"]["tenantId"], sku=Sku(family="A", name="standard"), access_policies=[],
                                 enable_rbac_authorization=False, enable_purge_protection=purge_protection, soft_delete_retention_in_days=7)
    vault = azure["management"].vaults.begin_create_or_update(
        "rg1", name, VaultCreateOrUpdateParameters(location="westeurope", properties=properties)).result()
    if key_permissions:
        set_policy(azure, name, "add", list(key_permissions))
    return vault


def set_policy(azure, vault, operation, keys):
    entry = AccessPolicyEntry(tenant_id=azure["operator"]["tenantId"], object_id=azure["oid"], permissions=Permissions(keys_property=keys))
    return azure["management"].vaults.update_access_policy(
        "rg1", vault, operation, VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[entry])))


def test_vault_created_by_management_sdk(azure):
    vault = create_vault(azure, "mgmtvault")
    assert vault.properties.vault_uri.startswith("https://mgmtvault.vault.localhost:")
    assert vault.properties.enable_soft_delete is True and vault.properties.enable_purge_protection is True
    fetched = azure["management"].vaults.get("rg1", "mgmtvault")
    assert [policy.object_id for policy in fetched.properties.access_policies] == [azure["oid"]]
    # Purge protection cannot be turned off.
    with pytest.raises(HttpResponseError):
        azure["management"].vaults.begin_create_or_update("rg1", "mgmtvault", VaultCreateOrUpdateParameters(
            location="westeurope", properties=VaultProperties(tenant_id=azure["operator"]["tenantId"], sku=Sku(family="A", name="standard"),
                                                              enable_purge_protection=False))).result()


def test_keys_and_cryptography(azure):
    vault = create_vault(azure, "cryptovault")
    keys = KeyClient(vault.properties.vault_uri, azure["credential"])
    key = keys.create_rsa_key("kek", size=2048)
    assert key.key_type == "RSA" and key.properties.enabled
    crypto = CryptographyClient(key, azure["credential"])
    secret = os.urandom(32)
    for algorithm in (KeyWrapAlgorithm.rsa_oaep_256, KeyWrapAlgorithm.rsa_oaep):
        wrapped = crypto.wrap_key(algorithm, secret)
        assert crypto.unwrap_key(algorithm, wrapped.encrypted_key).key == secret
    encrypted = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"plain text")
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, encrypted.ciphertext).plaintext == b"plain text"

    rotated = keys.rotate_key("kek")
    assert rotated.properties.version != key.properties.version
    # Data wrapped under the old version still unwraps with it.
    old = CryptographyClient(key.id, azure["credential"])
    assert old.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key).key == secret
    versions = [item.version for item in keys.list_properties_of_key_versions("kek")]
    assert sorted(versions) == sorted([key.properties.version, rotated.properties.version])

    updated = keys.update_key_properties("kek", enabled=False, tags={"purpose": "test"})
    assert updated.properties.enabled is False and updated.properties.tags == {"purpose": "test"}
    with pytest.raises(HttpResponseError) as refused:
        CryptographyClient(rotated.id, azure["credential"]).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"x" * 256)
    assert refused.value.status_code == 403


def test_list_paging(azure):
    vault = create_vault(azure, "pagedvault")
    keys = KeyClient(vault.properties.vault_uri, azure["credential"])
    for index in range(7):
        keys.create_rsa_key(f"key-{index}")
    pages = keys.list_properties_of_keys(max_page_size=3).by_page()
    sizes = [len(list(page)) for page in pages]
    assert sizes == [3, 3, 1]
    assert sorted(item.name for item in keys.list_properties_of_keys()) == [f"key-{index}" for index in range(7)]


def test_soft_delete_recover_and_purge_protection(azure):
    vault = create_vault(azure, "softvault")
    keys = KeyClient(vault.properties.vault_uri, azure["credential"])
    keys.create_rsa_key("doomed")
    deleted = keys.begin_delete_key("doomed").result()
    assert deleted.recovery_id.endswith("/deletedkeys/doomed") and deleted.scheduled_purge_date is not None
    with pytest.raises(ResourceNotFoundError):
        keys.get_key("doomed")
    with pytest.raises(HttpResponseError) as reused:
        keys.create_rsa_key("doomed")
    assert reused.value.status_code == 409
    assert [item.name for item in keys.list_deleted_keys()] == ["doomed"]
    recovered = keys.begin_recover_deleted_key("doomed").result()
    assert recovered.name == "doomed" and keys.get_key("doomed").properties.enabled
    keys.begin_delete_key("doomed").result()
    with pytest.raises(HttpResponseError) as purge:
        keys.purge_deleted_key("doomed")
    assert purge.value.status_code == 403 and "purge protection" in str(purge.value)

    unprotected = create_vault(azure, "purgeable", purge_protection=False)
    other = KeyClient(unprotected.properties.vault_uri, azure["credential"])
    other.create_rsa_key("gone")
    other.begin_delete_key("gone").result()
    other.purge_deleted_key("gone")
    assert list(other.list_deleted_keys()) == []
    other.create_rsa_key("gone")  # the name is free again


def test_a_missing_vault_answers_like_a_closed_one(azure, coffer):
    """Whether a vault exists is not for a token holder without access to learn (it was 404 VaultNotFound)."""
    create_vault(azure, "closedvault", key_permissions=())
    token = azure["credential"].get_token(f"https://vault.localhost:{coffer.port}/.default").token
    answers = []
    for name in ["closedvault", "nosuchvault"]:
        response = requests.get(f"https://{name}.vault.localhost:{coffer.port}/keys?api-version=7.4",
                                headers={"Authorization": f"Bearer {token}"}, timeout=30)
        answers.append((response.status_code, response.json()["error"]["code"]))
    assert answers == [(403, "Forbidden"), (403, "Forbidden")], answers


def test_access_policies_are_enforced(azure):
    vault = create_vault(azure, "policyvault", key_permissions=("get", "create", "wrapKey"))
    keys = KeyClient(vault.properties.vault_uri, azure["credential"])
    key = keys.create_rsa_key("limited")
    crypto = CryptographyClient(key, azure["credential"])
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"k" * 32)
    with pytest.raises(HttpResponseError) as denied:
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key)
    assert denied.value.status_code == 403 and "unwrapKey" in str(denied.value)
    set_policy(azure, "policyvault", "add", ["unwrapKey"])
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == b"k" * 32
    set_policy(azure, "policyvault", "remove", ["unwrapKey"])
    with pytest.raises(HttpResponseError):
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key)


def test_challenge_and_bad_tokens(azure, coffer):
    vault = create_vault(azure, "authvault")
    url = f"{vault.properties.vault_uri}keys?api-version=7.4"
    challenge = requests.get(url, timeout=30)
    assert challenge.status_code == 401
    header = challenge.headers["WWW-Authenticate"]
    assert f'authorization="https://localhost:{coffer.port}/{azure["operator"]["tenantId"]}"' in header
    assert f'resource="https://vault.localhost:{coffer.port}"' in header
    # A token for the resource manager is not a vault token.
    wrong_audience = requests.get(url, headers={"Authorization": f"Bearer {azure['token']}"}, timeout=30)
    assert wrong_audience.status_code == 401
    vault_token = azure["credential"].get_token(f"https://vault.localhost:{coffer.port}/.default").token
    assert requests.get(url, headers={"Authorization": f"Bearer {vault_token}"}, timeout=30).status_code == 200
    # The audience is configured, not read from the Host: a token for another port's vault audience is refused there.
    other = azure["credential"].get_token(f"https://vault.localhost:{coffer.port + 1}/.default").token
    vault_host = vault.properties.vault_uri.split("//")[1].split("/")[0].split(":")[0]
    assert requests.get(url, headers={"Authorization": f"Bearer {other}", "Host": f"{vault_host}:{coffer.port + 1}"},
                        timeout=30).status_code == 401
    head, body, signature = vault_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["tid"] = str(uuid.uuid4())
    forged = head + "." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + "." + signature
    assert requests.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=30).status_code == 401
    # A wrong client secret gets no token.
    bad = requests.post(f"https://{coffer.host}/{azure['operator']['tenantId']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": azure["operator"]["clientId"], "client_secret": "wrong",
        "scope": f"https://vault.localhost:{coffer.port}/.default"}, timeout=30)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


def test_key_material_never_rests_in_plaintext(azure, coffer):
    vault = create_vault(azure, "secretvault")
    keys = KeyClient(vault.properties.vault_uri, azure["credential"])
    keys.create_rsa_key("hidden", size=2048)
    # The public modulus is public; the private exponent must not be findable. We cannot read it from outside,
    # so check that no PKCS#1 private key structure (or its PEM armour) appears anywhere in the data directory.
    for directory, _, files in os.walk(coffer.data_dir):
        for file in files:
            with open(os.path.join(directory, file), "rb") as handle:
                contents = handle.read()
            assert b"PRIVATE KEY" not in contents or file in ("ca-key.pem", "server-key.pem", "token-signing-key.pem")
            assert b"\x02\x01\x00\x02\x82\x01\x01\x00" not in contents, f"an RSA private key structure rests in {file}"


def test_signatures_verify_outside_the_vault(azure):
    """Signatures made in the vault check out with an independent library (pyca/cryptography)."""
    import hashlib
    from azure.keyvault.keys.crypto import SignatureAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    vault = create_vault(azure, "signvault")
    keys = KeyClient(vault.properties.vault_uri, azure["credential"])
    digest = hashlib.sha256(b"message").digest()

    rsa_key = keys.create_rsa_key("signer")
    crypto = CryptographyClient(rsa_key, azure["credential"])
    public = rsa.RSAPublicNumbers(int.from_bytes(rsa_key.key.e, "big"), int.from_bytes(rsa_key.key.n, "big")).public_key()
    signature = crypto.sign(SignatureAlgorithm.rs256, digest).signature
    public.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    pss = crypto.sign(SignatureAlgorithm.ps256, digest).signature
    public.verify(pss, digest, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), utils.Prehashed(hashes.SHA256()))
    assert crypto.verify(SignatureAlgorithm.rs256, digest, signature).is_valid
    assert not crypto.verify(SignatureAlgorithm.rs256, hashlib.sha256(b"other").digest(), signature).is_valid

    ec_key = keys.create_ec_key("ec-signer", curve="P-256")
    ec_crypto = CryptographyClient(ec_key, azure["credential"])
    raw = ec_crypto.sign(SignatureAlgorithm.es256, digest).signature
    point = ec.EllipticCurvePublicNumbers(int.from_bytes(ec_key.key.x, "big"), int.from_bytes(ec_key.key.y, "big"), ec.SECP256R1()).public_key()
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    point.verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_rotation_policy_import_backup_restore(azure):
    from azure.keyvault.keys import JsonWebKey, KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction
    from cryptography.hazmat.primitives.asymmetric import rsa

    vault = create_vault(azure, "lifevault")
    keys = KeyClient(vault.properties.vault_uri, azure["credential"])
    keys.create_rsa_key("rotating")
    action = KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")
    policy = keys.update_key_rotation_policy("rotating", KeyRotationPolicy(), lifetime_actions=[action], expires_in="P90D")
    assert policy.expires_in == "P90D" and policy.lifetime_actions[0].time_after_create == "P30D"
    fetched = keys.get_key_rotation_policy("rotating")
    assert fetched.lifetime_actions[0].action == KeyRotationPolicyAction.rotate
    with pytest.raises(HttpResponseError):
        keys.update_key_rotation_policy("rotating", KeyRotationPolicy(), lifetime_actions=[
            KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P1D")])

    # Import a key made outside, then use it: the vault's public key is the one imported.
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.private_numbers()
    def b(value):
        return value.to_bytes((value.bit_length() + 7) // 8, "big")
    jwk = JsonWebKey(kty="RSA", n=b(numbers.public_numbers.n), e=b(numbers.public_numbers.e), d=b(numbers.d), p=b(numbers.p),
                     q=b(numbers.q), dp=b(numbers.dmp1), dq=b(numbers.dmq1), qi=b(numbers.iqmp))
    imported = keys.import_key("brought", jwk)
    assert int.from_bytes(imported.key.n, "big") == numbers.public_numbers.n

    blob = keys.backup_key("brought")
    other = create_vault(azure, "restorevault")
    restored = KeyClient(other.properties.vault_uri, azure["credential"]).restore_key_backup(blob)
    assert restored.name == "brought" and restored.key.n == imported.key.n
    with pytest.raises(HttpResponseError) as conflict:
        keys.restore_key_backup(blob)
    assert conflict.value.status_code == 409


def test_deleted_vaults_recover_and_purge(azure):
    management = azure["management"]
    vault = create_vault(azure, "phoenix")
    keys = KeyClient(vault.properties.vault_uri, azure["credential"])
    key = keys.create_rsa_key("survivor")
    wrapped = CryptographyClient(key, azure["credential"]).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"s" * 32)

    management.vaults.delete("rg1", "phoenix")
    deleted = management.vaults.get_deleted("phoenix", "westeurope")
    assert deleted.properties.vault_id.lower().endswith("/vaults/phoenix") and deleted.properties.purge_protection_enabled
    assert "phoenix" in [item.name for item in management.vaults.list_deleted()]
    with pytest.raises(HttpResponseError):
        keys.get_key("survivor")
    # The name is reserved while the vault is deleted.
    with pytest.raises(HttpResponseError) as taken:
        create_vault(azure, "phoenix", key_permissions=())
    assert taken.value.status_code == 409
    recovered = management.vaults.begin_create_or_update("rg1", "phoenix", VaultCreateOrUpdateParameters(
        location="westeurope", properties=VaultProperties(tenant_id=azure["operator"]["tenantId"], sku=Sku(family="A", name="standard"),
                                                          create_mode="recover"))).result()
    assert recovered.properties.enable_purge_protection is True
    crypto = CryptographyClient(key.id, azure["credential"])
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == b"s" * 32

    management.vaults.delete("rg1", "phoenix")
    with pytest.raises(HttpResponseError) as protected:
        management.vaults.begin_purge_deleted("phoenix", "westeurope").result()
    assert protected.value.status_code == 403

    create_vault(azure, "ephemeral", purge_protection=False)
    management.vaults.delete("rg1", "ephemeral")
    management.vaults.begin_purge_deleted("ephemeral", "westeurope").result()
    assert "ephemeral" not in [item.name for item in management.vaults.list_deleted()]
    create_vault(azure, "ephemeral", purge_protection=False)  # the name is free again
