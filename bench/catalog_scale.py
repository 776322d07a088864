#!/usr/bin/env python3
"""How the base address's catalog page costs against the number of repositories: a server on a fresh data directory,
N repositories written straight into its SQLite metadata (no blobs: the catalog reads only names), then the median
time of 50 `GET /v2/_catalog?n=100` at the start and from the middle. Usage: bench/catalog_scale.py <coffer binary>
[N ...] (default 100 30000). The long form of the scale curves (issue 19) is still to be built around it."""
import json, os, sqlite3, statistics, subprocess, sys, tempfile, time, requests, signal
import urllib3
urllib3.disable_warnings()
BIN = sys.argv[1]
def run(count):
    d = tempfile.mkdtemp(); data = os.path.join(d, "data")
    import socket
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
    def start():
        p = subprocess.Popen([BIN, "serve", "--data-dir", data, "--port", str(port), "--log-level", "warning"], stdout=open(os.path.join(d, "log"), "a"), stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                requests.get(f"https://localhost:{port}/healthz", verify=False, timeout=1); return p
            except Exception: time.sleep(0.1)
        raise SystemExit("no start: " + open(os.path.join(d, "log")).read()[-500:])
    p = start(); p.send_signal(signal.SIGTERM); p.wait()
    db = sqlite3.connect(os.path.join(data, "metadata.sqlite"))
    db.executemany("INSERT INTO repositories (registry, name) VALUES ('coffer', ?)", [(f"repo{i:06d}",) for i in range(count)])
    db.commit(); db.close()
    p = start()
    ca = os.path.join(data, "ca.pem")
    creds = json.load(open(os.path.join(data, "admin-credentials.json")))
    token = requests.get(f"https://localhost:{port}/oauth2/token", params={"service": f"localhost:{port}", "scope": "registry:catalog:*"},
                         auth=(creds["username"], creds["password"]), verify=ca).json()["token"]
    s = requests.Session(); s.verify = ca; s.headers["Authorization"] = f"Bearer {token}"
    out = {}
    for label, query in (("first page", "n=100"), ("middle page", f"n=100&last=coffer/repo{count//2:06d}")):
        times = []
        for _ in range(60):
            t = time.perf_counter(); r = s.get(f"https://localhost:{port}/v2/_catalog?{query}", verify=ca); times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and r.json()["repositories"]
        out[label] = statistics.median(times[10:])
    p.send_signal(signal.SIGTERM); p.wait()
    return out
for count in [int(arg) for arg in sys.argv[2:]] or [100, 30000]:
    print(count, {k: f"{v:.1f} ms" for k, v in run(count).items()})
