#!/usr/bin/env python3
"""Benchmarks Coffer beside Debian's docker-registry (CNCF distribution), same machine, same clients.

Both serve TLS with Coffer's generated certificate. Figures: 1 GiB blob push and pull (curl, MB/s,
median of 3), manifest GET req/s and p99 at 64 connections (wrk), and Coffer's peak RSS (VmHWM)
over the whole run. Prints the ratios Coffer / docker-registry and writes a JSON result.

Usage: bench/run [--size-mib 1024] [--runs 3] [--duration 10] [--out bench/results/latest.json]
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import CofferServer, Target, peak_rss_mib, random_file, start_docker_registry, stop  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    parser.add_argument("--coffer", default=os.path.join(ROOT, ".build", "release", "coffer"))
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="an extra `coffer serve` argument (repeat), to compare settings: --serve-arg=--upload-minimum-bytes-per-second --serve-arg=0")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="coffer-bench-")
    processes = []
    try:
        coffer = CofferServer(args.coffer, work, "--address", "127.0.0.1", *args.serve_arg)
        processes.append(coffer.process)
        service = f"localhost:{coffer.port}"
        token = coffer.registry_token(service, "repository:coffer/bench:pull,push")
        registry, registry_port = start_docker_registry(work, coffer)
        processes.append(registry)
        ca = coffer.ca

        targets = [Target("coffer", f"https://{service}", "coffer/bench", ca, token),
                   Target("docker-registry", f"https://localhost:{registry_port}", "bench", ca)]

        blob = os.path.join(work, "blob.bin")
        size = args.size_mib * 1024 * 1024
        digest = random_file(blob, size)

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
        results["coffer"]["peak_rss_mib"] = peak_rss_mib(coffer.process.pid)
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
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
