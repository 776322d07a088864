"""What the benchmarks share: starting Coffer and docker-registry, tokens, and the blob/manifest client."""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import time
import urllib.request

import requests


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def random_file(path, size):
    """Writes `size` random bytes to `path`; returns their sha256 digest."""
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 8 << 20))
            hasher.update(chunk)
            handle.write(chunk)
            remaining -= len(chunk)
    return "sha256:" + hasher.hexdigest()


def wait_healthy(url, ca, process, headers=None):
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca), timeout=2):
                return
        except urllib.error.HTTPError:
            return  # answering at all is enough (401 from /v2/)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def curl(*args):
    result = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"curl {' '.join(args[:3])}… failed: {result.stderr} {result.stdout}")
    return result.stdout


class Target:
    """One registry under test. `renew` (optional) gives a fresh bearer token: called before each round, so that a
    long run does not outlive a token."""

    def __init__(self, name, base, repo, ca, token=None, renew=None):
        self.name, self.base, self.repo, self.ca, self.token, self.renew = name, base, repo, ca, token, renew

    def refresh(self):
        if self.renew:
            self.token = self.renew()

    def auth(self):
        return ["-H", f"Authorization: Bearer {self.token}"] if self.token else []

    def start_upload(self):
        out = curl("-i", "--cacert", self.ca, *self.auth(), "-X", "POST", f"{self.base}/v2/{self.repo}/blobs/uploads/")
        location = re.search(r"(?im)^location:\s*(\S+)", out).group(1)
        return location if location.startswith("http") else self.base + location

    def push(self, path, digest):
        location = self.start_upload()
        separator = "&" if "?" in location else "?"
        start = time.perf_counter()
        curl("--cacert", self.ca, *self.auth(), "-X", "PUT", "-H", "Content-Type: application/octet-stream",
             "-T", path, f"{location}{separator}digest={digest}", "-o", "/dev/null")
        return time.perf_counter() - start

    def pull(self, digest, expected_size):
        start = time.perf_counter()
        out = curl("--cacert", self.ca, *self.auth(), "-o", "/dev/null", "-w", "%{size_download}",
                   f"{self.base}/v2/{self.repo}/blobs/{digest}")
        elapsed = time.perf_counter() - start
        if int(out) != expected_size:
            raise RuntimeError(f"{self.name}: pulled {out} bytes, expected {expected_size}")
        return elapsed

    def put_small_blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = self.start_upload()
        separator = "&" if "?" in location else "?"
        curl("--cacert", self.ca, *self.auth(), "-X", "PUT", "-H", "Content-Type: application/octet-stream",
             "--data-binary", data.decode("latin-1"), f"{location}{separator}digest={digest}", "-o", "/dev/null")
        return digest

    def put_manifest(self, config, layer):
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config[0], "size": config[1]},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer[0], "size": layer[1]}],
        })
        curl("--cacert", self.ca, *self.auth(), "-X", "PUT", "-H", "Content-Type: application/vnd.oci.image.manifest.v1+json",
             "--data-binary", manifest, f"{self.base}/v2/{self.repo}/manifests/v1", "-o", "/dev/null")

    def wrk(self, duration, connections):
        url = f"{self.base}/v2/{self.repo}/manifests/v1"
        headers = ["-H", "Accept: application/vnd.oci.image.manifest.v1+json"]
        if self.token:
            headers += ["-H", f"Authorization: Bearer {self.token}"]
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", *headers, url],
                             capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
        p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
        non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
        if non2xx:
            raise RuntimeError(f"{self.name}: {non2xx.group(1)} failed manifest GETs under load")
        return rps, float(p99.group(1)) * scale


def sync():
    """Writes back the page cache, so that no timed step pays for an earlier one's (or the other server's) writes."""
    subprocess.run(["sync"], check=False)


