"""Issue 15: what an operator sees of a live server after a workload of real clients — the metrics (names, labels,
counts that must move), one access log line per request with its ids and principal, and nothing a client sends
turning into a metric label or a log field."""
import base64
import json
import os
import re
import subprocess
import time
import uuid

import requests

from oci_layout import build_image

ACCESS_LINE = re.compile(r" coffer\.access: (?P<fields>.*) \[CofferServer\] request$")
FIELD = re.compile(r"coffer\.(\w+)=(\S*)")


def access_lines(coffer, until_request=None):
    """The access log, one dict of fields per request, in the order they were written. The server writes its lines
    in batches (every 100 ms): with `until_request`, waits for that request's line."""
    deadline = time.time() + 10
    while True:
        coffer.log.flush()
        with open(coffer.log.name, errors="replace") as handle:
            lines = [dict(FIELD.findall(match.group("fields"))) for match in map(ACCESS_LINE.search, handle.read().splitlines()) if match]
        if until_request is None or any(line.get("request_id") == until_request for line in lines) or time.time() > deadline:
            return lines
        time.sleep(0.1)


def scrape(coffer, token):
    response = requests.get(f"https://{coffer.host}/metrics", headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
    assert response.status_code == 200, response.text
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return response.text, samples


def value(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0.0
    for sample, number in samples.items():
        metric, _, rest = sample.partition("{")
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if metric == name and all(found.get(key) == wanted for key, wanted in labels.items()):
            total += number
    return total


def object_id(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["oid"]


def test_metrics_and_access_logs_after_a_workload(coffer, tmp_path):
    token = coffer.operator_token()
    _, before = scrape(coffer, token)

    # The workload: skopeo pushes an image and pulls it back; the resource manager and a vault are used as az would.
    source = str(tmp_path / "source")
    build_image(source, "v1", [os.urandom(2_000_000), os.urandom(50_000)])
    creds = f"{coffer.username}:{coffer.password}"
    image = f"docker://{coffer.host}/coffer/observed/app:v1"
    for args in (["--dest-cert-dir", coffer.cert_dir, "--dest-creds", creds, f"oci:{source}:v1", image],
                 ["--src-cert-dir", coffer.cert_dir, "--src-creds", creds, image, f"oci:{tmp_path / 'back'}:v1"]):
        result = subprocess.run(["skopeo", "copy", *args], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    base = f"https://{coffer.host}/subscriptions/{coffer.operator()['subscriptionId']}"
    correlation = str(uuid.uuid4())
    group = requests.put(f"{base}/resourceGroups/observed-rg", params={"api-version": "2022-09-01"}, json={"location": "westeurope"},
                         headers={"Authorization": f"Bearer {token}", "x-ms-correlation-request-id": correlation}, verify=coffer.ca, timeout=30)
    assert group.status_code in (200, 201), group.text

    # Every answer carries its request id, and the client's correlation id back.
    assert re.fullmatch(r"[0-9a-f-]{36}", group.headers["x-ms-request-id"])
    assert group.headers["x-ms-correlation-request-id"] == correlation

    text, after = scrape(coffer, token)
    moved = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)
    # Requests by API, method, route template and status class.
    assert moved("coffer_http_requests_total", api="registry", method="PUT", route="/v2/{name}/manifests/{reference}", status_class="2xx") >= 1
    assert moved("coffer_http_requests_total", api="registry", method="GET", route="/v2/{name}/blobs/{digest}", status_class="2xx") >= 2
    assert moved("coffer_http_requests_total", api="registry", method="GET", route="/oauth2/token", status_class="2xx") >= 1
    assert moved("coffer_http_requests_total", api="resource_manager", method="PUT",
                 route="/subscriptions/{subscription}/resourceGroups/{group}", status_class="2xx") == 1
    assert moved("coffer_http_request_duration_seconds_count", api="registry", route="/v2/{name}/blobs/{digest}") >= 2
    # Bytes: both layers went in and came back out.
    assert moved("coffer_http_request_body_bytes_total", api="registry") >= 2_050_000
    assert moved("coffer_http_response_body_bytes_total", api="registry") >= 2_050_000
    # Storage, per backend and operation; the caches; the key; the process.
    assert moved("coffer_storage_operation_duration_seconds_count", store="metadata", backend="sqlite", operation="transaction") >= 3
    assert moved("coffer_storage_operation_duration_seconds_count", store="blobs", backend="filesystem", operation="commit_staging") >= 3
    assert moved("coffer_storage_operation_duration_seconds_count", store="blobs", backend="filesystem", operation="read") >= 2
    assert moved("coffer_cache_lookups_total", cache="tokens", result="hit") >= 1
    assert moved("coffer_cache_lookups_total", cache="master_keys") >= 3
    assert value(after, "coffer_key_access_total", registry="coffer", operation="unwrap", outcome="success") \
        + value(after, "coffer_key_access_total", registry="coffer", operation="wrap", outcome="success") >= 1
    assert value(after, "coffer_uploads_open") == 0
    assert value(after, "process_resident_memory_bytes") > 10_000_000
    assert 0 < value(after, "process_open_fds") < value(after, "process_max_fds")
    assert value(after, "process_cpu_seconds_total") > 0
    for name in ("coffer_http_requests_total", "coffer_http_request_duration_seconds", "coffer_storage_operation_duration_seconds",
                 "coffer_cache_lookups_total", "coffer_gc_passes_total"):
        assert f"# HELP {name} " in text, name
    assert "# TYPE coffer_http_request_duration_seconds histogram" in text
    # The dashboard in docs/ queries only metrics the server exposes (errors appear with the first error).
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "grafana-dashboard.json")) as handle:
        queried = set(re.findall(r"\b((?:coffer|process)_[a-z_]+?)(?:_bucket|_count|_sum)?\b", handle.read()))
    exposed = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    assert len(queried) >= 15 and queried - exposed <= {"coffer_storage_operation_errors_total"}, queried - exposed

    # One access line per request: this one's, found by its request id, names what it did and who did it.
    lines = access_lines(coffer, until_request=group.headers["x-ms-request-id"])
    mine = [line for line in lines if line.get("request_id") == group.headers["x-ms-request-id"]]
    assert len(mine) == 1, mine
    assert mine[0] | {"duration_ms": None, "bytes_in": None, "bytes_out": None, "client": None} == {
        "request_id": group.headers["x-ms-request-id"], "correlation_id": correlation, "api": "resource_manager", "method": "PUT",
        "route": "/subscriptions/{subscription}/resourceGroups/{group}", "status": str(group.status_code),
        "principal": object_id(token), "duration_ms": None, "bytes_in": None, "bytes_out": None, "client": None}
    assert mine[0]["client"] in ("127.0.0.1", "::1")
    assert int(mine[0]["bytes_in"]) == len(group.request.body) and int(mine[0]["bytes_out"]) == len(group.content)
    assert float(mine[0]["duration_ms"]) > 0
    # The pushed layers are in the log as uploads by the registry's admin, counted to the byte.
    uploads = [line for line in lines if line.get("route") == "/v2/{name}/blobs/uploads/{id}" and line.get("method") in ("PATCH", "PUT")]
    assert sum(int(line["bytes_in"]) for line in uploads) >= 2_050_000
    assert {line["principal"] for line in uploads} == {coffer.username}
    # Every line has every field, and none holds a raw path.
    for line in lines:
        assert {"request_id", "correlation_id", "api", "method", "route", "status", "bytes_in", "bytes_out", "duration_ms", "client",
                "principal"} <= line.keys(), line
        assert "observed/app" not in line["route"] and "sha256:" not in line["route"], line


def test_what_a_client_sends_adds_no_label_or_log_field(coffer):
    """Paths, methods and correlation ids are the client's to choose: none of them may grow the metrics (a label
    value per path would let any client exhaust the server's memory) or write into the log."""
    token = coffer.operator_token()
    marker = uuid.uuid4().hex[:12]
    session = requests.Session()
    for index in range(40):
        for path in (f"/v2/coffer/{marker}{index}/bogus/{marker}", f"/subscriptions/{marker}{index}/x", f"/{marker}{index}",
                     f"/v2/{marker}{index}/manifests/{marker}"):
            response = session.request("PROPFIND" if index % 2 else "GET", f"https://{coffer.host}{path}",
                                       headers={"Authorization": f"Bearer {token}"}, verify=coffer.ca, timeout=30)
            assert 400 <= response.status_code < 500, (path, response.status_code)
    forged = f"{marker} coffer.principal=admin"
    answered = session.get(f"https://{coffer.host}/subscriptions", params={"api-version": "2022-09-01"},
                           headers={"Authorization": f"Bearer {token}", "x-ms-correlation-request-id": forged}, verify=coffer.ca, timeout=30)
    assert answered.status_code == 200
    assert answered.headers["x-ms-correlation-request-id"] == answered.headers["x-ms-request-id"]
    too_long = "a" * 65
    answered = session.get(f"https://{coffer.host}/subscriptions", params={"api-version": "2022-09-01"},
                           headers={"Authorization": f"Bearer {token}", "x-ms-correlation-request-id": too_long}, verify=coffer.ca, timeout=30)
    assert answered.headers["x-ms-correlation-request-id"] != too_long

    text, samples = scrape(coffer, token)
    assert marker not in text
    assert value(samples, "coffer_http_requests_total", method="other") >= 80
    routes = {re.search(r'route="([^"]*)"', sample).group(1) for sample in samples if sample.startswith("coffer_http_requests_total{")}
    assert len(routes) < 40, routes
    access_lines(coffer, until_request=answered.headers["x-ms-request-id"])  # every line before it is written too
    with open(coffer.log.name, errors="replace") as handle:
        log = handle.read()
    assert marker not in log
