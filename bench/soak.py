#!/usr/bin/env python3
"""A soak: a mixed load on one `coffer serve` for a given time — registry pushes, pulls, tag moves and deletes (with
garbage collection running), the key vault's wrapKey/unwrapKey, token issuance, template deployments — from bounded
request loops on loopback. Reports errors, latency per operation (p50, p99), and the server's resident memory and
open file descriptors sampled over time, with their slope after warm-up.

The state the load leaves is bounded (tags are moved over a fixed set and the manifests they left are deleted; old
deployments are deleted), so memory or descriptors that keep growing are a leak, not data.

Usage: bench/run-soak [--duration 600] [--coffer PATH]   (the test suite runs a short form)
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import CofferServer, stop  # noqa: E402

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = {}
        self.errors = {}

    def timed(self, operation, call):
        start = time.perf_counter()
        try:
            ok = call()
        except Exception as error:  # noqa: BLE001 — every failure is counted and named
            ok = f"{type(error).__name__}: {error}"
        elapsed = time.perf_counter() - start
        with self.lock:
            if ok is True:
                self.latencies.setdefault(operation, []).append(elapsed)
            else:
                self.errors.setdefault(operation, []).append(str(ok)[:900])
        return ok is True


def answered(response, *statuses):
    """True for an expected status; otherwise what went wrong, for the report."""
    if response.status_code in statuses:
        return True
    sent = len(response.request.body or b"")
    return (f"HTTP {response.status_code} {response.request.method} {response.url} (sent {sent} bytes; answer "
            f"{response.headers.get('Content-Type')}, {response.headers.get('Content-Length')} bytes): {response.text[:600]}")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def slope_per_minute(samples, key, warmup_fraction=0.2):
    """Least-squares slope of `key` over time, per minute, after the warm-up."""
    if not samples:
        return float("nan")
    cutoff = samples[0]["t"] + warmup_fraction * (samples[-1]["t"] - samples[0]["t"])
    points = [(s["t"], s[key]) for s in samples if s["t"] >= cutoff]
    if len(points) < 2:
        return float("nan")
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    denominator = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / denominator if denominator else float("nan")


def session_for(server):
    """A keep-alive session trusting the server's CA (not REQUESTS_CA_BUNDLE, which would win over it)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = server.ca
    return session


def registry_loop(server, recorder, until, index):
    session = session_for(server)
    repository = f"soak/r{index}"
    base = f"{server.base}/v2/coffer/{repository}"
    tags = {}
    iteration = 0
    renewed = 0.0
    while time.time() < until:
        iteration += 1
        if time.time() - renewed > 300:  # registry tokens last 10 minutes: a client renews them, as docker does
            token = server.registry_token(f"localhost:{server.port}", f"repository:coffer/{repository}:pull,push,delete")
            session.headers["Authorization"] = f"Bearer {token}"
            renewed = time.time()
        layer, config = os.urandom(20_000), json.dumps({"os": "linux", "n": uuid.uuid4().hex}).encode()
        digests = ["sha256:" + hashlib.sha256(data).hexdigest() for data in (layer, config)]
        for data, digest in zip((layer, config), digests):
            recorder.timed("blob push", lambda: answered(session.post(f"{base}/blobs/uploads/?digest={digest}", data=data, timeout=30), 201))
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[1], "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digests[0], "size": len(layer)}]}).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        tag = f"t{iteration % 10}"
        if not recorder.timed("manifest put", lambda: answered(session.put(f"{base}/manifests/{tag}", data=manifest,
                                                                           headers={"Content-Type": MANIFEST}, timeout=30), 201)):
            continue
        recorder.timed("manifest get", lambda: session.get(f"{base}/manifests/{tag}", headers={"Accept": MANIFEST}, timeout=30).content == manifest)
        recorder.timed("blob pull", lambda: session.get(f"{base}/blobs/{digests[0]}", timeout=30).content == layer)
        previous, tags[tag] = tags.get(tag), digest
        if previous:  # the manifest the tag left: deleted, its blobs left to garbage collection
            recorder.timed("manifest delete", lambda: answered(session.delete(f"{base}/manifests/{previous}", timeout=30), 202))


def vault_loop(server, recorder, until, vault_url, vault_token):
    session = session_for(server)
    session.headers["Authorization"] = f"Bearer {vault_token}"
    renewed = time.time()
    while time.time() < until:
        if time.time() - renewed > 1500:  # Entra tokens last an hour; renewed as an SDK would
            session.headers["Authorization"] = f"Bearer {server.token('https://vault.azure.net')}"
            renewed = time.time()
        plain = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        wrapped = {}

        def wrap():
            response = session.post(f"{vault_url}/keys/soak/wrapkey?api-version=7.4", json={"alg": "RSA-OAEP-256", "value": plain}, timeout=30)
            wrapped["value"] = response.json().get("value")
            return response.status_code == 200

        if recorder.timed("vault wrapKey", wrap):
            recorder.timed("vault unwrapKey", lambda: session.post(f"{vault_url}/keys/soak/unwrapkey?api-version=7.4",
                                                                   json={"alg": "RSA-OAEP-256", "value": wrapped["value"]},
                                                                   timeout=30).json().get("value") == plain)


def token_loop(server, recorder, until):
    while time.time() < until:
        recorder.timed("token (client credentials)", lambda: bool(server.token(server.base)))
        recorder.timed("token (registry)", lambda: bool(server.registry_token(f"localhost:{server.port}", "repository:coffer/soak/r0:pull")))