def spread(values):
    """A figure as reported: the median of the runs and their range."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


FIGURES = [("push MB/s", "push_mb_s"), ("pull MB/s", "pull_mb_s"), ("manifest GET/s", "manifest_get_rps"),
           ("manifest p99 ms", "manifest_get_p99_ms")]


def measure_rounds(targets, blob, digest, size, rounds, duration, connections=64, log=print):
    """Every round measures every target once — push, pull, then manifest GETs under load — in an order that turns
    between rounds (with two targets each goes first every other round), with `sync` before every timed step.
    Returns each target's figures, one value per round."""
    for target in targets:
        target.refresh()
        config_blob = target.put_small_blob(b'{"architecture":"amd64","os":"linux"}')
        layer = target.put_small_blob(b"x" * 1000)
        target.put_manifest((config_blob, 37), (layer, 1000))
    figures = {target.name: {key: [] for _, key in FIGURES} for target in targets}
    for index in range(rounds):
        turn = index % len(targets)
        for target in targets[turn:] + targets[:turn]:
            target.refresh()
            values = figures[target.name]
            sync()
            values["push_mb_s"].append(size / target.push(blob, digest) / 1e6)
            sync()
            values["pull_mb_s"].append(size / target.pull(digest, size) / 1e6)
            sync()
            rps, p99 = target.wrk(duration, connections)
            values["manifest_get_rps"].append(rps)
            values["manifest_get_p99_ms"].append(p99)
            log(f"round {index + 1} {target.name}: push {values['push_mb_s'][-1]:.0f} MB/s, pull {values['pull_mb_s'][-1]:.0f} MB/s, "
                f"{rps:.0f} manifest GET/s, p99 {p99:.1f} ms")
    return figures


def ratio_runs(figures, numerator, denominator):
    """Per figure, the ratio of two targets round by round (both measured in the same round, minutes apart)."""
    return {key: [a / b for a, b in zip(figures[numerator][key], figures[denominator][key])] for _, key in FIGURES}


def show(value):
    return f"{value['median']:.2f} ({value['min']:.2f}–{value['max']:.2f})"


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")



class CofferServer:
    """A `coffer serve` (release build) on a free loopback port, with its operator's credentials at hand."""

    def __init__(self, binary, work, *extra):
        self.port = free_port()
        self.data = os.path.join(work, "coffer")
        self.ca = os.path.join(self.data, "ca.pem")
        self.base = f"https://localhost:{self.port}"
        self.process = subprocess.Popen([binary, "serve", "--data-dir", self.data, "--port", str(self.port), "--log-level", "warning", *extra],
                                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "coffer.log"), "w"))
        for _ in range(100):
            if os.path.exists(os.path.join(self.data, "operator-credentials.json")):
                break
            time.sleep(0.1)
        wait_healthy(f"{self.base}/healthz", self.ca, self.process)
        with open(os.path.join(self.data, "operator-credentials.json")) as handle:
            self.operator = json.load(handle)
        with open(os.path.join(self.data, "admin-credentials.json")) as handle:
            self.admin = json.load(handle)

    def token(self, resource):
        """An access token for `resource`, as the operator (client credentials)."""
        response = requests.post(f"{self.base}/{self.operator['tenantId']}/oauth2/v2.0/token", verify=self.ca, timeout=30, data={
            "grant_type": "client_credentials", "client_id": self.operator["clientId"], "client_secret": self.operator["clientSecret"],
            "scope": f"{resource}/.default"})
        response.raise_for_status()
        return response.json()["access_token"]

    def registry_token(self, service, scope):
        """A registry bearer token, as the administrator."""
        return json.loads(curl("--cacert", self.ca, "-u", f"{self.admin['username']}:{self.admin['password']}",
                               f"{self.base}/oauth2/token?service={service}&scope={scope}"))["token"]

    @staticmethod
    def object_id(token):
        return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["oid"]


def start_docker_registry(work, coffer):
    """Debian's docker-registry on a free port, serving TLS with Coffer's certificate, with the in-memory blob
    descriptor cache its production configurations use (Coffer answers manifest reads from a cache of its own)."""
    port = free_port()
    config = os.path.join(work, "registry.yml")
    with open(config, "w") as handle:
        handle.write(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {os.path.join(work, 'registry')}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
  tls:
    certificate: {os.path.join(coffer.data, 'server.pem')}
    key: {os.path.join(coffer.data, 'server-key.pem')}
""")
    process = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(work, "registry.log"), "w"))
    wait_healthy(f"https://localhost:{port}/v2/", coffer.ca, process)
    return process, port


def stop(processes):
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
