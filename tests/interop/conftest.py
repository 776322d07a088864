"""Starts a real `coffer serve` (the built binary) on a loopback port for the interop tests."""
import glob
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("COFFER_BIN", os.path.join(ROOT, ".build", "debug", "coffer"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Coffer:
    """A running server: its address, CA, admin credentials and data directory."""

    # Every server a test starts, for the scan of their logs when the test ends (`no_secret_in_any_log`).
    started = []

    def __init__(self, workdir, extra_args=(), port=None):
        Coffer.started.append(self)
        self.leaked = None
        self.workdir = workdir
        self.extra_args = list(extra_args)
        self.data_dir = os.path.join(workdir, "data")
        self.port = port or free_port()
        self.log = open(os.path.join(workdir, "coffer.log"), "a")
        self.host = f"localhost:{self.port}"
        self.ca = os.path.join(self.data_dir, "ca.pem")
        self.start()
        with open(os.path.join(self.data_dir, "admin-credentials.json")) as handle:
            credentials = json.load(handle)
        self.username, self.password = credentials["username"], credentials["password"]
        # Every secret this test is handed (tokens, workload headers), for the scan of the log at the end.
        self.secrets_seen = set()
        # skopeo and friends read a CA from a directory of *.crt files.
        self.cert_dir = os.path.join(workdir, "certs")
        os.makedirs(self.cert_dir)
        shutil.copy(self.ca, os.path.join(self.cert_dir, "ca.crt"))

    def start(self, clock_offset=None):
        """Starts (or restarts) the server on the same data directory and port. `clock_offset` (say "+91d")
        runs it with its wall clock moved forward by Debian's libfaketime, for what only time brings (purges
        on schedule); monotonic time is left alone."""
        command = [BINARY, "serve", "--data-dir", self.data_dir, "--port", str(self.port), *self.extra_args]
        environment = dict(os.environ)
        if clock_offset:
            # The server certificate is reissued at each start, valid from the server's "now"; clients live in
            # real time, so the moved server keeps serving the certificate it made before.
            certificate, key = os.path.join(self.workdir, "server.pem"), os.path.join(self.workdir, "server-key.pem")
            shutil.copy(os.path.join(self.data_dir, "server.pem"), certificate)
            shutil.copy(os.path.join(self.data_dir, "server-key.pem"), key)
            # libfaketime preloaded into coffer itself (not the `faketime` wrapper, which does not pass SIGTERM on).
            # Started through `sh -c exec`: exec'd straight from Python with the preload, coffer sees no arguments.
            command = ["sh", "-c", 'exec "$0" "$@"', *command, "--certificate", certificate, "--private-key", key]
            environment.update(LD_PRELOAD=glob.glob("/usr/lib/*/faketime/libfaketime.so.1")[0], FAKETIME=clock_offset,
                               FAKETIME_DONT_FAKE_MONOTONIC="1")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=environment)
        self._wait_until_healthy()

    def crash(self):
        """Ends the server abruptly, as a power cut or the OOM killer would."""
        self.process.kill()
        self.process.wait()

    def operator(self):
        """The bootstrap operator's service-principal credentials (tenantId, clientId, clientSecret, ...)."""
        with open(os.path.join(self.data_dir, "operator-credentials.json")) as handle:
            return json.load(handle)

    def operator_token(self, resource=None):
        """An access token for `resource` (default: this server's resource manager), as the operator."""
        import requests
        operator = self.operator()
        response = requests.post(f"https://{self.host}/{operator['tenantId']}/oauth2/v2.0/token", verify=self.ca, timeout=30, data={
            "grant_type": "client_credentials", "client_id": operator["clientId"], "client_secret": operator["clientSecret"],
            "scope": f"{resource or f'https://{self.host}'}/.default"})
        response.raise_for_status()
        self.secrets_seen.add(response.json()["access_token"])
        return response.json()["access_token"]

    def workload_environment(self, identity_id, token=None):
        """IDENTITY_ENDPOINT and IDENTITY_HEADER for a workload acting as the user-assigned identity `identity_id`
        (asked of the resource manager as the operator, or as the holder of `token`)."""
        import requests
        response = requests.post(f"https://{self.host}{identity_id}/listWorkloadEnvironment", params={"api-version": "2023-01-31"},
                                 headers={"Authorization": f"Bearer {token or self.operator_token()}"}, verify=self.ca, timeout=30)
        response.raise_for_status()
        self.secrets_seen.update(value for value in response.json().values() if isinstance(value, str) and len(value) >= 16)
        return response.json()

    def token(self, scope, service=None):
        import requests
        response = requests.get(f"https://{self.host}/oauth2/token", params={"service": service or self.host, "scope": scope},
                                auth=(self.username, self.password), verify=self.ca, timeout=30)
        response.raise_for_status()
        self.secrets_seen.add(response.json()["token"])
        return response.json()["token"]

    def secrets(self):
        """What must never be logged: the credentials and keys of the data directory, and the tokens and workload
        headers this test was handed. Key files are matched by each line of their text (PEM bodies, base64)."""
        found = {self.password, *self.secrets_seen}
        try:
            found.add(self.operator()["clientSecret"])
        except OSError:
            pass  # the data directory is gone already
        for name in ("master.key", "identity-header", "token-signing-key.pem", "server-key.pem", "ca-key.pem"):
            path = os.path.join(self.data_dir, name)
            if os.path.exists(path):
                with open(path, errors="replace") as handle:
                    found.update(line.strip() for line in handle if len(line.strip()) >= 16 and not line.startswith("-----"))
        # A token's signature is its secret part too: a log that kept only that would still be a leak.
        found.update(secret.rsplit(".", 1)[-1] for secret in list(found) if secret.count(".") == 2)
        return {secret for secret in found if secret and len(secret) >= 16}

    def secrets_in_log(self):
        """The secrets (their first characters) found in this server's log; read while its files still exist."""
        self.log.flush()
        with open(self.log.name, errors="replace") as handle:
            text = handle.read()
        return [secret[:6] + "…" for secret in self.secrets() if secret in text]

    def _wait_until_healthy(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"coffer exited with {self.process.returncode}; see {self.log.name}")
            try:
                context = ssl.create_default_context(cafile=self.ca)
                with urllib.request.urlopen(f"https://{self.host}/healthz", context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, ValueError):
                time.sleep(0.1)
        raise RuntimeError("coffer did not become healthy within 30 s")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # Scanned now: tests remove the working directory right after.
        self.leaked = self.secrets_in_log()


@pytest.fixture(autouse=True)
def no_secret_in_any_log():
    """No server a test started wrote a secret to its log: the data directory's credentials and keys, or a token or
    workload header the test was handed."""
    Coffer.started.clear()
    yield
    for server in Coffer.started:
        if not hasattr(server, "password"):
            continue  # it never started: the test has failed for that already
        leaked = server.leaked if server.leaked is not None else (server.secrets_in_log() if os.path.exists(server.log.name) else [])
        assert not leaked, f"secrets in the server's log ({server.log.name}): {leaked}"


@pytest.fixture
def coffer(request):
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    marker = request.node.get_closest_marker("serve_args")
    server = Coffer(workdir, marker.args if marker else ())
    yield server
    server.stop()
    server.log.close()
    assert server.process.returncode == 0, "coffer did not shut down gracefully"
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_database():
    admin = os.environ.get("COFFER_TEST_POSTGRES_URL")
    if not admin:
        if os.environ.get("COFFER_REQUIRE_POSTGRES") == "1":
            pytest.fail("COFFER_REQUIRE_POSTGRES=1 but COFFER_TEST_POSTGRES_URL is not set (scripts/test-postgres starts one)")
        pytest.skip("no PostgreSQL: run through scripts/test, which starts one")
    name = "coffer_interop_" + uuid.uuid4().hex
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"], check=True)
    return admin.replace("/postgres?", f"/{name}?")


@pytest.fixture
def s3_bucket(monkeypatch):
    endpoint = os.environ.get("COFFER_TEST_S3_ENDPOINT")
    if not endpoint:
        if os.environ.get("COFFER_REQUIRE_S3") == "1":
            pytest.fail("COFFER_REQUIRE_S3=1 but COFFER_TEST_S3_ENDPOINT is not set")
        pytest.skip("no S3 endpoint: run through scripts/test, which starts moto")
    import requests
    bucket = "coffer-interop-" + uuid.uuid4().hex[:12]
    assert requests.put(f"{endpoint}/{bucket}", timeout=30).status_code == 200
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    return endpoint, bucket
