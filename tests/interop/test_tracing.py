"""Issue 15's traces: with an OTLP endpoint configured, spans for each request, the metadata and blob store calls under
it and the vault's wrap of a customer-managed key reach a collector — here a small OTLP/HTTP (JSON) receiver the test
runs; a client's W3C trace context is continued."""
import base64
import json
import os
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from conftest import Coffer
from test_cmk import grant, push_blob, registry_body, setup


class Collector:
    """Receives OTLP/HTTP JSON exports on 127.0.0.1 and keeps their spans."""

    def __init__(self):
        self.spans = []
        self.paths = set()
        self.keys = set()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.paths.add((self.path, self.headers["Content-Type"]))
                collector.keys.add(self.headers.get("x-collector-key"))
                for resource in json.loads(body).get("resourceSpans", []):
                    service = {a["key"]: a["value"].get("stringValue") for a in resource.get("resource", {}).get("attributes", [])}
                    for scope in resource.get("scopeSpans", []):
                        collector.spans += [dict(span, service=service.get("service.name")) for span in scope.get("spans", [])]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            found = [span for span in list(self.spans) if predicate(span)]
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no such span among {sorted({span['name'] for span in self.spans})}")


def hex_id(value):
    """OTLP JSON carries ids as hex; protobuf's JSON mapping would give base64: accept either."""
    if all(c in "0123456789abcdef" for c in value.lower()) and len(value) in (16, 32):
        return value.lower()
    return base64.b64decode(value).hex()


def attributes(span):
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


def kind(span):
    return {2: "SERVER", 3: "CLIENT"}.get(span.get("kind"), str(span.get("kind")).replace("SPAN_KIND_", ""))


def test_spans_of_requests_storage_and_the_vault_reach_the_collector(monkeypatch):
    collector = Collector()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    # The collector's credential, in OpenTelemetry's variable: sent to the collector, never logged.
    collector_key = "collector-key-" + os.urandom(12).hex()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"x-collector-key={collector_key}")
    workdir = tempfile.mkdtemp(prefix="coffer-tracing-")
    coffer = Coffer(workdir, ["--otlp-endpoint", collector.endpoint])
    try:
        # A customer-managed-key registry (the vault wraps its master key), then a blob pushed to it.
        cloud, kek, identity = setup(coffer)
        grant(coffer, identity, "get", "wrapKey", "unwrapKey")
        assert cloud.put(cloud.group("rg") + "/providers/Microsoft.ContainerRegistry/registries/traced",
                         registry_body(identity, kek)).status_code == 201
        _, pushed = push_blob(coffer, "traced", os.urandom(100_000))
        assert pushed.status_code == 201
        # A client's trace context is continued.
        trace_id, parent_id = os.urandom(16).hex(), os.urandom(8).hex()
        answered = requests.get(f"https://{coffer.host}/healthz", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
                                verify=coffer.ca, timeout=30)
        assert answered.status_code == 200

        upload = collector.wait_for(lambda span: span["name"] == "POST /v2/{name}/blobs/uploads/")[0]
        assert upload["service"] == "coffer" and kind(upload) == "SERVER"
        assert {"http.request.method": "POST", "http.route": "/v2/{name}/blobs/uploads/", "coffer.api": "registry"}.items() \
            <= attributes(upload).items()
        assert str(attributes(upload)["http.response.status_code"]) == "201"
        # The store calls made for the upload are its children, in its trace.
        children = collector.wait_for(lambda span: span.get("parentSpanId") and hex_id(span["parentSpanId"]) == hex_id(upload["spanId"])
                                      and span["name"] == "blobs commit_staging")
        assert hex_id(children[0]["traceId"]) == hex_id(upload["traceId"]) and kind(children[0]) == "CLIENT"
        collector.wait_for(lambda span: span["name"] == "metadata transaction" and hex_id(span["traceId"]) == hex_id(upload["traceId"]))
        # The registry's creation had the vault wrap its master key.
        wrap = collector.wait_for(lambda span: span["name"] == "vault wrapKey")[0]
        assert attributes(wrap)["coffer.vault"] == "cmkvault" and attributes(wrap)["coffer.key"] == "kek"
        # (The fixture's own health checks before it have traces of their own.)
        health = collector.wait_for(lambda span: span["name"] == "GET /healthz" and hex_id(span["traceId"]) == trace_id)
        assert len(health) == 1 and hex_id(health[0]["parentSpanId"]) == parent_id
        assert ("/v1/traces", "application/json") in collector.paths
        # No token or secret travels in a span; the collector's key reached it and nothing else.
        exported = json.dumps(collector.spans)
        assert not [secret for secret in coffer.secrets() if secret in exported]
        assert collector.keys == {collector_key}
        coffer.log.flush()
        assert collector_key not in open(coffer.log.name).read()
    finally:
        coffer.stop()
        coffer.log.close()
        collector.server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_bad_endpoint_is_refused_at_start(tmp_path):
    from conftest import BINARY
    import subprocess
    result = subprocess.run([BINARY, "serve", "--data-dir", str(tmp_path / "data"), "--port", "1", "--otlp-endpoint", "ftp://collector"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--otlp-endpoint" in result.stderr + result.stdout and "http or https URL" in result.stderr + result.stdout


def test_client_trace_context_can_be_ignored(monkeypatch):
    """With telemetry.continueClientTraces off, a request's trace starts at the server whatever its traceparent says."""
    collector = Collector()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    monkeypatch.setenv("COFFER_TELEMETRY_CONTINUE_CLIENT_TRACES", "false")
    workdir = tempfile.mkdtemp(prefix="coffer-tracing-")
    coffer = Coffer(workdir, ["--otlp-endpoint", collector.endpoint])
    try:
        trace_id, parent_id = os.urandom(16).hex(), os.urandom(8).hex()
        answered = requests.get(f"https://{coffer.host}/readyz", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
                                verify=coffer.ca, timeout=30)
        assert answered.status_code == 200
        ready = collector.wait_for(lambda span: span["name"] == "GET /readyz")
        assert len(ready) == 1 and hex_id(ready[0]["traceId"]) != trace_id and not ready[0].get("parentSpanId")
    finally:
        coffer.stop()
        coffer.log.close()
        collector.server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
