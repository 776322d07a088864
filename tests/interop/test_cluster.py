"""Two Coffer nodes on one PostgreSQL and one S3 endpoint, behind nginx (Debian's, TCP load balancing on
loopback): pushes land on both nodes, a chunked upload alternates between them, and when a node dies mid-push
the client's retry succeeds through the other. Pulls are byte-identical. Garbage collection, run by one node,
never takes what the other is writing."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import boto3
import pytest
import requests

from conftest import Coffer, free_port
from oci_layout import build_image

NGINX_CONF = """
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
stream {{
    log_format upstreams '$upstream_addr';
    access_log {dir}/access.log upstreams;
    upstream coffer {{
        server 127.0.0.1:{a} max_fails=1 fail_timeout=60s;
        server 127.0.0.1:{b} max_fails=1 fail_timeout=60s;
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_pass coffer;
        proxy_connect_timeout 1s;
    }}
}}
"""


class Cluster:
    def __init__(self, database, bucket, extra_args=()):
        self.workdir = tempfile.mkdtemp(prefix="coffer-cluster-")
        # nginx's port, which both nodes advertise in every URL they hand out.
        self.port = free_port()
        args = ["--metadata", database, "--blobs", f"s3://{bucket}/cluster", "--public-port", str(self.port), *extra_args]
        os.makedirs(os.path.join(self.workdir, "a"))
        os.makedirs(os.path.join(self.workdir, "b"))
        self.a = Coffer(os.path.join(self.workdir, "a"), args)
        # The second node shares the first one's secrets (CA, master key, token key, credentials): one service.
        shared = os.path.join(self.workdir, "b", "data")
        os.makedirs(shared)
        for name in os.listdir(self.a.data_dir):
            path = os.path.join(self.a.data_dir, name)
            if os.path.isfile(path) and not name.startswith("metadata.sqlite"):
                shutil.copy2(path, shared)
        self.b = Coffer(os.path.join(self.workdir, "b"), args)
        self.nginx_dir = os.path.join(self.workdir, "nginx")
        os.makedirs(self.nginx_dir)
        with open(os.path.join(self.nginx_dir, "nginx.conf"), "w") as handle:
            handle.write(NGINX_CONF.format(dir=self.nginx_dir, a=self.a.port, b=self.b.port, port=self.port))
        self.nginx = subprocess.Popen(["nginx", "-p", self.nginx_dir, "-c", os.path.join(self.nginx_dir, "nginx.conf"), "-g", "daemon off;"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "nginx did not start"
                time.sleep(0.1)
        self.host = f"localhost:{self.port}"

    def upstreams(self):
        """The node ports nginx has sent connections to so far."""
        time.sleep(0.3)  # stream sessions are logged when they end
        with open(os.path.join(self.nginx_dir, "access.log")) as handle:
            return [line.strip().split(":")[-1] for line in handle if line.strip() and line.strip() != "-"]

    def close(self):
        self.nginx.send_signal(signal.SIGQUIT)
        self.nginx.wait(timeout=20)
        for node in (self.a, self.b):
            if node.process.poll() is None:
                node.stop()
            node.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def cluster(request, postgres_database, s3_bucket):
    if not shutil.which("nginx"):
        pytest.fail("nginx is not installed (scripts/test installs it)")
    _, bucket = s3_bucket
    marker = request.node.get_closest_marker("serve_args")
    running = Cluster(postgres_database, bucket, marker.args if marker else ())
    running.bucket = bucket
    yield running
    running.close()


def skopeo(cluster, *args):
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)


def assert_pulls_back(cluster, tmp_path, repository, source, layers):
    """Pulls `repository:v1` through the load balancer; every layer comes back byte-identical."""
    back = str(tmp_path / f"back-{repository}")
    pulled = skopeo(cluster, "copy", "--src-cert-dir", cluster.a.cert_dir, "--src-creds", f"{cluster.a.username}:{cluster.a.password}",
                    f"docker://{cluster.host}/coffer/{repository}:v1", f"oci:{back}:v1")
    assert pulled.returncode == 0, pulled.stderr
    for digest in layers:
        name = digest.split(":")[1]
        with open(os.path.join(source, "blobs", "sha256", name), "rb") as a, open(os.path.join(back, "blobs", "sha256", name), "rb") as b:
            assert a.read() == b.read()


def test_pushes_land_on_both_nodes_and_pull_back_identical(cluster, tmp_path):
    creds = f"{cluster.a.username}:{cluster.a.password}"
    source = str(tmp_path / "source")
    layers = build_image(source, "v1", [os.urandom(300_000) for _ in range(4)])
    before = len(cluster.upstreams())  # not the fixture's own readiness connection
    pushed = skopeo(cluster, "copy", "--dest-cert-dir", cluster.a.cert_dir, "--dest-creds", creds, f"oci:{source}:v1",
                    f"docker://{cluster.host}/coffer/app:v1")
    assert pushed.returncode == 0, pushed.stderr
    used = cluster.upstreams()[before:]
    assert {str(cluster.a.port), str(cluster.b.port)} <= set(used), f"the push's connections did not reach both nodes: {used}"
    assert_pulls_back(cluster, tmp_path, "app", source, layers)


def test_a_chunked_upload_alternates_nodes(cluster):
    data = os.urandom(400_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    base = f"https://{cluster.host}"
    token = requests.get(f"{base}/oauth2/token", params={"service": cluster.host, "scope": "repository:coffer/chunked:pull,push"},
                         auth=(cluster.a.username, cluster.a.password), verify=cluster.a.ca, timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    before = len(cluster.upstreams())
    started = requests.post(f"{base}/v2/coffer/chunked/blobs/uploads/", headers=headers, verify=cluster.a.ca, timeout=30)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    location = location if location.startswith("http") else base + location
    offset = 0
    for chunk in (data[:150_000], data[150_000:151_000], data[151_000:300_000]):
        patched = requests.patch(location, data=chunk, verify=cluster.a.ca, timeout=30, headers={
            **headers, "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
        assert patched.status_code == 202, patched.text
        offset += len(chunk)
        location = patched.headers["Location"]
        location = location if location.startswith("http") else base + location
    separator = "&" if "?" in location else "?"
    done = requests.put(f"{location}{separator}digest={digest}", data=data[300_000:], verify=cluster.a.ca, timeout=30,
                        headers={**headers, "Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    used = cluster.upstreams()[before:]
    assert {str(cluster.a.port), str(cluster.b.port)} <= set(used), f"the upload's requests all went to one node: {used}"
    pulled = requests.get(f"{base}/v2/coffer/chunked/blobs/{digest}", headers=headers, verify=cluster.a.ca, timeout=30)
    assert pulled.status_code == 200 and pulled.content == data


def test_a_node_dies_mid_push_and_the_retry_succeeds_through_the_other(cluster, tmp_path):
    creds = f"{cluster.a.username}:{cluster.a.password}"
    source = str(tmp_path / "source")
    layers = build_image(source, "v1", [os.urandom(4_000_000) for _ in range(6)])
    push = ["copy", "--retry-times", "3", "--dest-cert-dir", cluster.a.cert_dir, "--dest-creds", creds, f"oci:{source}:v1",
            f"docker://{cluster.host}/coffer/big:v1"]
    before = len(cluster.upstreams())
    first = subprocess.Popen(["skopeo", *push], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Killed once the push has a connection open to it (not after a fixed pause, which a loaded machine outlasts).
    deadline = time.time() + 60
    while not connected_to(cluster.a.port) and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the push finished before the crash; the test proves nothing"
    cluster.a.crash()
    first.wait(timeout=300)
    # The killed node carried part of the push (its sessions are logged when the kill ends them).
    assert str(cluster.a.port) in cluster.upstreams()[before:], "the killed node carried none of the push; the test proves nothing"
    if first.returncode != 0:
        again = skopeo(cluster, *push)  # the client's retry, through the node that is left
        assert again.returncode == 0, again.stderr
    assert_pulls_back(cluster, tmp_path, "big", source, layers)


def connected_to(port):
    """Whether a TCP connection to 127.0.0.1:`port` is established (from /proc, which every Linux has)."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and remote == f"0100007F:{port:04X}":
                return True
    return False


