#!/usr/bin/env python3
"""Customer-managed-key registries beside service-managed ones and beside docker-registry: push/pull MB/s
(curl), manifest GET req/s (wrk, 64 connections) — each round measures all three in a turning order, `sync` before
every timed step; figures are medians of the rounds with their range, ratios are taken round by round — and the
time a key rotation takes for a registry holding 1 GiB and one holding 10 GiB (it must not grow with the data).

Usage: bench/run-cmk [--size-mib 1024] [--runs 5] [--duration 10] [--rotation-gib 1 10]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import (FIGURES, CofferServer, Target, measure_rounds, random_file, ratio_runs, show, spread,  # noqa: E402
                    start_docker_registry, stop)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
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
            return Target(name, f"https://{host}", "bench", ca, renew=lambda: coffer.registry_token(host, "repository:bench:pull,push"))

        registry, registry_port = start_docker_registry(work, coffer)
        processes.append(registry)

        size = args.size_mib * 1024 * 1024
        blob = os.path.join(work, "blob.bin")
        digest = random_file(blob, size)
        targets = [registry_target("cmkbench"), registry_target("smbench"), Target("docker-registry", f"https://localhost:{registry_port}", "bench", ca)]
        figures = measure_rounds(targets, blob, digest, size, args.runs, args.duration)
        results = {name: {key: spread(values) for key, values in measured.items()} for name, measured in figures.items()}
        ratios = {"cmk_over_service_managed": {key: spread(v) for key, v in ratio_runs(figures, "cmkbench", "smbench").items()},
                  "cmk_over_docker_registry": {key: spread(v) for key, v in ratio_runs(figures, "cmkbench", "docker-registry").items()}}

        # Rotation time against the amount of data the registry holds.
        rotations = {}
        cmk = registry_target("cmkbench")
        cmk.refresh()
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
        report = {"size_mib": args.size_mib, "runs": args.runs, "results": results, "ratios": ratios, "rotation_seconds": rotations,
                  "pull_after_rotation_s": check}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        json.dump(report, open(args.out, "w"), indent=2)
        print(f"median (min–max) of {args.runs} rounds")
        print(f"{'':18}{'cmk':>24}{'service-managed':>24}{'docker-registry':>24}{'cmk/sm':>22}{'cmk/dr':>22}")
        for label, key in FIGURES:
            print(f"{label:18}{show(results['cmkbench'][key]):>24}{show(results['smbench'][key]):>24}{show(results['docker-registry'][key]):>24}"
                  f"{show(ratios['cmk_over_service_managed'][key]):>22}{show(ratios['cmk_over_docker_registry'][key]):>22}")
        for label, seconds in rotations.items():
            print(f"rotation with {label} held: {seconds * 1000:.1f} ms")
    finally:
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
