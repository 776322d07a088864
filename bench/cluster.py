#!/usr/bin/env python3
"""Scale-out: the embedded stack (SQLite + filesystem) on one node, the distributed stack (PostgreSQL + S3) on
one node, and the distributed stack on two nodes behind nginx. Push and pull MB/s with several clients at once
(curl, aggregate, median of N) and manifest GET req/s (wrk, 64 connections, median of N), so that growth from one node to two
shows. PostgreSQL is Debian's and S3 is moto's server, both on this machine: the S3 endpoint (Python) is slow,
which bounds the blob figures of the distributed stack; the manifest figures read metadata from PostgreSQL.

With `--node-cores N` each Coffer node is pinned (taskset) to N cores of its own, standing for a machine of N
cores; the clients, PostgreSQL, moto and nginx are not pinned. On a small machine that is the only way a second
node can add capacity: unpinned, two nodes share the same cores as one.

Usage: bench/run-cluster [--size-mib 64] [--clients 4] [--runs 3] [--duration 10] [--node-cores N]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from common import CofferServer, Target, free_port, random_file, stop  # noqa: E402

NGINX = """load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
stream {{
    upstream coffer {{ {servers} }}
    server {{ listen 127.0.0.1:{port}; proxy_pass coffer; }}
}}
"""


def measure(target, blobs, size, runs, duration):
    """Aggregate push and pull MB/s with one client per blob, then manifest GETs under load."""
    def timed(action):
        start = time.perf_counter()
        with ThreadPoolExecutor(len(blobs)) as pool:
            list(pool.map(action, blobs))
        return len(blobs) * size / (time.perf_counter() - start) / 1e6
    pushes = [timed(lambda blob: target.push(*blob)) for _ in range(runs)]
    pulls = [timed(lambda blob: target.pull(blob[1], size)) for _ in range(runs)]
    config = target.put_small_blob(b'{"architecture":"amd64","os":"linux"}')
    layer = target.put_small_blob(b"x" * 1000)
    target.put_manifest((config, 37), (layer, 1000))
    subprocess.run(["sync"], check=False)
    gets = [target.wrk(duration, 64) for _ in range(runs)]  # one wrk run varies by a third on a shared machine
    return {"push_mb_s": statistics.median(pushes), "pull_mb_s": statistics.median(pulls),
            "manifest_get_rps": statistics.median(rps for rps, _ in gets), "manifest_get_p99_ms": statistics.median(p99 for _, p99 in gets)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--node-cores", type=int, default=0, help="pin each node to this many cores of its own (0: no pinning)")
    parser.add_argument("--coffer", default=os.path.join(ROOT, ".build", "release", "coffer"))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "cluster.json"))
    args = parser.parse_args()
    if args.node_cores and 2 * args.node_cores > os.cpu_count():
        parser.error(f"two nodes of {args.node_cores} cores need {2 * args.node_cores} cores; this machine has {os.cpu_count()}")

    def pin(server, node):
        """Node 0 gets the first `node_cores` cores, node 1 the next ones (every thread, present and future)."""
        if args.node_cores:
            cores = ",".join(str(node * args.node_cores + index) for index in range(args.node_cores))
            subprocess.run(["taskset", "-a", "-p", "-c", cores, str(server.process.pid)], check=True, stdout=subprocess.DEVNULL)
    size = args.size_mib << 20
    work = tempfile.mkdtemp(prefix="coffer-clusterbench-")
    # Its own top-level directory: PostgreSQL runs as its own user, which cannot enter `work` (mode 0700).
    processes, postgres_dir = [], tempfile.mkdtemp(prefix="coffer-clusterbench-postgres-")
    try:
        blobs = []
        for index in range(args.clients):
            path = os.path.join(work, f"blob{index}")
            blobs.append((path, random_file(path, size)))
        admin_url = subprocess.run([os.path.join(ROOT, "scripts", "test-postgres"), "start", postgres_dir],
                                   capture_output=True, text=True, check=True).stdout.strip()
        database = admin_url.replace("/postgres?", "/coffer?")
        subprocess.run(["psql", admin_url, "-qc", "CREATE DATABASE coffer TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"], check=True)
        s3_port = free_port()
        processes.append(subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(s3_port)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(100):
            try:
                requests.put(f"http://127.0.0.1:{s3_port}/coffer-bench", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
                          AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{s3_port}")
        distributed = ["--metadata", database, "--blobs", "s3://coffer-bench/coffer"]
        results = {}

        def target(server, base=None):
            base = base or server.base
            host = base.replace("https://", "")
            token = server.registry_token(host, "repository:coffer/bench:pull,push")
            return Target("coffer", base, "coffer/bench", server.ca, token)

        for name in ("embedded", "node1"):
            os.makedirs(os.path.join(work, name))
        embedded = CofferServer(args.coffer, os.path.join(work, "embedded"))
        pin(embedded, 0)
        processes.append(embedded.process)
        results["embedded, one node"] = measure(target(embedded), blobs, size, args.runs, args.duration)
        stop([embedded.process])
        processes.remove(embedded.process)

        first = CofferServer(args.coffer, os.path.join(work, "node1"), *distributed)
        pin(first, 0)
        processes.append(first.process)
        results["PostgreSQL + S3, one node"] = measure(target(first), blobs, size, args.runs, args.duration)

        def balancer(nodes):
            """nginx in front of `nodes` (TLS passes through); returns its process and its address."""
            port = free_port()
            nginx_dir = os.path.join(work, f"nginx{len(nodes)}")
            os.makedirs(nginx_dir)
            with open(os.path.join(nginx_dir, "nginx.conf"), "w") as handle:
                handle.write(NGINX.format(dir=nginx_dir, port=port, servers=" ".join(f"server 127.0.0.1:{node.port};" for node in nodes)))
            process = subprocess.Popen(["nginx", "-p", nginx_dir, "-c", os.path.join(nginx_dir, "nginx.conf"), "-g", "daemon off;"])
            processes.append(process)
            time.sleep(1)
            return process, f"https://localhost:{port}"

        # The same path as two nodes take (through nginx), so that the ratio is about nodes, not about the proxy.
        nginx, base = balancer([first])
        results["PostgreSQL + S3, one node behind nginx"] = measure(target(first, base), blobs, size, args.runs, args.duration)
        stop([nginx])
        processes.remove(nginx)

        # A second node with the first one's secrets, and nginx in front of both.
        second_dir = os.path.join(work, "node2", "coffer")
        os.makedirs(second_dir)
        for name in os.listdir(first.data):
            if os.path.isfile(os.path.join(first.data, name)) and not name.startswith("metadata.sqlite"):
                shutil.copy2(os.path.join(first.data, name), second_dir)
        second = CofferServer(args.coffer, os.path.join(work, "node2"), *distributed)
        pin(second, 1)
        processes.append(second.process)
        _, base = balancer([first, second])
        results["PostgreSQL + S3, two nodes behind nginx"] = measure(target(first, base), blobs, size, args.runs, args.duration)

        one, two = results["PostgreSQL + S3, one node behind nginx"], results["PostgreSQL + S3, two nodes behind nginx"]
        results["two nodes / one node"] = {key: two[key] / one[key] for key in one}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump({"size_mib": args.size_mib, "clients": args.clients, "runs": args.runs, "node_cores": args.node_cores,
                       "results": results}, handle, indent=2)
        print(json.dumps(results, indent=2))
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM if "nginx" not in str(process.args) else signal.SIGQUIT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        subprocess.run([os.path.join(ROOT, "scripts", "test-postgres"), "stop", postgres_dir], check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(postgres_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
