"""`coffer backup` and `coffer restore`: a backup taken while pushes go on restores on a fresh server, where every
image acknowledged before the backup began pulls byte-identical and every image acknowledged during it is either
whole or absent; a damaged or unfinished backup is refused; secrets can be left out; a restored registry under a
customer-managed key serves only while its vault key is reachable, and answers 410 once the key is purged."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import boto3
import botocore.exceptions
import pytest
import requests

from conftest import BINARY, Coffer
from oci_layout import build_image
from test_cmk import grant, operator_vault_token, pull_blob, push_blob, registry_body, setup as cmk_setup


def coffer_cmd(*args, check=True):
    result = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def push(server, layout, tag, reference):
    return subprocess.run(["skopeo", "copy", "--dest-cert-dir", server.cert_dir, "--dest-creds", f"{server.username}:{server.password}",
                           f"oci:{layout}:{tag}", f"docker://{server.host}/coffer/{reference}"], capture_output=True, text=True, timeout=120)


def pulled_layers(server, reference, into):
    """The image's layers as pulled (skopeo checks every digest), or None when the registry does not have it."""
    result = subprocess.run(["skopeo", "copy", "--src-cert-dir", server.cert_dir, "--src-creds", f"{server.username}:{server.password}",
                             f"docker://{server.host}/coffer/{reference}", f"oci:{into}:x"], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        assert "manifest unknown" in result.stderr.lower() or "not found" in result.stderr.lower(), result.stderr
        return None
    return layer_bytes(into)


def layer_bytes(layout):
    """The layers of the one image of an OCI layout."""
    with open(os.path.join(layout, "index.json")) as handle:
        manifest_digest = json.load(handle)["manifests"][0]["digest"].split(":")[1]
    with open(os.path.join(layout, "blobs", "sha256", manifest_digest)) as handle:
        manifest = json.load(handle)
    result = []
    for layer in manifest["layers"]:
        with open(os.path.join(layout, "blobs", "sha256", layer["digest"].split(":")[1]), "rb") as handle:
            result.append(handle.read())
    return result


def push_images(server, tmp_path, count, sizes):
    """`count` images pushed one after another; returns their layers by reference."""
    images = {}
    for index in range(count):
        layout = str(tmp_path / f"before{index}")
        build_image(layout, "v1", [os.urandom(size) for size in sizes])
        assert push(server, layout, "v1", f"before/app{index}:v1").returncode == 0
        images[f"before/app{index}:v1"] = layer_bytes(layout)
    return images


class PushesDuring:
    """A second client pushing images one after another (at most `limit`) until stopped; `acknowledged` holds the
    layers of each image whose push succeeded."""

    def __init__(self, server, tmp_path, limit, size):
        self.acknowledged, self.stopping = {}, threading.Event()

        def keep_pushing():
            for index in range(limit):
                if self.stopping.is_set():
                    return
                layout = str(tmp_path / f"during{index}")
                build_image(layout, "v1", [os.urandom(size)])
                if push(server, layout, "v1", f"during/app{index}:v1").returncode == 0:
                    self.acknowledged[f"during/app{index}:v1"] = layer_bytes(layout)

        self.thread = threading.Thread(target=keep_pushing)
        self.thread.start()

    def wait_for(self, count, seconds=60):
        """Until `count` pushes went through: the pushes are under way before the backup starts."""
        deadline = time.time() + seconds
        while len(self.acknowledged) < count and time.time() < deadline:
            time.sleep(0.1)

    def stop(self):
        self.stopping.set()
        self.thread.join()


def assert_restored(restored, tmp_path, images, during):
    """Every image acknowledged before the backup pulls byte-identical; each one acknowledged during it is whole or
    absent. Returns how many of the latter are there."""
    def back(reference):
        return str(tmp_path / ("back-" + reference.replace("/", "-").replace(":", "-")))

    for reference, layers in images.items():
        assert pulled_layers(restored, reference, back(reference)) == layers, reference
    present = 0
    for reference, layers in during.items():
        got = pulled_layers(restored, reference, back(reference))
        assert got is None or got == layers, reference
        present += got is not None
    return present


def test_a_backup_taken_during_pushes_restores_every_acknowledged_image(coffer, tmp_path):
    images = push_images(coffer, tmp_path, 4, [150_000, 20_000])
    # Pushes go on while the backup runs.
    pushes = PushesDuring(coffer, tmp_path, limit=40, size=100_000)
    backup = str(tmp_path / "backup")
    pushes.wait_for(2)
    try:
        made = coffer_cmd("backup", "--to", backup, "--data-dir", coffer.data_dir)
    finally:
        pushes.stop()
    during = pushes.acknowledged
    assert "objects" in made.stdout and "master key" in made.stderr, (made.stdout, made.stderr)
    assert os.path.exists(os.path.join(backup, "coffer-backup.json"))
    assert oct(os.stat(os.path.join(backup, "master.key")).st_mode & 0o777) == "0o600"

    # Restored on a fresh machine (a new directory, another port), with the original gone.
    coffer.stop()
    workdir = tempfile.mkdtemp(prefix="coffer-restored-")
    restored = None
    try:
        told = coffer_cmd("restore", "--from", backup, "--data-dir", os.path.join(workdir, "data"))
        assert "coffer serve --data-dir" in told.stdout
        restored = Coffer(workdir)
        present = assert_restored(restored, tmp_path, images, during)
        print(f"backup during pushes: {len(images)} images before, {len(during)} acknowledged during, {present} of those restored")
        # The restored server takes new pushes.
        layout = str(tmp_path / "after")
        build_image(layout, "v1", [os.urandom(10_000)])
        assert push(restored, layout, "v1", "after/app:v1").returncode == 0
    finally:
        if restored:
            restored.stop()
        coffer.start()  # the fixture stops it again
        shutil.rmtree(workdir, ignore_errors=True)


def test_damaged_unfinished_and_secretless_backups(coffer, tmp_path):
    layout = str(tmp_path / "image")
    build_image(layout, "v1", [os.urandom(50_000)])
    assert push(coffer, layout, "v1", "app:v1").returncode == 0
    full, bare = str(tmp_path / "full"), str(tmp_path / "bare")
    coffer_cmd("backup", "--to", full, "--data-dir", coffer.data_dir)
    # Not into a directory that holds something, and not from what is not a data directory.
    again = coffer_cmd("backup", "--to", full, "--data-dir", coffer.data_dir, check=False)
    assert again.returncode != 0 and "not empty" in again.stderr
    nothing = coffer_cmd("backup", "--to", str(tmp_path / "x"), "--data-dir", str(tmp_path), check=False)
    assert nothing.returncode != 0 and "metadata.sqlite" in nothing.stderr

    # One flipped byte in one object: refused, and no data directory appears.
    with open(os.path.join(full, "coffer-backup.json")) as handle:
        index = json.load(handle)
    damaged = str(tmp_path / "damaged")
    shutil.copytree(full, damaged)
    victim = next(entry["path"] for entry in index["files"] if entry["path"].startswith("blobs/objects/"))
    with open(os.path.join(damaged, victim), "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 1]))
    refused = coffer_cmd("restore", "--from", damaged, "--data-dir", str(tmp_path / "r1"), check=False)
    assert refused.returncode != 0 and "SHA-256" in refused.stderr and victim in refused.stderr, refused.stderr
    assert not os.path.exists(tmp_path / "r1")
    # A backup cut off before its index was written is no backup.
    os.remove(os.path.join(damaged, "coffer-backup.json"))
    unfinished = coffer_cmd("restore", "--from", damaged, "--data-dir", str(tmp_path / "r2"), check=False)
    assert unfinished.returncode != 0 and "cut off" in unfinished.stderr

    # Without secrets: none of them in the backup; restore says what to put back.
    coffer_cmd("backup", "--to", bare, "--data-dir", coffer.data_dir, "--exclude-secrets")
    assert not any(os.path.exists(os.path.join(bare, name)) for name in ("master.key", "operator-credentials.json", "token-signing-key.pem"))
    with open(os.path.join(full, "master.key"), "rb") as handle:
        master = handle.read()
    for root, _, names in os.walk(bare):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                assert master.strip() not in handle.read(), f"{name} holds the master key"
    told = coffer_cmd("restore", "--from", bare, "--data-dir", str(tmp_path / "r3"))
    assert "master.key" in told.stdout and "before starting" in told.stdout
    digest = hashlib.sha256(open(os.path.join(full, "metadata.sqlite"), "rb").read()).hexdigest()
    assert any(entry["sha256"] == digest for entry in index["files"])


# The pushed blob is referenced by no manifest: collection's grace outlasts the 8-day clock jump below.
CMK_SERVE_ARGS = ("--key-access-check-seconds", "1", "--gc-grace-seconds", str(30 * 86400))


@pytest.mark.serve_args(*CMK_SERVE_ARGS)
def test_a_restored_cmk_registry_serves_only_while_its_key_is_reachable(coffer, tmp_path):
    cloud, kek, identity = cmk_setup(coffer, retention_days=7)
    grant(coffer, identity, "get", "wrapKey", "unwrapKey")
    assert cloud.put(cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/keptreg", registry_body(identity, kek)).status_code == 201
    data = os.urandom(120_000)
    digest, pushed = push_blob(coffer, "keptreg", data)
    assert pushed.status_code == 201
    backup = str(tmp_path / "backup")
    coffer_cmd("backup", "--to", backup, "--data-dir", coffer.data_dir)
    coffer.stop()

    # On a new machine: another directory and another port than the vault key's identifier names.
    workdir = tempfile.mkdtemp(prefix="coffer-restored-")
    restored = None
    try:
        coffer_cmd("restore", "--from", backup, "--data-dir", os.path.join(workdir, "data"))
        restored = Coffer(workdir, CMK_SERVE_ARGS)
        assert restored.port != coffer.port
        assert pull_blob(restored, "keptreg", digest).content == data
        # The key disabled: the restored registry fails closed; enabled again: it serves.
        key_url = f"https://cmkvault.vault.localhost:{restored.port}/keys/kek?api-version=7.4"
        vault = {"Authorization": f"Bearer {operator_vault_token(restored)}"}
        for enabled, expected in ((False, 503), (True, 200)):
            assert requests.patch(key_url, json={"attributes": {"enabled": enabled}}, headers=vault, verify=restored.ca, timeout=30).status_code == 200
            time.sleep(2)
            answer = pull_blob(restored, "keptreg", digest)
            assert answer.status_code == expected, answer.text
        assert answer.content == data
        # The key deleted and, its retention over, purged: the restored registry's data is gone for good.
        assert requests.delete(key_url, headers=vault, verify=restored.ca, timeout=30).status_code == 200
        restored.stop()
        restored.start(clock_offset="+8d")
        deadline = time.time() + 20
        while (gone := pull_blob(restored, "keptreg", digest)).status_code != 410:
            assert time.time() < deadline, f"the purged key's registry still answers {gone.status_code}"
            time.sleep(0.5)
        assert gone.json()["errors"][0]["code"] == "KEY_PURGED", gone.text
    finally:
        if restored:
            restored.stop()
        coffer.start()  # the fixture stops it again
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_postgresql_and_s3_recipe(postgres_database, s3_bucket, tmp_path):
    """docs/operations.md's recipe for the scale-out stack, step by step, while pushes go on: `pg_dump`, then the
    bucket's objects, then the data directory's files; restored into a new database and a new bucket."""
    endpoint, bucket = s3_bucket
    s3 = boto3.client("s3", endpoint_url=endpoint)
    os.makedirs(tmp_path / "server")
    server = Coffer(str(tmp_path / "server"), ["--metadata", postgres_database, "--blobs", f"s3://{bucket}/coffer"])
    images = push_images(server, tmp_path, 3, [120_000])
    pushes = PushesDuring(server, tmp_path, limit=30, size=60_000)
    backup = tmp_path / "backup"
    os.makedirs(backup)
    try:
        pushes.wait_for(1)
        # 1. The metadata, one snapshot.
        subprocess.run(["pg_dump", "--format=custom", f"--file={backup / 'coffer.dump'}", postgres_database], check=True, timeout=120)
        # 2. Then the objects (what `aws s3 sync` does).
        copied, vanished = 0, []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                if "/staging/" in entry["Key"]:
                    continue  # uploads in progress: clients start them again
                target = backup / "objects" / entry["Key"]
                os.makedirs(target.parent, exist_ok=True)
                try:
                    s3.download_file(bucket, entry["Key"], str(target))
                    copied += 1
                except botocore.exceptions.ClientError as error:  # deleted since the listing: not needed
                    assert error.response["Error"]["Code"] in ("404", "NoSuchKey"), error
                    vanished.append(entry["Key"])
        # 3. The data directory's files.
        shutil.copytree(server.data_dir, backup / "data")
    finally:
        pushes.stop()
        server.stop()
    during = pushes.acknowledged
    assert copied > 0
    print(f"objects copied: {copied}; deleted between listing and copy: {vanished}")

    # Restore in the same order into a new database and a new bucket; the old ones stay untouched.
    name = "coffer_restored_" + uuid.uuid4().hex[:12]
    admin = os.environ["COFFER_TEST_POSTGRES_URL"]
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"], check=True)
    database = admin.replace("/postgres?", f"/{name}?")
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={database}", str(backup / "coffer.dump")], check=True, timeout=120)
    new_bucket = "coffer-restored-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=new_bucket)
    for folder, _, files in os.walk(backup / "objects"):
        for file in files:
            path = os.path.join(folder, file)
            s3.upload_file(path, new_bucket, os.path.relpath(path, backup / "objects"))
    os.makedirs(tmp_path / "restored")
    shutil.copytree(backup / "data", tmp_path / "restored" / "data")
    serve_args = ["--metadata", database, "--blobs", f"s3://{new_bucket}/coffer"]
    restored = Coffer(str(tmp_path / "restored"), serve_args)
    try:
        present = assert_restored(restored, tmp_path, images, during)
        print(f"PostgreSQL + S3 recipe: {len(images)} images before, {len(during)} acknowledged during, {present} of those restored")
        checked = coffer_cmd("check", "--deep", "--data-dir", restored.data_dir, *serve_args, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        restored.stop()
