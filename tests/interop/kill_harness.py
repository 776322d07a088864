"""Crash consistency, measured: a mixed registry workload from several clients while `coffer serve` is sent SIGKILL at
random moments. After each restart: every acknowledged write reads back byte-identical, acknowledged deletes stay
deleted, tags name what was last acknowledged (or a write in flight at the kill), `coffer check --deep` finds nothing
partial or dangling, chunked uploads cut off by a kill resume or are cleanly gone, and the server is up within seconds.

Short form in the test suite (`test_kill_harness.py`); long form by hand:
    python3 tests/interop/kill_harness.py --kills 100 [--postgres URL --s3 ENDPOINT] [--seed N]
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import BINARY, Coffer  # noqa: E402
from test_cmk import grant, registry_body, setup as cmk_setup  # noqa: E402

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# The server's own background work, made frequent: collection with a short grace, idle uploads expired.
SERVE_ARGS = ["--gc-interval-seconds", "2", "--gc-grace-seconds", "20", "--upload-idle-seconds", "60"]


class Client:
    """A thread of load that the harness pauses while the server is down and verifies after each restart."""

    def __init__(self, server, rng):
        self.server, self.rng = server, rng
        self.paused = threading.Event()
        self.idle = threading.Event()
        self.stopped = False

    def run(self):
        while not self.stopped:
            if self.paused.is_set():
                self.idle.set()
                time.sleep(0.02)
                continue
            self.idle.clear()
            try:
                self.step()
            except (requests.RequestException, OSError):
                time.sleep(0.05)  # the server is down: nothing of this step was acknowledged


class Worker(Client):
    """One registry client, alone on its repository, recording what the server acknowledged."""

    def __init__(self, server, index, rng, registry_host=None, prefix="coffer/"):
        super().__init__(server, rng)
        self.registry_host = registry_host or server.host
        self.prefix = prefix
        self.repository = f"crash/w{index}"
        self.blobs = {}            # digest -> bytes, every blob acknowledged
        self.manifests = {}        # digest -> (bytes, [blob digests], subject or None), acknowledged and not deleted
        self.deleted = set()       # manifest digests whose delete was acknowledged (and not put again)
        self.tags = {}             # tag -> last acknowledged digest
        self.in_flight_tags = {}   # tag -> digests put without an answer since the last acknowledged one
        self.referrers = {}        # subject digest -> referrer digests acknowledged
        self.uncertain = set()     # manifest digests whose delete was sent without an answer
        self.verified = set()      # manifests read back intact after an earlier kill
        self.interrupted_uploads = []   # (location, data, digest) of chunked uploads a kill cut off
        self.uploads_resumed = 0
        self.uploads_finished = 0      # the final PUT landed, its answer lost to the kill
        self.uploads_restarted = 0     # torn by the kill: refused with BLOB_UPLOAD_INVALID, done again by a new upload
        self.uploads_gone = 0
        self.counter = 0
        self.token = None

    # -- HTTP -------------------------------------------------------------------------------------------------------
    def url(self, path):
        return f"https://{self.registry_host}/v2/{self.prefix}{self.repository}{path}"

    def call(self, method, path_or_url, **kwargs):
        url = path_or_url if path_or_url.startswith("https://") else self.url(path_or_url)
        extra = kwargs.pop("headers", {})
        for _ in range(2):  # a token that expired during a long run is fetched again, once
            if self.token is None:
                self.token = self.server.token(f"repository:{self.prefix}{self.repository}:pull,push,delete", service=self.registry_host)
            response = requests.request(method, url, headers={"Authorization": f"Bearer {self.token}", **extra},
                                        verify=self.server.ca, timeout=30, **kwargs)
            if response.status_code != 401:
                return response
            self.token = None
        return response

    def absolute(self, location):
        return location if location.startswith("https://") else f"https://{self.registry_host}{location}"

    # -- operations -------------------------------------------------------------------------------------------------
    def push_blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.rng.random() < 0.5:
            response = self.call("POST", f"/blobs/uploads/?digest={digest}", data=data, headers={"Content-Type": "application/octet-stream"})
        else:
            response = self.call("POST", "/blobs/uploads/")
            if response.status_code != 202:
                return None
            location, start = self.absolute(response.headers["Location"]), 0
            try:
                while start < len(data):
                    chunk = data[start:start + self.rng.randint(1, 70_000)]
                    response = self.call("PATCH", location, data=chunk, headers={
                        "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(chunk) - 1}"})
                    if response.status_code != 202:
                        return None
                    location, start = self.absolute(response.headers["Location"]), start + len(chunk)
                separator = "&" if "?" in location else "?"
                response = self.call("PUT", f"{location}{separator}digest={digest}")
            except (requests.RequestException, OSError):
                # Cut off by the kill: after the restart this session must resume where the server says, or be gone.
                self.interrupted_uploads.append((location, data, digest))
                raise
        if response.status_code != 201:
            return None
        self.blobs[digest] = data
        return digest

    def push_image(self, subject=None):
        self.counter += 1
        config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": uuid.uuid4().hex}).encode()
        layers = [os.urandom(self.rng.choice([100, 5_000, 90_000, 300_000])) for _ in range(self.rng.randint(1, 2))]
        digests = [self.push_blob(data) for data in [config, *layers]]
        if None in digests:
            return
        document = {"schemaVersion": 2, "mediaType": MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[0], "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(b)}
                               for d, b in zip(digests[1:], layers)]}
        if subject:
            document["subject"] = {"mediaType": MANIFEST, "digest": subject, "size": len(self.manifests[subject][0])}
            document["artifactType"] = "application/vnd.example.signature"
        body = json.dumps(document).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        tag = f"v{self.counter}"
        self.in_flight_tags.setdefault(tag, set()).add(digest)
        response = self.call("PUT", f"/manifests/{tag}", data=body, headers={"Content-Type": MANIFEST})
        if response.status_code == 201:
            self.manifests[digest] = (body, digests, subject)
            self.deleted.discard(digest)
            self.tags[tag] = digest
            self.in_flight_tags.pop(tag, None)
            if subject:
                self.referrers.setdefault(subject, set()).add(digest)

    def move_latest(self):
        if not self.manifests:
            return
        digest = self.rng.choice(sorted(self.manifests))
        body = self.manifests[digest][0]
        self.in_flight_tags.setdefault("latest", set()).add(digest)
        if self.call("PUT", "/manifests/latest", data=body, headers={"Content-Type": MANIFEST}).status_code == 201:
            self.tags["latest"] = digest
            self.in_flight_tags.pop("latest", None)

    def delete_manifest(self):
        candidates = [d for d in sorted(self.manifests) if self.manifests[d][2] is None and d not in self.referrers]
        if not candidates:
            return
        digest = self.rng.choice(candidates)
        self.uncertain.add(digest)
        if self.call("DELETE", f"/manifests/{digest}").status_code == 202:
            self.forget(digest)
        self.uncertain.discard(digest)  # answered: done or refused; an exception leaves it uncertain

    def forget(self, digest):
        del self.manifests[digest]
        self.deleted.add(digest)
        self.verified.discard(digest)
        for tag in [t for t, d in self.tags.items() if d == digest]:
            del self.tags[tag]

    def step(self):
        choice = self.rng.random()
        if choice < 0.55 or not self.manifests:
            self.push_image()
        elif choice < 0.7:
            self.move_latest()
        elif choice < 0.85:
            self.push_image(subject=self.rng.choice(sorted(d for d, m in self.manifests.items() if m[2] is None) or [None]))
        else:
            self.delete_manifest()

    # -- verification -----------------------------------------------------------------------------------------------
    def resume_uploads(self):
        """Each chunked upload a kill cut off either resumes — the server names the bytes it holds, the rest is sent,
        the blob reads back whole — or had finished (its answer lost), or is refused cleanly: torn mid-chunk
        (400 BLOB_UPLOAD_INVALID, "start the upload again") or gone (404 BLOB_UPLOAD_UNKNOWN). Never anything else."""
        problems = []
        for location, data, digest in self.interrupted_uploads:
            status = self.call("GET", location)
            if status.status_code == 404:
                code = status.json().get("errors", [{}])[0].get("code") if status.content else None
                if code != "BLOB_UPLOAD_UNKNOWN":
                    problems.append(f"{self.repository}: cut-off upload answers 404 {code}")
                # Either its final PUT went through before the kill (the answer was lost), or the session is gone.
                blob = self.call("GET", f"/blobs/{digest}")
                if blob.status_code == 200:
                    if blob.content != data:
                        problems.append(f"{self.repository}: blob {digest} of a cut-off upload reads other bytes")
                    self.blobs[digest] = data
                    self.uploads_finished += 1
                else:
                    self.uploads_gone += 1
                continue
            if status.status_code == 400 and "BLOB_UPLOAD_INVALID" in status.text:
                # A chunk torn by the kill: the server says so and asks for a new upload. The client cancels the
                # session and starts again; the new upload must work.
                cancelled = self.call("DELETE", location)
                again = self.call("POST", f"/blobs/uploads/?digest={digest}", data=data, headers={"Content-Type": "application/octet-stream"})
                if cancelled.status_code not in (204, 404) or again.status_code != 201:
                    problems.append(f"{self.repository}: after a torn upload, cancel answers {cancelled.status_code}, a new upload {again.status_code}")
                    continue
                self.blobs[digest] = data
                self.uploads_restarted += 1
                continue
            if status.status_code != 204:
                problems.append(f"{self.repository}: cut-off upload answers {status.status_code} {status.text[:300]} ({location})")
                continue
            # "0-N" names the last byte held; "0-0" is also what an empty session says (distribution's convention),
            # so there the client tries 0 bytes held first and 1 if the server answers that the chunk is out of order.
            last = int(status.headers.get("Range", "0-0").split("-")[1])
            candidates = [0, 1] if last == 0 else [last + 1]
            location = self.absolute(status.headers.get("Location", location))
            patched = None
            for held in candidates:
                if held > len(data):
                    break
                if held == len(data):
                    patched = status
                    break
                patched = self.call("PATCH", location, data=data[held:], headers={
                    "Content-Type": "application/octet-stream", "Content-Range": f"{held}-{len(data) - 1}"})
                if patched.status_code != 416:
                    break
            if patched is None or patched.status_code not in (202, 204):
                problems.append(f"{self.repository}: resuming a cut-off upload (server holds 0-{last}) answers "
                                f"{None if patched is None else patched.status_code}")
                continue
            location = self.absolute(patched.headers.get("Location", location))
            separator = "&" if "?" in location else "?"
            finished = self.call("PUT", f"{location}{separator}digest={digest}")
            blob = self.call("GET", f"/blobs/{digest}")
            if finished.status_code != 201 or blob.content != data:
                problems.append(f"{self.repository}: resumed upload of {digest} answers {finished.status_code}, reads {blob.status_code}")
                continue
            self.blobs[digest] = data
            self.uploads_resumed += 1
        self.interrupted_uploads = []
        return problems

    def verify(self, sample=40):
        """Problems found against what this client was told: every manifest acknowledged since the last kill, and a
        sample of those verified before (reading everything after every kill grows with the square of the run)."""
        problems = self.resume_uploads()
        # A delete cut off by the kill may or may not have happened; what the server says now settles it.
        for digest in sorted(self.uncertain):
            if self.call("HEAD", f"/manifests/{digest}").status_code == 404:
                self.forget(digest)
        self.uncertain.clear()
        fresh = [d for d in sorted(self.manifests) if d not in self.verified]
        older = sorted(self.verified & set(self.manifests))
        for digest in fresh + self.rng.sample(older, min(sample, len(older))):
            body, blobs, subject = self.manifests[digest]
            response = self.call("GET", f"/manifests/{digest}", headers={"Accept": MANIFEST})
            if response.status_code != 200 or response.content != body:
                problems.append(f"{self.repository}@{digest}: acknowledged manifest reads {response.status_code}")
                continue
            for blob in blobs:
                got = self.call("GET", f"/blobs/{blob}")
                if got.status_code != 200 or got.content != self.blobs[blob]:
                    problems.append(f"{self.repository} blob {blob}: reads {got.status_code}, {len(got.content)} bytes")
            self.verified.add(digest)
        for digest in self.deleted:
            if self.call("HEAD", f"/manifests/{digest}").status_code != 404:
                problems.append(f"{self.repository}@{digest}: acknowledged delete undone")
        for tag, digest in self.tags.items():
            allowed = {digest} | self.in_flight_tags.get(tag, set())
            response = self.call("HEAD", f"/manifests/{tag}", headers={"Accept": MANIFEST})
            if response.status_code != 200 or response.headers.get("Docker-Content-Digest") not in allowed:
                problems.append(f"{self.repository}:{tag}: {response.status_code} {response.headers.get('Docker-Content-Digest')}, acknowledged {digest}")
        for subject, referrers in self.referrers.items():
            if subject not in self.manifests:
                continue
            listed = {m["digest"] for m in self.call("GET", f"/referrers/{subject}").json().get("manifests", [])}
            if not referrers <= listed:
                problems.append(f"{self.repository} referrers of {subject}: missing {sorted(referrers - listed)}")
        return problems


class Operator:
    """The operator's calls to the resource manager and the vault, renewing a token that expires during a long run."""

    def __init__(self, server):
        self.server, self.tokens = server, {}

    def request(self, method, url, resource=None, **kwargs):
        for _ in range(2):
            if resource not in self.tokens:
                self.tokens[resource] = self.server.operator_token(resource)
            response = requests.request(method, url, headers={"Authorization": f"Bearer {self.tokens[resource]}"},
                                        verify=self.server.ca, timeout=60, **kwargs)
            if response.status_code != 401:
                return response
            self.tokens.pop(resource, None)
        return response

    def arm(self, method, path, api_version, body=None):
        return self.request(method, f"https://{self.server.host}{path}?api-version={api_version}", json=body)

    def vault(self, method, url, body=None):
        return self.request(method, url, resource=f"https://vault.localhost:{self.server.port}", json=body)