def deployment_loop(server, recorder, until, group, arm_token):
    session = session_for(server)
    session.headers["Authorization"] = f"Bearer {arm_token}"
    renewed = time.time()
    previous = None
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
                "resources": [], "outputs": {"n": {"type": "string", "value": "[format('{0:N0}', 8175133)]"}}}
    while time.time() < until:
        if time.time() - renewed > 1500:
            session.headers["Authorization"] = f"Bearer {server.token(server.base)}"
            renewed = time.time()
        name = "soak-" + uuid.uuid4().hex[:8]
        url = f"{server.base}{group}/providers/Microsoft.Resources/deployments/{name}?api-version=2021-04-01"

        def deploy():
            response = session.put(url, json={"properties": {"mode": "Incremental", "template": template}}, timeout=30)
            if response.status_code not in (200, 201):
                return f"PUT {response.status_code} {response.text[:200]}"
            for _ in range(300):
                state = session.get(url, timeout=30).json()["properties"]["provisioningState"]
                if state in ("Succeeded", "Failed", "Canceled"):
                    return state == "Succeeded" or f"deployment {state}"
                time.sleep(0.1)
            return "deployment did not finish in 30 s"

        if recorder.timed("deployment", deploy) and previous:
            recorder.timed("deployment delete", lambda: session.delete(previous, timeout=30).status_code in (200, 202, 204))
        previous = url
        time.sleep(1)


def run(binary, duration, sample_seconds=5, registry_clients=3):
    work = tempfile.mkdtemp(prefix="coffer-soak-")
    # Collection runs often, with a grace a slow push cannot outlast (a blob older than the grace whose manifest is
    # not yet put is collected by design, and its manifest refused).
    server = CofferServer(binary, work, "--gc-interval-seconds", "10", "--gc-grace-seconds", "60")
    try:
        arm_token = server.token(server.base)
        subscription = server.operator["subscriptionId"]
        group = f"/subscriptions/{subscription}/resourceGroups/soak"
        headers = {"Authorization": f"Bearer {arm_token}"}
        requests.put(f"{server.base}{group}?api-version=2021-04-01", json={"location": "westeurope"}, headers=headers,
                     verify=server.ca, timeout=30).raise_for_status()
        object_id = CofferServer.object_id(arm_token)
        vault = {"location": "westeurope", "properties": {"tenantId": server.operator["tenantId"], "sku": {"family": "A", "name": "standard"},
                                                          "accessPolicies": [{"tenantId": server.operator["tenantId"], "objectId": object_id,
                                                                              "permissions": {"keys": ["all"]}}]}}
        requests.put(f"{server.base}{group}/providers/Microsoft.KeyVault/vaults/soakvault?api-version=2023-07-01", json=vault,
                     headers=headers, verify=server.ca, timeout=30).raise_for_status()
        vault_url = f"https://soakvault.vault.localhost:{server.port}"
        vault_token = server.token("https://vault.azure.net")
        requests.post(f"{vault_url}/keys/soak/create?api-version=7.4", json={"kty": "RSA", "key_size": 2048},
                      headers={"Authorization": f"Bearer {vault_token}"}, verify=server.ca, timeout=30).raise_for_status()

        recorder, samples = Recorder(), []
        until = time.time() + duration
        loops = [threading.Thread(target=registry_loop, args=(server, recorder, until, i)) for i in range(registry_clients)]
        loops += [threading.Thread(target=vault_loop, args=(server, recorder, until, vault_url, vault_token)),
                  threading.Thread(target=token_loop, args=(server, recorder, until)),
                  threading.Thread(target=deployment_loop, args=(server, recorder, until, group, arm_token))]
        for loop in loops:
            loop.start()
        started = time.time()
        while any(loop.is_alive() for loop in loops):
            with open(f"/proc/{server.process.pid}/status") as handle:
                rss = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
            samples.append({"t": time.time() - started, "rss_kib": rss, "fds": len(os.listdir(f"/proc/{server.process.pid}/fd"))})
            time.sleep(sample_seconds)
        for loop in loops:
            loop.join()
        operations = {name: {"count": len(values), "p50_ms": round(1000 * percentile(values, 0.5), 2),
                             "p99_ms": round(1000 * percentile(values, 0.99), 2)} for name, values in sorted(recorder.latencies.items())}
        return {
            "duration_seconds": duration, "operations": operations,
            "errors": {name: {"count": len(values), "first": values[:3]} for name, values in recorder.errors.items()},
            "rss_mib_first_last": [round(samples[0]["rss_kib"] / 1024, 1), round(samples[-1]["rss_kib"] / 1024, 1)],
            "rss_kib_per_minute_after_warmup": round(slope_per_minute(samples, "rss_kib"), 1),
            "fds_first_last": [samples[0]["fds"], samples[-1]["fds"]],
            "fds_per_minute_after_warmup": round(slope_per_minute(samples, "fds"), 2),
            "samples": samples,
        }
    finally:
        stop([server.process])
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=600)
    parser.add_argument("--coffer", default=os.path.join(ROOT, ".build", "release", "coffer"))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "soak.json"))
    args = parser.parse_args()
    result = run(args.coffer, args.duration)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2)
    print(json.dumps({key: value for key, value in result.items() if key != "samples"}, indent=2))
    sys.exit(1 if result["errors"] else 0)


if __name__ == "__main__":
    main()
