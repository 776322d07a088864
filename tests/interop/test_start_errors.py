"""What a start that cannot work says (issue 16): one actionable line, never a Foundation error dump. Above all, a
server master key that does not fit the data is refused: before, a restart without `--master-key-file` generated a
new key, came up healthy, and answered every data call with 503 as if the data were lost."""
import base64
import hashlib
import os
import shutil
import subprocess
import tempfile

import json

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


def test_configuration_mistakes_are_one_line_naming_the_setting(tmp_path):
    data_dir = str(tmp_path / "data")
    config = tmp_path / "coffer.json"

    def with_config(text):
        config.write_text(text)
        return refused_start(data_dir, "--config", str(config))

    line = refused_start(data_dir, "--config", str(tmp_path / "nowhere.json"))
    assert "nowhere.json" in line and "cannot read" in line and "--config" in line, line
    line = with_config('{"port": 8443,,}')
    assert "coffer.json" in line and "not valid JSON" in line, line
    # A typo was silently ignored: now it is named, with the setting meant.
    line = with_config(json.dumps({"portt": 9443}))
    assert '"portt"' in line and 'did you mean "port"' in line, line
    line = with_config(json.dumps({"port": "9443"}))
    assert '"port" must be a whole number' in line, line
    line = with_config(json.dumps({"tokenLifetimeSeconds": 5}))
    assert '"tokenLifetimeSeconds"' in line and "60 to 86400" in line, line
    # Flags: a value out of range names the flag and the file key; an unknown log level is refused, not made `info`.
    line = refused_start(data_dir, "--port", "70000")
    assert "--port" in line and "1 to 65535" in line and "not 70000" in line, line
    line = refused_start(data_dir, "--gc-interval-seconds=-1")
    assert "--gc-interval-seconds" in line and '"jobs.garbageCollectionSeconds"' in line, line
    line = refused_start(data_dir, "--log-level", "verbose")
    assert "--log-level" in line and "debug" in line and "verbose" in line, line
    line = refused_start(data_dir, "--certificate", str(tmp_path / "no-cert.pem"), "--private-key", str(tmp_path / "no-key.pem"))
    assert "no-cert.pem" in line and "--certificate" in line, line
    line = refused_start(data_dir, "--certificate", str(tmp_path / "no-cert.pem"))
    assert "--certificate and --private-key" in line, line
    # None of these wrote a master key or anything else worth keeping.
    assert not os.path.exists(os.path.join(data_dir, "master.key"))


def test_a_port_in_use_is_named(tmp_path):
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir)
    try:
        result = subprocess.run([BINARY, "serve", "--data-dir", str(tmp_path / "data"), "--port", str(coffer.port)],
                                capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and f"port {coffer.port} is already in use" in errors[0] and "--port" in errors[0], output
        assert "bind(descriptor" not in output and "errno" not in output, output
        # The banner did not claim a running server first.
        assert "https://localhost" not in output, output
    finally:
        coffer.stop()
        coffer.log.close()
        shutil.rmtree(workdir, ignore_errors=True)