REGISTRY_API = "2019-12-01-preview"


class CmkWorker(Worker):
    """A registry under a customer-managed key: pushes as a `Worker`, and between them the key is rotated — a new
    version created in the vault, the registry redeployed with it (which rewraps its master key). After a restart the
    registry names the last acknowledged version (or one whose redeploy the kill cut off), every acknowledged version
    still exists, and every image reads back (through whichever version wraps the master key now)."""

    def __init__(self, server, index, rng, operator):
        super().__init__(server, index, rng, registry_host=f"cmkreg.cr.localhost:{server.port}", prefix="")
        self.operator = operator
        self.cloud, kek, self.identity = cmk_setup(server)
        grant(server, self.identity, "get", "wrapKey", "unwrapKey")
        self.path = self.cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/cmkreg"
        created = operator.arm("PUT", self.path, REGISTRY_API, registry_body(self.identity, kek))
        assert created.status_code == 201, created.text
        self.key, self.in_flight_keys, self.key_versions = kek, set(), {kek}
        self.rotations = 0

    def step(self):
        if self.rng.random() < 0.15:
            self.rotate()
        else:
            super().step()

    def rotate(self):
        created = self.operator.vault("POST", f"https://cmkvault.vault.localhost:{self.server.port}/keys/kek/create?api-version=7.4",
                                      {"kty": "RSA", "key_size": 2048})
        if created.status_code != 200:
            return
        kid = created.json()["key"]["kid"]
        self.key_versions.add(kid)
        self.in_flight_keys.add(kid)
        if self.operator.arm("PUT", self.path, REGISTRY_API, registry_body(self.identity, kid)).status_code == 200:
            self.key, self.in_flight_keys = kid, set()
            self.rotations += 1

    def verify(self, sample=40):
        problems = []
        registry = self.operator.arm("GET", self.path, REGISTRY_API)
        properties = registry.json()["properties"] if registry.status_code == 200 else {}
        named = properties.get("encryption", {}).get("keyVaultProperties", {}).get("keyIdentifier")
        if named not in {self.key} | self.in_flight_keys:
            problems.append(f"cmkreg names key {named}; acknowledged {self.key}")
        if properties.get("status", {}).get("displayStatus") != "Ready":
            problems.append(f"cmkreg is {registry.status_code} {properties.get('status')}")
        for kid in sorted(self.key_versions):
            if self.operator.vault("GET", f"{kid}?api-version=7.4").status_code != 200:
                problems.append(f"acknowledged key version {kid} is gone")
        return problems + super().verify(sample)


