"""Storage faults: the S3 endpoint answering 500s or going away, PostgreSQL restarting mid-operation. Coffer
answers with clear errors (503 UNAVAILABLE, nothing changed), retries what S3 says to retry, and comes back
by itself when storage does; what was stored before is intact."""
import http.client
import http.server
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import Coffer, free_port
from oci_layout import build_image


class FaultyProxy:
    """An HTTP proxy in front of the S3 endpoint that can fail the next requests with 500, or be down. It records
    every request it sees; with `virtual_bucket` it takes virtual-host requests (`<bucket>.localhost`) and passes
    them on path-style, which moto answers on loopback."""

    def __init__(self, target, port, virtual_bucket=None):
        self.target = target.replace("http://", "")
        self.port = port
        self.virtual_bucket = virtual_bucket
        self.seen = []  # (method, Host, path, headers)
        self.fail_next = 0
        self.failed = 0
        self.down = False
        self.server = None

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                if proxy.down:
                    # Gone: kept-alive connections are cut without an answer, new ones refused (the socket is closed).
                    self.close_connection = True
                    return
                if proxy.fail_next > 0:
                    proxy.fail_next -= 1
                    proxy.failed += 1
                    payload = b"<Error><Code>InternalError</Code></Error>"
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                host = self.headers.get("Host", "")
                proxy.seen.append((self.command, host, self.path, {k.lower(): v for k, v in self.headers.items()}))
                path, headers = self.path, dict(self.headers)
                if proxy.virtual_bucket and host.startswith(proxy.virtual_bucket + "."):
                    headers = {name: value for name, value in headers.items() if name.lower() != "host"}
                    path, headers["Host"] = f"/{proxy.virtual_bucket}{self.path}", proxy.target
                upstream = http.client.HTTPConnection(proxy.target, timeout=60)
                upstream.request(self.command, path, body=body or None, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for name, value in reply.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                # A HEAD answer has no body but tells the object's length.
                self.send_header("Content-Length", reply.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.down = True
        self.server.shutdown()
        self.server.server_close()


def skopeo_push(coffer, source, tag):
    """The skopeo command that pushes the image `tag` of the OCI layout `source` to coffer/app."""
    return ["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", f"{coffer.username}:{coffer.password}",
            f"oci:{source}:{tag}", f"docker://{coffer.host}/coffer/app:{tag}"]


def push_again(coffer, source, tag):
    return subprocess.run(skopeo_push(coffer, source, tag), capture_output=True, text=True, timeout=300)


def push(coffer, tmp_path, tag, payloads):
    source = str(tmp_path / f"source-{tag}")
    layers = build_image(source, tag, payloads)
    return push_again(coffer, source, tag), source, layers


def pulled_identical(coffer, tmp_path, tag, source, layers):
    back = str(tmp_path / f"back-{tag}")
    result = subprocess.run(["skopeo", "copy", "--src-cert-dir", coffer.cert_dir, "--src-creds", f"{coffer.username}:{coffer.password}",
                             f"docker://{coffer.host}/coffer/app:{tag}", f"oci:{back}:{tag}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for digest in layers:
        name = digest.split(":")[1]
        with open(os.path.join(source, "blobs", "sha256", name), "rb") as a, open(os.path.join(back, "blobs", "sha256", name), "rb") as b:
            if a.read() != b.read():
                return False
    return True


def shut_down(coffer, workdir):
    """Stops a server a test started and removes its working directory."""
    coffer.stop()
    coffer.log.close()
    shutil.rmtree(workdir, ignore_errors=True)


def readiness(coffer):
    """`/readyz` (unauthenticated, as probes are): its status code and which stores answered."""
    answer = requests.get(f"https://{coffer.host}/readyz", verify=coffer.ca, timeout=60)
    return answer.status_code, answer.json()["checks"]


def becomes_ready(coffer, status, checks, seconds=20):
    """Whether `/readyz` comes to answer `status` with `checks` (it reuses an answer for a second, and a store that
    stopped answering takes its limit of 5 s to be declared unavailable)."""
    deadline = time.time() + seconds
    while readiness(coffer) != (status, checks):
        if time.time() > deadline:
            return False
        time.sleep(0.5)
    return True


def assert_pushes_and_pulls(coffer, tmp_path, tag):
    """A new image pushes and pulls back identical: the server works again after a fault."""
    pushed, source, layers = push(coffer, tmp_path, tag, [os.urandom(50_000)])
    assert pushed.returncode == 0, pushed.stderr
    assert pulled_identical(coffer, tmp_path, tag, source, layers)


def test_s3_errors_are_retried_and_an_outage_fails_clearly(s3_bucket, tmp_path, monkeypatch):
    endpoint, bucket = s3_bucket
    proxy = FaultyProxy(endpoint, free_port())
    proxy.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{proxy.port}")
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir, ["--blobs", f"s3://{bucket}/faults"])
    try:
        # A few 500s: the driver backs off and retries; the push succeeds.
        proxy.fail_next = 3
        result, source, layers = push(coffer, tmp_path, "v1", [os.urandom(200_000)])
        assert result.returncode == 0, result.stderr
        assert proxy.failed == 3
        assert becomes_ready(coffer, 200, {"metadata": "ok", "blobs": "ok"})
        # The store goes away: data calls fail with 503 UNAVAILABLE and change nothing; the node says it is not ready.
        proxy.stop()
        assert becomes_ready(coffer, 503, {"metadata": "ok", "blobs": "unavailable"})
        digest = layers[0]
        token = coffer.token("repository:coffer/app:pull,push")
        headers = {"Authorization": f"Bearer {token}"}
        gone = requests.get(f"https://{coffer.host}/v2/coffer/app/blobs/{digest}", headers=headers, verify=coffer.ca, timeout=60)
        assert gone.status_code == 503 and gone.json()["errors"][0]["code"] == "UNAVAILABLE", gone.text
        assert "retry" in gone.json()["errors"][0]["message"]
        refused, in_flight, in_flight_layers = push(coffer, tmp_path, "v2", [os.urandom(50_000)])
        assert refused.returncode != 0
        tags = requests.get(f"https://{coffer.host}/v2/coffer/app/tags/list", headers=headers, verify=coffer.ca, timeout=60).json()["tags"]
        assert tags == ["v1"], "a failed push must not leave a tag behind"
        # It comes back: everything works again, without a restart, and the old image is intact.
        proxy = FaultyProxy(endpoint, proxy.port)
        proxy.start()
        assert becomes_ready(coffer, 200, {"metadata": "ok", "blobs": "ok"})
        assert pulled_identical(coffer, tmp_path, "v1", source, layers)
        # Nothing of the cut-off push is visible as an image; pushed again, it is whole.
        assert requests.get(f"https://{coffer.host}/v2/coffer/app/manifests/v2", headers=headers, verify=coffer.ca, timeout=60).status_code == 404
        again = push_again(coffer, in_flight, "v2")
        assert again.returncode == 0, again.stderr
        assert pulled_identical(coffer, tmp_path, "v2", in_flight, in_flight_layers)
        assert_pushes_and_pulls(coffer, tmp_path, "v3")
    finally:
        shut_down(coffer, workdir)
        proxy.stop()


def test_postgresql_restarting_mid_operation(postgres_database, tmp_path):
    cluster_dir = os.environ.get("COFFER_TEST_POSTGRES_DIR")
    if not cluster_dir:
        pytest.skip("needs the PostgreSQL the test command starts (COFFER_TEST_POSTGRES_DIR)")
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts", "test-postgres")
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir, ["--metadata", postgres_database])
    try:
        result, source, layers = push(coffer, tmp_path, "v1", [os.urandom(100_000)])
        assert result.returncode == 0, result.stderr
        token = coffer.token("repository:coffer/app:pull")
        headers = {"Authorization": f"Bearer {token}"}
        # A push under way when PostgreSQL goes (its sessions are ended, as a crash or failover would).
        in_flight = str(tmp_path / "source-v2")
        in_flight_layers = build_image(in_flight, "v2", [os.urandom(2_000_000) for _ in range(8)])
        pushing = subprocess.Popen(skopeo_push(coffer, in_flight, "v2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        assert pushing.poll() is None, "the push finished before PostgreSQL stopped; the test proves nothing"
        subprocess.run([script, "stop", cluster_dir], check=True)
        try:
            _, failure = pushing.communicate(timeout=300)
            assert pushing.returncode != 0, "a push needing the metadata store succeeded while it was down"
            assert "503" in failure or "unavailable" in failure.lower(), failure
            down = requests.get(f"https://{coffer.host}/v2/coffer/app/tags/list", headers=headers, verify=coffer.ca, timeout=60)
            assert down.status_code == 503 and down.json()["errors"][0]["code"] == "UNAVAILABLE", down.text
            assert becomes_ready(coffer, 503, {"metadata": "unavailable", "blobs": "ok"})
            writer = {"Authorization": f"Bearer {coffer.token('repository:coffer/app:pull,push')}"}
            refused = requests.post(f"https://{coffer.host}/v2/coffer/app/blobs/uploads/", headers=writer, verify=coffer.ca, timeout=90)
            assert refused.status_code == 503, refused.text
        finally:
            subprocess.run([script, "resume", cluster_dir], check=True)
        # Back without a restart of Coffer: the pool reconnects.
        deadline = time.time() + 30
        while requests.get(f"https://{coffer.host}/v2/coffer/app/tags/list", headers=headers, verify=coffer.ca, timeout=60).status_code != 200:
            assert time.time() < deadline, "Coffer did not reconnect to PostgreSQL"
            time.sleep(0.5)
        assert becomes_ready(coffer, 200, {"metadata": "ok", "blobs": "ok"})
        assert pulled_identical(coffer, tmp_path, "v1", source, layers)
        # Nothing of the cut-off push is visible as an image; pushed again, it is whole.
        assert requests.get(f"https://{coffer.host}/v2/coffer/app/manifests/v2", headers=headers, verify=coffer.ca, timeout=60).status_code == 404
        again = push_again(coffer, in_flight, "v2")
        assert again.returncode == 0, again.stderr
        assert pulled_identical(coffer, tmp_path, "v2", in_flight, in_flight_layers)
        assert_pushes_and_pulls(coffer, tmp_path, "v3")
    finally:
        shut_down(coffer, workdir)


def test_s3_virtual_host_addressing_and_server_side_encryption_headers(s3_bucket, tmp_path, monkeypatch):
    """`COFFER_S3_ADDRESSING=virtual` names the bucket in the host, never in the path; `COFFER_S3_SSE` and
    `COFFER_S3_SSE_KMS_KEY_ID` go with every object written. Seen on the wire, through a recording proxy."""
    endpoint, bucket = s3_bucket
    proxy = FaultyProxy(endpoint, free_port(), virtual_bucket=bucket)
    proxy.start()
    # *.localhost resolves to loopback (nss-myhostname), so `<bucket>.localhost:<port>` reaches the proxy.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://localhost:{proxy.port}")
    monkeypatch.setenv("COFFER_S3_ADDRESSING", "virtual")
    monkeypatch.setenv("COFFER_S3_SSE", "aws:kms")
    monkeypatch.setenv("COFFER_S3_SSE_KMS_KEY_ID", "alias/coffer-test")
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir, ["--blobs", f"s3://{bucket}/virtual"])
    try:
        assert_pushes_and_pulls(coffer, tmp_path, "v1")
    finally:
        shut_down(coffer, workdir)
        proxy.stop()
    assert proxy.seen, "nothing reached the store through the proxy"
    for method, host, path, _ in proxy.seen:
        assert host == f"{bucket}.localhost:{proxy.port}", (method, host, path)
        assert not path.startswith(f"/{bucket}/") and path != f"/{bucket}", (method, path)
    # Objects are written by PUT (whole) or by a multipart upload's first POST; parts and completions carry no SSE.
    writes = [(method, path, headers) for method, _, path, headers in proxy.seen
              if (method == "PUT" and "partNumber=" not in path and "x-amz-copy-source" not in headers)
              or (method == "POST" and path.endswith("?uploads"))]
    assert writes, [entry[:3] for entry in proxy.seen]
    for method, path, headers in writes:
        assert headers.get("x-amz-server-side-encryption") == "aws:kms", (method, path, headers)
        assert headers.get("x-amz-server-side-encryption-aws-kms-key-id") == "alias/coffer-test", (method, path)


def cluster_processes(cluster_dir):
    """The PIDs of a PostgreSQL cluster the test command started: its postmaster and every process under it."""
    with open(os.path.join(cluster_dir, "data", "postmaster.pid")) as handle:
        postmaster = int(handle.readline())
    children = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                # pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
                if int(handle.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return [postmaster, *children]


def test_postgresql_that_hangs_is_given_up_on_at_the_limits(postgres_database, tmp_path):
    """PostgreSQL that stops answering without closing anything (a hung host, a partition without resets): requests
    are answered 503 at the store's time limits instead of waiting for TCP to give up, `/readyz` says so within its
    own limit, and everything works again once PostgreSQL does."""
    cluster_dir = os.environ.get("COFFER_TEST_POSTGRES_DIR")
    if not cluster_dir:
        pytest.skip("needs the PostgreSQL the test command starts (COFFER_TEST_POSTGRES_DIR)")
    workdir = tempfile.mkdtemp(prefix="coffer-interop-")
    coffer = Coffer(workdir, ["--metadata", postgres_database])
    stopped = []
    try:
        result, source, layers = push(coffer, tmp_path, "v1", [os.urandom(100_000)])
        assert result.returncode == 0, result.stderr
        headers = {"Authorization": f"Bearer {coffer.token('repository:coffer/app:pull')}"}
        stopped = cluster_processes(cluster_dir)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        started = time.time()
        probe = requests.get(f"https://{coffer.host}/readyz", verify=coffer.ca, timeout=60)
        assert time.time() - started < 15 and probe.status_code == 503, (time.time() - started, probe.text)
        assert probe.json()["checks"] == {"metadata": "unavailable", "blobs": "ok"}
        started = time.time()
        hung = requests.get(f"https://{coffer.host}/v2/coffer/app/tags/list", headers=headers, verify=coffer.ca, timeout=120)
        assert hung.status_code == 503 and hung.json()["errors"][0]["code"] == "UNAVAILABLE", hung.text
        assert time.time() - started < 30, f"answered after {time.time() - started:.1f} s: the 10 s read limit did not hold"
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    try:
        assert becomes_ready(coffer, 200, {"metadata": "ok", "blobs": "ok"}, seconds=60)
        assert pulled_identical(coffer, tmp_path, "v1", source, layers)
        assert_pushes_and_pulls(coffer, tmp_path, "v2")
    finally:
        shut_down(coffer, workdir)
