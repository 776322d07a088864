"""A start with a server master key that does not fit the data is refused (issue 16): before, a restart without
`--master-key-file` generated a new key, came up healthy, and answered every data call with 503 as if the data
were lost."""
import base64
import hashlib
import os
import shutil
import subprocess
import tempfile

import requests

from conftest import BINARY, Coffer, free_port


def refused_start(data_dir, *extra):
    """Runs `coffer serve` that must refuse to start: returns its output."""
    result = subprocess.run([BINARY, "serve", "--data-dir", data_dir, "--port", str(free_port()), *extra],
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert "NSCocoaErrorDomain" not in output and "Optional(" not in output, output
    return errors[0]


def push_blob(coffer, data):
    token = coffer.token("repository:coffer/keep:pull,push")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    pushed = requests.post(f"https://{coffer.host}/v2/coffer/keep/blobs/uploads/?digest={digest}", data=data, verify=coffer.ca,
                           timeout=30, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"})
    assert pushed.status_code == 201, pushed.text
    return digest


def pull_blob(coffer, digest):
    token = coffer.token("repository:coffer/keep:pull")
    return requests.get(f"https://{coffer.host}/v2/coffer/keep/blobs/{digest}", verify=coffer.ca, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def test_a_start_with_a_missing_or_wrong_master_key_is_refused(tmp_path):
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir)
    try:
        data = os.urandom(10_000)
        digest = push_blob(coffer, data)
        coffer.stop()
        key_path = os.path.join(coffer.data_dir, "master.key")
        kept = str(tmp_path / "the-real.key")
        shutil.move(key_path, kept)

        # The key file is gone: no new key over the data, and the line says what to do.
        line = refused_start(coffer.data_dir)
        assert "--master-key-file" in line and "no new key was written" in line, line
        assert not os.path.exists(key_path)

        # Another key, named by the flag: refused as not fitting.
        other = tmp_path / "other.key"
        other.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
        line = refused_start(coffer.data_dir, "--master-key-file", str(other))
        assert "does not fit" in line and "--master-key-file" in line, line
        # A file that is not a key, and one that is missing: which file, which setting, what to do.
        other.write_text("not a key\n")
        line = refused_start(coffer.data_dir, "--master-key-file", str(other))
        assert str(other) in line and "32 bytes" in line and "--master-key-file" in line, line
        line = refused_start(coffer.data_dir, "--master-key-file", str(tmp_path / "missing.key"))
        assert "missing.key" in line and "cannot read" in line, line

        # The right key: the data is there.
        coffer.extra_args = ["--master-key-file", kept]
        coffer.start()
        pulled = pull_blob(coffer, digest)
        assert pulled.status_code == 200 and pulled.content == data
    finally:
        coffer.stop()
        coffer.log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_second_node_without_the_shared_key_is_refused(postgres_database, tmp_path):
    first_dir = tempfile.mkdtemp(prefix="coffer-interop-")
    second_dir = tempfile.mkdtemp(prefix="coffer-interop-")
    first = Coffer(first_dir, ["--metadata", postgres_database])
    second = None
    try:
        data = os.urandom(5_000)
        digest = push_blob(first, data)
        # A second node on the same database, its data directory fresh and no key given: refused, nothing written.
        line = refused_start(os.path.join(second_dir, "data"), "--metadata", postgres_database)
        assert "PostgreSQL" in line and "--master-key-file" in line, line
        assert not os.path.exists(os.path.join(second_dir, "data", "master.key"))
        # With the first node's key it joins (blobs are per node here, so it reads the first node's metadata).
        second = Coffer(second_dir, ["--metadata", postgres_database, "--master-key-file", os.path.join(first.data_dir, "master.key")])
        assert requests.get(f"https://{second.host}/healthz", verify=second.ca, timeout=30).status_code == 200
        assert pull_blob(first, digest).content == data
    finally:
        for node in (first, second):
            if node:
                node.stop()
                node.log.close()
        shutil.rmtree(first_dir, ignore_errors=True)
        shutil.rmtree(second_dir, ignore_errors=True)
