#!/usr/bin/env python3
"""Benchmarks Coffer beside Debian's docker-registry (CNCF distribution), same machine, same clients.

Both serve TLS with Coffer's generated certificate. Figures: 1 GiB blob push and pull (curl, MB/s,
median of 3), manifest GET req/s and p99 at 64 connections (wrk), and Coffer's peak RSS (VmHWM)
over the whole run. Prints the ratios Coffer / docker-registry and writes a JSON result.

Usage: bench/run [--size-mib 1024] [--runs 3] [--duration 10] [--out bench/results/latest.json]
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    def __init__(self, name, base, repo, ca, token=None):
        self.name, self.base, self.repo, self.ca, self.token = name, base, repo, ca, token

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


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    parser.add_argument("--coffer", default=os.path.join(ROOT, ".build", "release", "coffer"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="coffer-bench-")
    processes = []
    try:
        coffer_port, registry_port = free_port(), free_port()
        data = os.path.join(work, "coffer")
        coffer = subprocess.Popen([args.coffer, "serve", "--data-dir", data, "--port", str(coffer_port), "--address", "127.0.0.1",
                                   "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "coffer.log"), "w"))
        processes.append(coffer)
        ca = os.path.join(data, "ca.pem")
        for _ in range(100):
            if os.path.exists(os.path.join(data, "server-key.pem")):
                break
            time.sleep(0.1)
        wait_healthy(f"https://localhost:{coffer_port}/healthz", ca, coffer)
        with open(os.path.join(data, "admin-credentials.json")) as handle:
            credentials = json.load(handle)
        service = f"localhost:{coffer_port}"
        token = json.loads(curl("--cacert", ca, "-u", f"{credentials['username']}:{credentials['password']}",
                                f"https://{service}/oauth2/token?service={service}&scope=repository:coffer/bench:pull,push"))["token"]

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
http:
  addr: 127.0.0.1:{registry_port}
  tls:
    certificate: {os.path.join(data, 'server.pem')}
    key: {os.path.join(data, 'server-key.pem')}
""")
        registry = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(work, "registry.log"), "w"))
        processes.append(registry)
        wait_healthy(f"https://localhost:{registry_port}/v2/", ca, registry)

        targets = [Target("coffer", f"https://{service}", "coffer/bench", ca, token),
                   Target("docker-registry", f"https://localhost:{registry_port}", "bench", ca)]

        blob = os.path.join(work, "blob.bin")
        size = args.size_mib * 1024 * 1024
        hasher = hashlib.sha256()
        with open(blob, "wb") as handle:
            remaining = size
            while remaining:
                chunk = os.urandom(min(remaining, 8 << 20))
                hasher.update(chunk)
                handle.write(chunk)
                remaining -= len(chunk)
        digest = "sha256:" + hasher.hexdigest()

        results = {}
        for target in targets:
            pushes, pulls = [], []
            for _ in range(args.runs):
                pushes.append(size / target.push(blob, digest) / 1e6)
                pulls.append(size / target.pull(digest, size) / 1e6)
            config_blob = target.put_small_blob(b'{"architecture":"amd64","os":"linux"}')
            layer = target.put_small_blob(b"x" * 1000)
            target.put_manifest((config_blob, 37), (layer, 1000))
            rps, p99 = target.wrk(args.duration, args.connections)
            results[target.name] = {"push_mb_s": statistics.median(pushes), "pull_mb_s": statistics.median(pulls),
                                    "push_runs": pushes, "pull_runs": pulls, "manifest_get_rps": rps, "manifest_get_p99_ms": p99}
        results["coffer"]["peak_rss_mib"] = peak_rss_mib(coffer.pid)
        ratios = {
            "push": results["coffer"]["push_mb_s"] / results["docker-registry"]["push_mb_s"],
            "pull": results["coffer"]["pull_mb_s"] / results["docker-registry"]["pull_mb_s"],
            "manifest_get_rps": results["coffer"]["manifest_get_rps"] / results["docker-registry"]["manifest_get_rps"],
        }
        report = {"size_mib": args.size_mib, "runs": args.runs, "connections": args.connections, "duration_s": args.duration,
                  "results": results, "ratios_coffer_over_registry": ratios}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)

        print(f"{'':18}{'coffer':>12}{'docker-registry':>18}{'ratio':>8}")
        for label, key in [("push MB/s", "push_mb_s"), ("pull MB/s", "pull_mb_s"), ("manifest GET/s", "manifest_get_rps"),
                           ("manifest p99 ms", "manifest_get_p99_ms")]:
            a, b = results["coffer"][key], results["docker-registry"][key]
            print(f"{label:18}{a:12.1f}{b:18.1f}{a / b:8.2f}")
        print(f"coffer peak RSS: {results['coffer']['peak_rss_mib']:.1f} MiB")
        print(f"result written to {os.path.relpath(args.out, ROOT)}")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
