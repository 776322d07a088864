#!/usr/bin/env python3
"""Benchmarks the key vault's wrapKey and unwrapKey (RSA-2048, RSA-OAEP-256) over HTTPS with keep-alive at
32 concurrent connections (wrk), beside `openssl speed rsa2048` (the private-key operation is the limit).

Usage: bench/run-keyvault [--duration 10] [--connections 32]
"""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import CofferServer, stop  # noqa: E402

LUA = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def wrk(url, body, token, duration, connections, work):
    script = os.path.join(work, "post.lua")
    with open(script, "w") as handle:
        handle.write(LUA % (body, token))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    failures = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if failures:
        raise RuntimeError(f"{failures.group(1)} failed requests:\n{out}")
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    return float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1)), float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]


def openssl_sign_per_second():
    out = subprocess.run(["openssl", "speed", "-seconds", "3", "rsa2048"], capture_output=True, text=True, check=True).stdout
    line = [line for line in out.splitlines() if line.startswith("rsa 2048") or line.startswith("rsa  2048")][-1]
    numbers = re.findall(r"[\d.]+", line)
    # "rsa 2048 bits 0.000557s 0.000016s 1795.6 61244.6": sign/s is the second number from the end.
    return float(numbers[-2])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--coffer", default=os.path.join(ROOT, ".build", "release", "coffer"))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "keyvault.json"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="coffer-kvbench-")
    coffer = CofferServer(args.coffer, work)
    try:
        ca, port, base, operator, token = coffer.ca, coffer.port, coffer.base, coffer.operator, coffer.token
        arm = {"Authorization": f"Bearer {token(base)}"}
        subscription = f"{base}/subscriptions/{operator['subscriptionId']}"
        requests.put(f"{subscription}/resourcegroups/bench?api-version=2021-04-01", json={"location": "here"}, headers=arm, verify=ca,
                     timeout=30).raise_for_status()
        oid = CofferServer.object_id(arm["Authorization"])
        requests.put(f"{subscription}/resourcegroups/bench/providers/Microsoft.KeyVault/vaults/benchvault?api-version=2023-07-01", json={
            "location": "here", "properties": {"tenantId": operator["tenantId"], "sku": {"family": "A", "name": "standard"},
                                               "accessPolicies": [{"tenantId": operator["tenantId"], "objectId": oid,
                                                                   "permissions": {"keys": ["all"]}}]}},
            headers=arm, verify=ca, timeout=30).raise_for_status()
        vault = f"https://benchvault.vault.localhost:{port}"
        vault_token = token(f"https://vault.localhost:{port}")
        headers = {"Authorization": f"Bearer {vault_token}"}
        key = requests.post(f"{vault}/keys/kek/create?api-version=7.4", json={"kty": "RSA", "key_size": 2048}, headers=headers,
                            verify=ca, timeout=30).json()["key"]["kid"]
        plaintext = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        wrapped = requests.post(f"{key}/wrapkey?api-version=7.4", json={"alg": "RSA-OAEP-256", "value": plaintext}, headers=headers,
                                verify=ca, timeout=30).json()["value"]

        wrap_rps, wrap_p99 = wrk(f"{key}/wrapkey?api-version=7.4", json.dumps({"alg": "RSA-OAEP-256", "value": plaintext}), vault_token,
                                 args.duration, args.connections, work)
        unwrap_rps, unwrap_p99 = wrk(f"{key}/unwrapkey?api-version=7.4", json.dumps({"alg": "RSA-OAEP-256", "value": wrapped}), vault_token,
                                     args.duration, args.connections, work)
        sign = openssl_sign_per_second()
        cores = os.cpu_count()
        report = {"connections": args.connections, "duration_s": args.duration, "wrap_per_s": wrap_rps, "wrap_p99_ms": wrap_p99,
                  "unwrap_per_s": unwrap_rps, "unwrap_p99_ms": unwrap_p99, "openssl_rsa2048_sign_per_s": sign, "cores": cores,
                  "unwrap_over_openssl_times_cores": unwrap_rps / (sign * cores)}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)
        print(f"wrapKey   {wrap_rps:9.1f}/s  p99 {wrap_p99:.1f} ms")
        print(f"unwrapKey {unwrap_rps:9.1f}/s  p99 {unwrap_p99:.1f} ms")
        print(f"openssl speed rsa2048: {sign:.1f} sign/s per core x {cores} cores = {sign * cores:.1f}/s")
        print(f"unwrap / (openssl sign/s x cores) = {report['unwrap_over_openssl_times_cores']:.2f}")
    finally:
        stop([coffer.process])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
