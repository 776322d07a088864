"""`coffer check`: a data directory damaged in each way it can be damaged is reported, `--deep` finds what only
decrypting shows, and `--repair` fixes what loses nothing (and never what a manifest needs)."""
import glob
import hashlib
import os
import shutil
import sqlite3
import subprocess

import requests

from conftest import BINARY
from oci_layout import build_image


def check(coffer, *args):
    result = subprocess.run([BINARY, "check", "--data-dir", coffer.data_dir, *args], capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def object_of(coffer, digest):
    """The file holding the object of `digest` in the `coffer` registry."""
    encoded = digest.split(":")[1]
    found = glob.glob(os.path.join(coffer.data_dir, "blobs", "objects", "registries", "coffer", "blobs", "sha256", encoded[:2], encoded + ".*"))
    assert len(found) == 1, found
    return found[0]


def flip(path, offset):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x40]))


def test_every_kind_of_damage_is_found_and_only_safe_repairs_are_made(coffer, tmp_path):
    layout = str(tmp_path / "image")
    layers = build_image(layout, "v1", [os.urandom(300_000), os.urandom(5_000)])
    pushed = subprocess.run(["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", f"{coffer.username}:{coffer.password}",
                             f"oci:{layout}:v1", f"docker://{coffer.host}/coffer/app:v1"], capture_output=True, text=True, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    big = layers[0]
    # A blob no manifest references (uploaded, never used).
    loose = os.urandom(2_000)
    loose_digest = "sha256:" + hashlib.sha256(loose).hexdigest()
    token = coffer.token("repository:coffer/app:pull,push")
    assert requests.post(f"https://{coffer.host}/v2/coffer/app/blobs/uploads/?digest={loose_digest}", data=loose, verify=coffer.ca,
                         headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 201

    code, output = check(coffer)
    assert code == 0 and "no problems" in output and "objects authenticated" in output, output
    code, output = check(coffer, "--deep")
    assert code == 0 and "decrypted" in output, output

    # A flipped byte inside a segment: the header and commit record still authenticate; only --deep decrypts.
    path = object_of(coffer, big)
    saved = str(tmp_path / "saved")
    shutil.copy(path, saved)
    flip(path, os.path.getsize(path) // 2)
    assert check(coffer)[0] == 0
    code, output = check(coffer, "--deep")
    assert code == 1 and "PROBLEM digest-mismatch" in output and big in output, output
    shutil.copy(saved, path)
    # A flipped byte in the commit record (the object's last bytes): found without decrypting.
    flip(path, os.path.getsize(path) - 3)
    code, output = check(coffer)
    assert code == 1 and "PROBLEM corrupt-object" in output and big in output, output
    shutil.copy(saved, path)
    assert check(coffer, "--deep")[0] == 0

    # An object a manifest needs is gone: reported; --repair cannot and does not pretend to.
    os.remove(path)
    code, output = check(coffer, "--repair")
    assert code == 1 and "PROBLEM missing-object" in output and "restore it from a backup" in output, output
    shutil.copy(saved, path)

    # A stray object (no record names it, older than the grace period): --repair deletes it, as collection would.
    stray = os.path.join(os.path.dirname(path), "0" * 64 + ".1000.1")
    shutil.copy(saved, stray)
    code, output = check(coffer)
    assert code == 1 and "PROBLEM stray-object" in output, output
    code, output = check(coffer, "--repair")
    assert code == 0 and "repaired stray-object" in output and not os.path.exists(stray), output

    # The loose blob's object is lost: its record is forgotten, so a client uploads it again instead of being told
    # it is there.
    os.remove(object_of(coffer, loose_digest))
    code, output = check(coffer, "--repair")
    assert code == 0 and "repaired missing-object" in output and loose_digest in output, output
    head = requests.head(f"https://{coffer.host}/v2/coffer/app/blobs/{loose_digest}", verify=coffer.ca,
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert head.status_code == 404
    assert check(coffer, "--deep")[0] == 0

    # A tag naming a manifest that is gone (metadata damaged by hand, server stopped).
    coffer.stop()
    try:
        with sqlite3.connect(os.path.join(coffer.data_dir, "metadata.sqlite")) as db:
            db.execute("DELETE FROM manifests WHERE registry = 'coffer' AND repository = 'app'")
        code, output = check(coffer)
        assert code == 1 and "PROBLEM dangling-tag" in output and "app:v1" in output, output
        # The wrong master key is refused, not taken for every object being corrupt.
        wrong = str(tmp_path / "wrong.key")
        with open(wrong, "w") as handle:
            handle.write("A" * 43 + "=\n")
        code, output = check(coffer, "--master-key-file", wrong)
        assert code != 0 and "master key" in output and "PROBLEM" not in output, output
    finally:
        coffer.start()
