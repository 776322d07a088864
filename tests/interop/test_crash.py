"""A server killed mid-upload loses nothing committed and exposes nothing partial."""
import hashlib
import os
import subprocess
import time

import requests


def test_kill_during_upload_leaves_no_partial_blob(coffer):
    token = coffer.token("repository:coffer/crash:pull,push")
    headers = {"Authorization": f"Bearer {token}"}
    committed = os.urandom(500_000)
    committed_digest = "sha256:" + hashlib.sha256(committed).hexdigest()
    response = requests.post(f"https://{coffer.host}/v2/coffer/crash/blobs/uploads/?digest={committed_digest}", data=committed,
                             headers={**headers, "Content-Type": "application/octet-stream"}, verify=coffer.ca, timeout=60)
    assert response.status_code == 201

    # A large upload, throttled so that the kill lands in the middle of it.
    big = os.urandom(64 * 1024 * 1024)
    big_digest = "sha256:" + hashlib.sha256(big).hexdigest()
    path = os.path.join(coffer.workdir, "big")
    with open(path, "wb") as handle:
        handle.write(big)
    upload = subprocess.Popen(
        ["curl", "-sS", "--cacert", coffer.ca, "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/octet-stream",
         "--limit-rate", "8M", "--data-binary", f"@{path}", f"https://{coffer.host}/v2/coffer/crash/blobs/uploads/?digest={big_digest}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    assert upload.poll() is None, "the upload finished before the crash; the test proves nothing"
    coffer.crash()
    upload.wait(timeout=30)

    coffer.start()
    token = coffer.token("repository:coffer/crash:pull,push")
    headers = {"Authorization": f"Bearer {token}"}
    partial = requests.head(f"https://{coffer.host}/v2/coffer/crash/blobs/{big_digest}", headers=headers, verify=coffer.ca, timeout=30)
    assert partial.status_code == 404
    kept = requests.get(f"https://{coffer.host}/v2/coffer/crash/blobs/{committed_digest}", headers=headers, verify=coffer.ca, timeout=30)
    assert kept.status_code == 200 and kept.content == committed

    # The same blob can be pushed again and reads back whole.
    again = requests.post(f"https://{coffer.host}/v2/coffer/crash/blobs/uploads/?digest={big_digest}", data=big,
                          headers={**headers, "Content-Type": "application/octet-stream"}, verify=coffer.ca, timeout=120)
    assert again.status_code == 201
    pulled = requests.get(f"https://{coffer.host}/v2/coffer/crash/blobs/{big_digest}", headers=headers, verify=coffer.ca, timeout=120)
    assert hashlib.sha256(pulled.content).hexdigest() == big_digest.split(":")[1]