DEPLOYMENT_API = "2021-04-01"
IDENTITY_API = "2023-01-31"
# Three identities in a copy loop and an output that reads one back: long enough for a kill to land inside it.
TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"prefix": {"type": "string"}},
    "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30",
                   "name": "[concat(parameters('prefix'), '-', copyIndex())]", "location": "[resourceGroup().location]",
                   "copy": {"name": "identities", "count": 3}}],
    "outputs": {"first": {"type": "string", "value": "[reference(concat(parameters('prefix'), '-0')).principalId]"}},
}
TERMINAL = {"Succeeded", "Failed", "Canceled"}


class DeploymentClient(Client):
    """Template deployments: new ones, an interrupted one deployed again, finished ones deleted. After a restart every
    acknowledged deployment has ended (none left `Running` for ever): `Succeeded` with all its identities there and
    its output right, or `Failed` as interrupted — never `Failed` once seen `Succeeded`; its status URL agrees;
    acknowledged deletes stay deleted; and an interrupted deployment deploys again."""

    def __init__(self, server, rng, operator):
        super().__init__(server, rng)
        self.operator = operator
        self.group = f"/subscriptions/{server.operator()['subscriptionId']}/resourceGroups/killrg"
        assert operator.arm("PUT", self.group, DEPLOYMENT_API, {"location": "westeurope"}).status_code in (200, 201)
        self.acknowledged = {}       # name -> its Azure-AsyncOperation URL
        self.succeeded = set()       # seen Succeeded
        self.interrupted = set()     # seen Failed as interrupted: candidates to deploy again
        self.deleted = set()
        self.problems = []           # found while running, reported at the next verify
        self.counter = 0
        self.redeployed = 0
        self.interruptions = 0

    def path(self, name):
        return f"{self.group}/providers/Microsoft.Resources/deployments/{name}"

    def step(self):
        choice = self.rng.random()
        if choice < 0.15 and self.succeeded:
            self.delete(self.rng.choice(sorted(self.succeeded)))
        elif choice < 0.35 and self.interrupted:
            self.deploy(self.rng.choice(sorted(self.interrupted)))
        else:
            self.counter += 1
            self.deploy(f"d{self.counter}")

    def deploy(self, name):
        body = {"properties": {"mode": "Incremental", "template": TEMPLATE, "parameters": {"prefix": {"value": name}}}}
        again = name in self.interrupted
        # Until the answer, this name is in an unknown state (old run or new): it is not checked.
        self.acknowledged.pop(name, None)
        self.interrupted.discard(name)
        response = self.operator.arm("PUT", self.path(name), DEPLOYMENT_API, body)
        if response.status_code not in (200, 201):
            self.problems.append(f"deployment {name}: PUT answered {response.status_code} {response.text[:200]}")
            return
        self.redeployed += again
        self.acknowledged[name] = response.headers["Azure-AsyncOperation"]
        deadline = time.time() + 60
        while time.time() < deadline:
            status = self.operator.request("GET", self.acknowledged[name]).json().get("status")
            if status in TERMINAL:
                problem = self.settle(name, self.operator.arm("GET", self.path(name), DEPLOYMENT_API).json())
                if problem:
                    self.problems.append(problem)
                return
            time.sleep(0.2)

    def settle(self, name, record):
        """Files a finished deployment; returns a problem with it, if any."""
        properties = record.get("properties", {})
        state = properties.get("provisioningState")
        if state == "Succeeded":
            first = properties.get("outputs", {}).get("first", {}).get("value")
            for index in range(3):
                identity = self.operator.arm("GET", f"{self.group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-{index}", IDENTITY_API)
                if identity.status_code != 200:
                    return f"deployment {name} succeeded but its identity {index} reads {identity.status_code}"
                if index == 0 and identity.json()["properties"]["principalId"] != first:
                    return f"deployment {name}: output {first} is not its identity's principal"
            self.succeeded.add(name)
        elif state == "Failed" and properties.get("error", {}).get("code") == "DeploymentInterrupted":
            if name in self.succeeded:
                return f"deployment {name} succeeded, then read as interrupted"
            self.interruptions += name not in self.interrupted
            self.interrupted.add(name)
        else:
            return f"deployment {name} ended {state}: {properties.get('error')}"
        return None

    def delete(self, name):
        self.deleted.add(name)  # until answered, either outcome is allowed
        response = self.operator.arm("DELETE", self.path(name), DEPLOYMENT_API)
        if response.status_code in (200, 204):
            self.acknowledged.pop(name, None)
            self.succeeded.discard(name)
        else:
            self.deleted.discard(name)

    def verify(self, sample=None):
        problems, self.problems = self.problems, []
        for name in sorted(self.deleted):
            if name not in self.acknowledged and self.operator.arm("GET", self.path(name), DEPLOYMENT_API).status_code != 404:
                problems.append(f"deployment {name}: acknowledged delete undone")
        for name, status_url in sorted(self.acknowledged.items()):
            record = self.operator.arm("GET", self.path(name), DEPLOYMENT_API)
            if record.status_code == 404 and name in self.deleted:
                self.acknowledged.pop(name)  # a delete cut off by the kill, done
                continue
            self.deleted.discard(name)
            state = record.json().get("properties", {}).get("provisioningState") if record.status_code == 200 else record.status_code
            if state not in TERMINAL:
                problems.append(f"deployment {name} is still {state} after the restart")
                continue
            status = self.operator.request("GET", status_url).json().get("status")
            if status != state:
                problems.append(f"deployment {name} is {state} but its operation status says {status}")
            problem = self.settle(name, record.json())
            if problem:
                problems.append(problem)
        return problems


