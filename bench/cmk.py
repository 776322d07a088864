#!/usr/bin/env python3
"""Customer-managed-key registries beside service-managed ones and beside docker-registry: push/pull MB/s
(curl, median of N), manifest GET req/s (wrk, 64 connections), and the time a key rotation takes for a
registry holding 1 GiB and one holding 10 GiB (it must not grow with the data).

Usage: bench/run-cmk [--size-mib 1024] [--runs 3] [--duration 10] [--rotation-gib 1 10]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import CofferServer, Target, random_file, start_docker_registry, stop  # noqa: E402


def measure(target, blob, digest, size, runs, duration):
    pushes = [size / target.push(blob, digest) / 1e6 for _ in range(runs)]
    pulls = [size / target.pull(digest, size) / 1e6 for _ in range(runs)]
    config_blob = target.put_small_blob(b'{"architecture":"amd64","os":"linux"}')
    layer = target.put_small_blob(b"x" * 1000)
    target.put_manifest((config_blob, 37), (layer, 1000))
    # Let the page cache write back the blobs just pushed, so it does not compete with the request load.
    subprocess.run(["sync"], check=False)
    rps, p99 = target.wrk(duration, 64)
    return {"push_mb_s": statistics.median(pushes), "pull_mb_s": statistics.median(pulls), "manifest_get_rps": rps, "manifest_get_p99_ms": p99}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rotation-gib", type=int, nargs="*", default=[1, 10])
    parser.add_argument("--coffer", default=os.path.join(ROOT, ".build", "release", "coffer"))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "cmk.json"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="coffer-cmkbench-")
    processes = []
    try:
        coffer = CofferServer(args.coffer, work)
        processes.append(coffer.process)
        ca, port, base, operator, token = coffer.ca, coffer.port, coffer.base, coffer.operator, coffer.token
        arm = {"Authorization": f"Bearer {token(base)}"}
        group = f"{base}/subscriptions/{operator['subscriptionId']}/resourceGroups/bench"

        def put(path, body, api="2023-07-01"):
            response = requests.put(f"{path}?api-version={api}", json=body, headers=arm, verify=ca, timeout=600)
            if response.status_code >= 300:
                raise RuntimeError(f"PUT {path}: {response.status_code} {response.text}")
            return response.json()

        requests.post(f"{base}/subscriptions/{operator['subscriptionId']}/providers/Microsoft.Features/providers/Microsoft.ContainerRegistry"
                      f"/features/PrivatePreview/register?api-version=2021-07-01", headers=arm, verify=ca, timeout=30).raise_for_status()
        put(group, {"location": "here"}, api="2021-04-01")
        oid = CofferServer.object_id(arm["Authorization"])
        identity = put(f"{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/benchid", {"location": "here"})
        everyone = [{"tenantId": operator["tenantId"], "objectId": oid, "permissions": {"keys": ["all"]}},
                    {"tenantId": operator["tenantId"], "objectId": identity["properties"]["principalId"],
                     "permissions": {"keys": ["get", "wrapKey", "unwrapKey"]}}]
        put(f"{group}/providers/Microsoft.KeyVault/vaults/benchvault", {"location": "here", "properties": {
            "tenantId": operator["tenantId"], "sku": {"family": "A", "name": "standard"}, "enablePurgeProtection": True,
            "accessPolicies": everyone}})
        vault = {"Authorization": f"Bearer {token(f'https://vault.localhost:{port}')}"}

        def new_key(name):
            response = requests.post(f"https://benchvault.vault.localhost:{port}/keys/{name}/create?api-version=7.4",
                                     json={"kty": "RSA", "key_size": 2048}, headers=vault, verify=ca, timeout=60)
            response.raise_for_status()
            return response.json()["key"]["kid"]

        def cmk_body(kid):
            return {"location": "here", "sku": {"name": "Premium"},
                    "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity["id"]: {}}},
                    "properties": {"encryption": {"status": "enabled", "keyVaultProperties": {
                        "identity": identity["properties"]["clientId"], "keyIdentifier": kid}}}}

        time.sleep(6)  # the preview feature's approval delay
        put(f"{group}/providers/Microsoft.ContainerRegistry/registries/cmkbench", cmk_body(new_key("kek")))
        put(f"{group}/providers/Microsoft.ContainerRegistry/registries/smbench", {"location": "here", "sku": {"name": "Premium"}})

        def registry_target(name):
            host = f"{name}.cr.localhost:{port}"
            return Target(name, f"https://{host}", "bench", ca, coffer.registry_token(host, "repository:bench:pull,push"))

        registry, registry_port = start_docker_registry(work, coffer)
        processes.append(registry)

        size = args.size_mib * 1024 * 1024
        blob = os.path.join(work, "blob.bin")
        digest = random_file(blob, size)
        results = {}
        for target in [registry_target("cmkbench"), registry_target("smbench"),
                       Target("docker-registry", f"https://localhost:{registry_port}", "bench", ca)]:
            results[target.name] = measure(target, blob, digest, size, args.runs, args.duration)

        # Rotation time against the amount of data the registry holds.
        rotations = {}
        cmk = registry_target("cmkbench")
        held = size
        for gib in sorted(args.rotation_gib):
            while held < gib * 1024 ** 3:
                extra = os.path.join(work, "extra.bin")
                chunk = min(1024 ** 3, gib * 1024 ** 3 - held)
                cmk.push(extra, random_file(extra, chunk))
                held += chunk
                os.remove(extra)
            kid = new_key(f"rotate{gib}")
            start = time.perf_counter()
            put(f"{group}/providers/Microsoft.ContainerRegistry/registries/cmkbench", cmk_body(kid))
            rotations[f"{gib}GiB"] = time.perf_counter() - start
        check = cmk.pull(digest, size)  # data pushed before the rotations still reads back
        report = {"size_mib": args.size_mib, "runs": args.runs, "results": results, "rotation_seconds": rotations, "pull_after_rotation_s": check}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        json.dump(report, open(args.out, "w"), indent=2)
        print(f"{'':18}{'cmk':>10}{'service-managed':>17}{'docker-registry':>17}{'cmk/sm':>8}{'cmk/dr':>8}")
        for label, key in [("push MB/s", "push_mb_s"), ("pull MB/s", "pull_mb_s"), ("manifest GET/s", "manifest_get_rps"),
                           ("manifest p99 ms", "manifest_get_p99_ms")]:
            a, b, c = results["cmkbench"][key], results["smbench"][key], results["docker-registry"][key]
            print(f"{label:18}{a:10.1f}{b:17.1f}{c:17.1f}{a / b:8.2f}{a / c:8.2f}")
        for label, seconds in rotations.items():
            print(f"rotation with {label} held: {seconds * 1000:.1f} ms")
    finally:
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