def gc_passes(node):
    """Garbage-collection counters of one node, from its metrics endpoint."""
    metrics = requests.get(f"https://{node.host}/metrics", headers={"Authorization": f"Bearer {node.operator_token()}"},
                           verify=node.ca, timeout=30)
    assert metrics.status_code == 200, metrics.text
    values = dict(line.split(" ") for line in metrics.text.splitlines() if line.startswith("coffer_gc_"))
    return {name: int(value) for name, value in values.items()}


def stored_objects(bucket):
    s3 = boto3.client("s3")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


GRACE_SECONDS = 45  # long enough that the slow push below never outlasts it, even on a loaded machine


def wait_for_passes(node, count, seconds=60):
    """Waits until `node` has finished `count` more collection passes."""
    start = gc_passes(node)["coffer_gc_passes_total"]
    deadline = time.time() + seconds
    while gc_passes(node)["coffer_gc_passes_total"] < start + count:
        assert time.time() < deadline, f"{node.host} finished fewer than {count} collection passes in {seconds} s"
        time.sleep(0.5)


@pytest.mark.serve_args("--gc-interval-seconds", "1", "--gc-grace-seconds", str(GRACE_SECONDS))
def test_garbage_collection_on_one_node_spares_what_the_other_writes(cluster, tmp_path):
    # Both nodes run maintenance every second; the cluster's lease lets one of them collect.
    deadline = time.time() + 30
    while True:
        counts = {node: gc_passes(node)["coffer_gc_passes_total"] for node in (cluster.a, cluster.b)}
        if any(counts.values()):
            break
        assert time.time() < deadline, "no node ran garbage collection"
        time.sleep(1)
    collector = max(counts, key=counts.get)
    writer = cluster.b if collector is cluster.a else cluster.a
    assert counts[writer] == 0, "both nodes collected: the lease did not hold"

    # The writer pushes slowly, blob by blob and chunk by chunk, while the collector passes over the registry.
    token = writer.token("repository:coffer/slow:pull,push")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"https://{writer.host}/v2/coffer/slow"
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    posted = requests.post(f"{base}/blobs/uploads/?digest={config_digest}", data=config, headers=headers, verify=writer.ca, timeout=30)
    assert posted.status_code == 201, posted.text
    layer = os.urandom(600_000)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    started = requests.post(f"{base}/blobs/uploads/", headers=headers, verify=writer.ca, timeout=30)
    assert started.status_code == 202, started.text
    location = f"https://{writer.host}{started.headers['Location']}"
    offset = 0
    for chunk in (layer[:200_000], layer[200_000:400_000]):
        patched = requests.patch(location, data=chunk, verify=writer.ca, timeout=30, headers={
            **headers, "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
        assert patched.status_code == 202, patched.text
        offset += len(chunk)
        location = f"https://{writer.host}{patched.headers['Location']}"
        wait_for_passes(collector, 2)  # collection passes go by mid-upload
    separator = "&" if "?" in location else "?"
    done = requests.put(f"{location}{separator}digest={layer_digest}", data=layer[400_000:], verify=writer.ca, timeout=30,
                        headers={**headers, "Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    wait_for_passes(collector, 1)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer)}]}).encode()
    put = requests.put(f"{base}/manifests/v1", data=manifest, verify=writer.ca, timeout=30,
                       headers={**headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 201, put.text
    assert gc_passes(collector)["coffer_gc_passes_total"] > counts[collector] + 3, "the collector was not running meanwhile"
    pulled = requests.get(f"https://{collector.host}/v2/coffer/slow/blobs/{layer_digest}", verify=collector.ca, timeout=30,
                          headers={"Authorization": f"Bearer {collector.token('repository:coffer/slow:pull')}"})
    assert pulled.status_code == 200 and pulled.content == layer

    # What nothing references any more is collected; what is referenced stays and pulls back identical.
    creds = f"{cluster.a.username}:{cluster.a.password}"
    keep, gone = str(tmp_path / "keep"), str(tmp_path / "gone")
    keep_layers = build_image(keep, "v1", [os.urandom(300_000) for _ in range(2)])
    gone_layers = build_image(gone, "v1", [os.urandom(300_000) for _ in range(2)])
    for source, repository in ((keep, "keep"), (gone, "gone")):
        pushed = skopeo(cluster, "copy", "--dest-cert-dir", cluster.a.cert_dir, "--dest-creds", creds, f"oci:{source}:v1",
                        f"docker://{cluster.host}/coffer/{repository}:v1")
        assert pushed.returncode == 0, pushed.stderr
    gone_token = writer.token("repository:coffer/gone:pull,push,delete")
    gone_headers = {"Authorization": f"Bearer {gone_token}", "Accept": "application/vnd.oci.image.manifest.v1+json"}
    head = requests.head(f"https://{writer.host}/v2/coffer/gone/manifests/v1", headers=gone_headers, verify=writer.ca, timeout=30)
    assert head.status_code == 200
    deleted = requests.delete(f"https://{writer.host}/v2/coffer/gone/manifests/{head.headers['Docker-Content-Digest']}",
                              headers=gone_headers, verify=writer.ca, timeout=30)
    assert deleted.status_code == 202, deleted.text
    names = [digest.split(":")[1] for digest in gone_layers]
    assert all(any(name in key for key in stored_objects(cluster.bucket)) for name in names)
    deadline = time.time() + GRACE_SECONDS + 60
    while any(name in key for key in stored_objects(cluster.bucket) for name in names):
        assert time.time() < deadline, "unreferenced layers were not collected within the grace period and a minute"
        time.sleep(2)
    for name in names:
        missing = requests.head(f"https://{writer.host}/v2/coffer/gone/blobs/sha256:{name}", headers=gone_headers, verify=writer.ca, timeout=30)
        assert missing.status_code == 404
    # The counters are added when a pass ends (after its sweep of stray objects), which may be after the objects went.
    deadline = time.time() + 30
    while gc_passes(collector)["coffer_gc_blobs_removed_total"] < len(names) + 2:  # the layers, the config, the manifest
        assert time.time() < deadline, f"the collector counted {gc_passes(collector)['coffer_gc_blobs_removed_total']} removed blobs"
        time.sleep(1)
    assert_pulls_back(cluster, tmp_path, "keep", keep, keep_layers)


def test_the_nodes_advertise_the_load_balancers_port(cluster):
    """Behind a load balancer on another port, every URL a node handed out named the node's own port: tokens for the
    balancer's address were refused, login servers and key ids pointed past it. `--public-port` names the balancer."""
    base = f"https://{cluster.host}"
    operator = cluster.a.operator()
    discovery = requests.get(f"{base}/{operator['tenantId']}/v2.0/.well-known/openid-configuration", verify=cluster.a.ca, timeout=30).json()
    assert discovery["token_endpoint"].startswith(f"{base}/"), discovery
    token = requests.post(discovery["token_endpoint"], verify=cluster.a.ca, timeout=30, data={
        "grant_type": "client_credentials", "client_id": operator["clientId"], "client_secret": operator["clientSecret"],
        "scope": f"{base}/.default"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    group = f"/subscriptions/{operator['subscriptionId']}/resourceGroups/balanced"
    assert requests.put(f"{base}{group}?api-version=2021-04-01", json={"location": "westeurope"}, headers=headers,
                        verify=cluster.a.ca, timeout=30).status_code in (200, 201)
    registry = requests.put(f"{base}{group}/providers/Microsoft.ContainerRegistry/registries/balancedreg?api-version=2023-07-01",
                            json={"location": "westeurope", "sku": {"name": "Basic"}}, headers=headers, verify=cluster.a.ca, timeout=30)
    assert registry.status_code in (200, 201), registry.text
    assert registry.json()["properties"]["loginServer"] == f"balancedreg.cr.localhost:{cluster.port}"
    vault = requests.put(f"{base}{group}/providers/Microsoft.KeyVault/vaults/balancedvault?api-version=2023-07-01", headers=headers,
                         verify=cluster.a.ca, timeout=30, json={"location": "westeurope", "properties": {
                             "tenantId": operator["tenantId"], "sku": {"family": "A", "name": "standard"}, "accessPolicies": [{
                                 "tenantId": operator["tenantId"], "objectId": operator_object_id(cluster, base, headers),
                                 "permissions": {"keys": ["all"]}}]}})
    assert vault.status_code in (200, 201), vault.text
    assert vault.json()["properties"]["vaultUri"] == f"https://balancedvault.vault.localhost:{cluster.port}/"


def operator_object_id(cluster, base, headers):
    """The operator's object id, from its own role assignments."""
    subscription = cluster.a.operator()["subscriptionId"]
    assignments = requests.get(f"{base}/subscriptions/{subscription}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01",
                               headers=headers, verify=cluster.a.ca, timeout=30).json()["value"]
    return assignments[0]["properties"]["principalId"]


def test_a_manifest_deleted_through_one_node_is_gone_from_the_others_cache(cluster, tmp_path):
    """Each node keeps decrypted manifests in memory; a delete through the other node must still be seen at once."""
    source = str(tmp_path / "source")
    build_image(source, "v1", [os.urandom(10_000)])
    pushed = skopeo(cluster, "copy", "--dest-cert-dir", cluster.a.cert_dir, "--dest-creds", f"{cluster.a.username}:{cluster.a.password}",
                    f"oci:{source}:v1", f"docker://{cluster.host}/coffer/cached:v1")
    assert pushed.returncode == 0, pushed.stderr

    def direct(node, method, reference):
        # Straight to one node, past the load balancer (which answers as its own address: a token for that one).
        token = requests.get(f"https://localhost:{node.port}/oauth2/token", auth=(cluster.a.username, cluster.a.password), verify=cluster.a.ca,
                             params={"service": f"localhost:{node.port}", "scope": "repository:coffer/cached:pull,delete"}, timeout=30).json()["token"]
        return requests.request(method, f"https://localhost:{node.port}/v2/coffer/cached/manifests/{reference}", verify=cluster.a.ca, timeout=30,
                                headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.oci.image.manifest.v1+json"})

    first = direct(cluster.b, "GET", "v1")
    assert first.status_code == 200, first.text
    digest = first.headers["Docker-Content-Digest"]
    assert direct(cluster.b, "GET", digest).content == first.content  # now in node b's cache
    assert direct(cluster.a, "DELETE", digest).status_code == 202
    for reference in (digest, "v1"):
        gone = direct(cluster.b, "GET", reference)
        assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN", (reference, gone.status_code, gone.text)
