#!/usr/bin/env python3
"""Benchmarks Coffer beside Debian's docker-registry (CNCF distribution), same machine, same clients.

Both serve TLS with Coffer's generated certificate; docker-registry with its in-memory blob descriptor cache (as
Coffer has its manifest cache). Each of --runs rounds measures both: a 1 GiB blob push and pull (curl, MB/s) and
manifest GETs at 64 connections (wrk, req/s and p99), the order of the two turning every round, with `sync`
before every timed step. Every figure is reported as the median of the rounds with its range, and every ratio
Coffer / docker-registry is taken round by round; a target is met only when the whole range of its ratio clears it.
Also Coffer's peak RSS (VmHWM) over the run. Writes a JSON result.

Usage: bench/run [--size-mib 1024] [--runs 5] [--duration 10] [--out bench/results/latest.json]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import (FIGURES, CofferServer, Target, measure_rounds, peak_rss_mib, random_file, ratio_runs, show, spread,  # noqa: E402
                    start_docker_registry, stop)

# The ratios Coffer / docker-registry the project holds itself to (docs/benchmarks.md).
TARGETS = {"push_mb_s": 1.5, "pull_mb_s": 0.8, "manifest_get_rps": 2.0}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
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
        scope = "repository:coffer/bench:pull,push"
        registry, registry_port = start_docker_registry(work, coffer)
        processes.append(registry)
        ca = coffer.ca

        targets = [Target("coffer", f"https://{service}", "coffer/bench", ca, renew=lambda: coffer.registry_token(service, scope)),
                   Target("docker-registry", f"https://localhost:{registry_port}", "bench", ca)]

        blob = os.path.join(work, "blob.bin")
        size = args.size_mib * 1024 * 1024
        digest = random_file(blob, size)
        figures = measure_rounds(targets, blob, digest, size, args.runs, args.duration, args.connections)
        results = {name: {key: spread(values) for key, values in measured.items()} for name, measured in figures.items()}
        results["coffer"]["peak_rss_mib"] = peak_rss_mib(coffer.process.pid)
        ratios = {key: spread(values) for key, values in ratio_runs(figures, "coffer", "docker-registry").items()}
        report = {"size_mib": args.size_mib, "runs": args.runs, "connections": args.connections, "duration_s": args.duration,
                  "results": results, "ratios_coffer_over_registry": ratios}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)

        print(f"median (min–max) of {args.runs} rounds")
        print(f"{'':18}{'coffer':>26}{'docker-registry':>26}{'ratio':>22}  target")
        for label, key in FIGURES:
            target = TARGETS.get(key)
            met = "" if target is None else ("met" if ratios[key]["min"] >= target else "NOT met") + f" (≥ {target})"
            print(f"{label:18}{show(results['coffer'][key]):>26}{show(results['docker-registry'][key]):>26}{show(ratios[key]):>22}  {met}")
        print(f"coffer peak RSS: {results['coffer']['peak_rss_mib']:.1f} MiB")
        print(f"result written to {os.path.relpath(args.out, ROOT)}")
    finally:
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