def run(kills, workdir, serve_args=(), seed=None, workers=3, log=print, round_seconds=(0.3, 2.5), control_plane=True):
    """Returns a summary; raises AssertionError at the first inconsistency. `workers` registry clients on the
    default registry; with `control_plane`, also a CMK registry's client that rotates its key, and a client of
    template deployments."""
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    os.makedirs(workdir, exist_ok=True)
    server = Coffer(workdir, [*SERVE_ARGS, *serve_args])
    clients = [Worker(server, index, random.Random(rng.random())) for index in range(workers)]
    if control_plane:
        operator = Operator(server)
        clients += [CmkWorker(server, workers, random.Random(rng.random()), operator),
                    DeploymentClient(server, random.Random(rng.random()), operator)]
    threads = [threading.Thread(target=client.run, daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    start_times = []
    try:
        for kill in range(1, kills + 1):
            for client in clients:
                client.paused.clear()
            time.sleep(rng.uniform(*round_seconds))
            server.crash()
            for client in clients:
                client.paused.set()
            for client in clients:
                assert client.idle.wait(60), "a client did not come to rest"
            began = time.monotonic()
            server.start()
            start_times.append(time.monotonic() - began)
            problems = [problem for client in clients for problem in client.verify()]
            # Decrypting everything after every kill grows with the square of the run: deep on every tenth.
            deep = ["--deep"] if kills <= 10 or kill % 10 == 0 else []
            checked = subprocess.run([BINARY, "check", *deep, "--data-dir", server.data_dir, *serve_args],
                                     capture_output=True, text=True, timeout=600)
            assert not problems, f"seed {seed}, kill {kill}: " + "; ".join(problems[:10])
            assert checked.returncode == 0, f"seed {seed}, kill {kill}: coffer check: {checked.stdout}{checked.stderr}"
            standing = summary(clients)
            log(f"kill {kill}: restarted in {start_times[-1]:.2f} s; {standing['manifests']} manifests, {standing['blobs']} blobs, "
                f"{standing['rotations']} key rotations, {standing['deployments']} deployments acknowledged and intact; "
                f"check: {checked.stdout.splitlines()[0]}")
    finally:
        for client in clients:
            client.stopped = True
        for thread in threads:
            thread.join(timeout=30)
        server.stop()
    return {"seed": seed, "kills": kills, **summary(clients),
            "slowest_start_seconds": max(start_times), "mean_start_seconds": sum(start_times) / len(start_times)}


def summary(clients):
    registry = [c for c in clients if isinstance(c, Worker)]
    deployments = [c for c in clients if isinstance(c, DeploymentClient)]
    return {"manifests": sum(len(c.manifests) for c in registry), "blobs": sum(len(c.blobs) for c in registry),
            "deleted": sum(len(c.deleted) for c in registry),
            "cut_off_uploads_resumed": sum(c.uploads_resumed for c in registry),
            "cut_off_uploads_finished_unanswered": sum(c.uploads_finished for c in registry),
            "cut_off_uploads_torn_and_restarted": sum(c.uploads_restarted for c in registry),
            "cut_off_uploads_gone": sum(c.uploads_gone for c in registry),
            "rotations": sum(c.rotations for c in registry if isinstance(c, CmkWorker)),
            "deployments": sum(len(c.acknowledged) for c in deployments),
            "deployments_interrupted": sum(c.interruptions for c in deployments),
            "deployments_interrupted_then_redeployed": sum(c.redeployed for c in deployments),
            "deployments_deleted": sum(len(c.deleted) for c in deployments)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--postgres", help="an administrator's PostgreSQL URL (a database is created)")
    parser.add_argument("--s3", help="an S3 endpoint (a bucket is created; credentials from the environment)")
    parser.add_argument("--round", type=float, nargs=2, default=(0.3, 2.5), metavar=("MIN", "MAX"),
                        help="seconds of load before each kill (longer for slower stores)")
    options = parser.parse_args()
    serve_args = []
    if options.postgres:
        name = "coffer_kills_" + uuid.uuid4().hex
        subprocess.run(["psql", options.postgres, "-qc", f"CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"], check=True)
        serve_args += ["--metadata", options.postgres.replace("/postgres?", f"/{name}?")]
    if options.s3:
        bucket = "coffer-kills-" + uuid.uuid4().hex[:12]
        requests.put(f"{options.s3}/{bucket}", timeout=30).raise_for_status()
        os.environ.setdefault("AWS_ENDPOINT_URL_S3", options.s3)
        serve_args += ["--blobs", f"s3://{bucket}/coffer"]
    workdir = tempfile.mkdtemp(prefix="coffer-kills-")
    try:
        print(json.dumps(run(options.kills, workdir, serve_args, options.seed, round_seconds=tuple(options.round)), indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
