"""Coffer on the distributed stack: PostgreSQL metadata (Debian's server) and S3 blobs (moto's server), both started
by the test command. A registry and a vault work as on the embedded stack, and what they hold survives a restart."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import Coffer
from oci_layout import build_image
from test_cli import coffer_cli


def test_registry_and_vault_on_postgresql_and_s3(postgres_database, s3_bucket, tmp_path):
    endpoint, bucket = s3_bucket
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir, ["--metadata", postgres_database, "--blobs", f"s3://{bucket}/coffer"])
    try:
        assert "PostgreSQL at 127.0.0.1" in open(coffer.log.name).read()
        coffer_cli(coffer, "group", "create", "--name", "pg-rg", "--location", "westeurope")
        coffer_cli(coffer, "keyvault", "create", "--name", "pgvault", "--group", "pg-rg", "--enable-purge-protection")
        kid = coffer_cli(coffer, "keyvault", "key", "create", "--name", "k", "--vault-name", "pgvault", "--query", "key.kid", "-o", "tsv").stdout.strip()
        server = coffer_cli(coffer, "acr", "create", "-n", "pgregistry", "-g", "pg-rg", "--sku", "Premium",
                            "--query", "loginServer", "-o", "tsv").stdout.strip()
        source = str(tmp_path / "source")
        layers = build_image(source, "v1", [os.urandom(200_000)])
        creds = f"{coffer.username}:{coffer.password}"
        pushed = subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", creds, f"oci:{source}:v1",
                                 f"docker://{server}/app:v1"], capture_output=True, text=True, timeout=120)
        assert pushed.returncode == 0, pushed.stderr
        coffer.stop()
        coffer.start()
        # Nothing was in the data directory: metadata came back from PostgreSQL, blobs from S3 (ciphertext only).
        assert not os.path.exists(os.path.join(coffer.data_dir, "metadata.sqlite"))
        assert not os.path.exists(os.path.join(coffer.data_dir, "blobs", "objects"))
        import requests
        listing = requests.get(f"{endpoint}/{bucket}", params={"list-type": "2", "prefix": "coffer/objects/registries/pgregistry/"}, timeout=30).text
        stored = [key.split("</Key>")[0] for key in listing.split("<Key>")[1:]]
        assert len(stored) >= len(layers)
        for key in stored:
            body = requests.get(f"{endpoint}/{bucket}/{key}", timeout=30).content
            for digest in layers:
                with open(os.path.join(source, "blobs", "sha256", digest.split(":")[1]), "rb") as layer:
                    assert layer.read()[:4096] not in body, "plaintext in the object store"
        assert coffer_cli(coffer, "keyvault", "key", "show", "--name", "k", "--vault-name", "pgvault", "--query", "key.kid", "-o", "tsv").stdout.strip() == kid
        back = str(tmp_path / "back")
        pulled = subprocess.run(["skopeo", "copy", "--src-cert-dir", coffer.cert_dir, "--src-creds", creds, f"docker://{server}/app:v1",
                                 f"oci:{back}:v1"], capture_output=True, text=True, timeout=120)
        assert pulled.returncode == 0, pulled.stderr
        for digest in layers:
            name = digest.split(":")[1]
            with open(os.path.join(source, "blobs", "sha256", name), "rb") as a, open(os.path.join(back, "blobs", "sha256", name), "rb") as b:
                assert a.read() == b.read()
        tags = json.loads(subprocess.run(["skopeo", "list-tags", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{server}/app"],
                                         capture_output=True, text=True, timeout=60).stdout)["Tags"]
        assert tags == ["v1"]
    finally:
        coffer.stop()
        coffer.log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_database_without_the_c_collation_is_refused(postgres_database):
    wrong = postgres_database.replace("coffer_interop_", "coffer_wrong_")
    name = wrong.split("/")[-1].split("?")[0]
    admin = os.environ["COFFER_TEST_POSTGRES_URL"]
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8'"],
                   capture_output=True)
    exists = subprocess.run(["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"], capture_output=True, text=True).stdout.strip()
    if exists != "1":
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"], check=True)
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    try:
        with pytest.raises(RuntimeError):
            Coffer(workdir, ["--metadata", wrong])
        with open(os.path.join(workdir, "coffer.log")) as handle:
            assert "C collation" in handle.read()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_server_side_encryption_is_asked_for(s3_bucket, tmp_path, monkeypatch):
    import requests
    endpoint, bucket = s3_bucket
    monkeypatch.setenv("COFFER_S3_SSE", "AES256")
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir, ["--blobs", f"s3://{bucket}/sse"])
    try:
        source = str(tmp_path / "source")
        build_image(source, "v1", [os.urandom(50_000)])
        pushed = subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", f"{coffer.username}:{coffer.password}",
                                 f"oci:{source}:v1", f"docker://{coffer.host}/coffer/app:v1"], capture_output=True, text=True, timeout=120)
        assert pushed.returncode == 0, pushed.stderr
        listing = requests.get(f"{endpoint}/{bucket}", params={"list-type": "2", "prefix": "sse/objects/"}, timeout=30).text
        keys = [key.split("</Key>")[0] for key in listing.split("<Key>")[1:]]
        assert keys
        import boto3  # moto's own dependency: an independent S3 client to look at the objects
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        for key in keys:
            assert s3.head_object(Bucket=bucket, Key=key).get("ServerSideEncryption") == "AES256", key
    finally:
        coffer.stop()
        coffer.log.close()
        shutil.rmtree(workdir, ignore_errors=True)
    monkeypatch.setenv("COFFER_S3_SSE", "rot13")
    refused = tempfile.mkdtemp(prefix="coffer-interop-")
    try:
        with pytest.raises(RuntimeError):
            Coffer(refused, ["--blobs", f"s3://{bucket}/sse"])
        with open(os.path.join(refused, "coffer.log")) as handle:
            assert "COFFER_S3_SSE must be" in handle.read()
    finally:
        shutil.rmtree(refused, ignore_errors=True)
