"""Issue 15's one configuration: every setting read through one table, layered defaults < file (JSON or YAML) <
environment (COFFER_…) < flags; `--print-config` shows each value and where it came from, passwords redacted; a
mistake anywhere is one line naming the setting and where it was written."""
import os
import signal
import subprocess
import time

import requests

from conftest import BINARY, free_port


def serve(*arguments, environment=None, check=True):
    env = {key: value for key, value in os.environ.items() if not key.startswith("COFFER_") or key in ("COFFER_BIN",)}
    env.update(environment or {})
    result = subprocess.run([BINARY, "serve", *arguments], capture_output=True, text=True, timeout=60, env=env)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def printed(*arguments, environment=None):
    """--print-config's table as {key: (value, source)}."""
    lines = serve("--print-config", *arguments, environment=environment).stdout.splitlines()
    table = {}
    for line in lines:
        key, rest = line.split(None, 1)
        value, _, source = rest.rpartition("  [")
        table[key] = (value.strip(), source.rstrip("]"))
    return table


def error_line(*arguments, environment=None):
    result = serve(*arguments, environment=environment, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    return errors[0]


def test_layers_and_where_each_value_came_from(tmp_path):
    config = tmp_path / "coffer.yaml"
    config.write_text("listen:\n  port: 9444\n  addresses: [127.0.0.1]\nregistry:\n  tokenLifetimeSeconds: 700\n"
                      "jobs:\n  garbageCollectionSeconds: 100\ntelemetry: {logLevel: notice}\n")
    table = printed("--config", str(config), "--gc-interval-seconds", "300", "--address", "::1", "--address", "127.0.0.1",
                    environment={"COFFER_REGISTRY_TOKEN_LIFETIME_SECONDS": "800", "COFFER_JOBS_GARBAGE_COLLECTION_SECONDS": "200",
                                 "COFFER_SYSTEM_OPENSSL": "0", "COFFER_S3_SSE": "AES256"})
    assert table["listen.port"] == ("9444", f"file {config}")
    assert table["telemetry.logLevel"] == ("notice", f"file {config}")
    assert table["registry.tokenLifetimeSeconds"] == ("800", "environment COFFER_REGISTRY_TOKEN_LIFETIME_SECONDS")
    assert table["jobs.garbageCollectionSeconds"] == ("300", "flag --gc-interval-seconds")
    assert table["listen.addresses"] == ("::1,127.0.0.1", "flag --address")  # repeated flags replace the file's list
    # The variables Coffer read before settings had one table still work, and say so.
    assert table["vault.systemOpenSSL"] == ("false", "environment COFFER_SYSTEM_OPENSSL")
    assert table["s3.serverSideEncryption"] == ("AES256", "environment COFFER_S3_SSE")
    assert table["registry.keyAccessCheckSeconds"] == ("300", "default")
    assert table["storage.metadataURL"] == ("(none)", "default")
    assert len(table) >= 35


def test_json_sections_and_the_flat_keys_of_earlier_files(tmp_path):
    nested, flat = tmp_path / "nested.json", tmp_path / "flat.json"
    nested.write_text('{"listen": {"port": 9555}, "jobs": {"retentionCheckSeconds": 60}, "identity.imdsEnabled": true}')
    flat.write_text('{"port": 9556, "retentionCheckSeconds": 61, "listenAddresses": ["127.0.0.1"], "imdsEnabled": true}')
    for file, port, retention in ((nested, "9555", "60"), (flat, "9556", "61")):
        table = printed("--config", str(file))
        assert table["listen.port"][0] == port and table["jobs.retentionCheckSeconds"][0] == retention
        assert table["identity.imdsEnabled"] == ("true", f"file {file}")


def test_nulls_empty_sections_and_case(tmp_path):
    config = tmp_path / "coffer.yaml"
    config.write_text("tls:\nstorage:\n  metadataURL: null\nlisten:\n  graphHost: Graph.Example\n")
    table = printed("--config", str(config))
    assert table["storage.metadataURL"] == ("(none)", "default") and table["tls.certificateFile"] == ("(none)", "default")
    assert table["listen.graphHost"][0] == "graph.example"  # compared with the request's lowercased host


def test_passwords_are_not_printed(tmp_path):
    table = printed("--metadata", "postgres://coffer:hunter2-very-secret@db.example:5432/coffer",
                    environment={"COFFER_TELEMETRY_OTLP_ENDPOINT": "https://user:collector-secret@otel.example:4318"})
    assert table["storage.metadataURL"] == ("postgres://coffer:<redacted>@db.example:5432/coffer", "flag --metadata")
    assert table["telemetry.otlpEndpoint"][0] == "https://user:<redacted>@otel.example:4318"
    output = serve("--print-config", "--metadata", "postgres://coffer:hunter2-very-secret@db.example/coffer").stdout
    assert "hunter2" not in output
    # A password URLComponents cannot take apart (a raw '#') is redacted all the same.
    table = printed("--metadata", "postgres://coffer:hunt#er2-very-secret@db.example/coffer")
    assert "hunt" not in table["storage.metadataURL"][0] and table["storage.metadataURL"][0].endswith("@db.example/coffer")


def test_a_mistake_names_the_setting_and_its_source(tmp_path):
    line = error_line("--print-config", environment={"COFFER_LISTEN_PORT": "eighty"})
    assert "COFFER_LISTEN_PORT must be a whole number" in line, line
    line = error_line("--print-config", environment={"COFFER_S3_SSE": "rot13"})
    assert "COFFER_S3_SSE must be one of AES256, aws:kms, aws:kms:dsse, not rot13" in line, line
    line = error_line("--print-config", "--prot", "9000")
    assert "unknown option --prot" in line and "did you mean --port?" in line, line
    line = error_line("--print-config", "--port")
    assert "--port needs a value" in line, line
    line = error_line("--print-config", "--data-dir", "--port", "9000")
    assert "--data-dir needs a value" in line, line
    config = tmp_path / "coffer.yaml"
    config.write_text("listen:\n  prot: 9000\n")
    line = error_line("--print-config", "--config", str(config))
    assert '"listen.prot"' in line and 'did you mean "listen.port"?' in line and "coffer.yaml" in line, line
    config.write_text("listen: [port: 1\n")
    line = error_line("--print-config", "--config", str(config))
    assert "not valid YAML" in line, line
    config.write_text("jobs:\n  garbageCollectionSeconds: 0\n")
    line = error_line("--print-config", "--config", str(config))
    assert '"jobs.garbageCollectionSeconds" must be 1 to' in line and "not 0" in line, line
    line = error_line("--print-config", "--otlp-endpoint", "collector:4318")
    assert "--otlp-endpoint" in line and "http or https URL" in line, line


def test_a_server_runs_from_a_yaml_file_alone(tmp_path):
    port = free_port()
    config = tmp_path / "coffer.yaml"
    config.write_text(f"storage:\n  dataDirectory: {tmp_path / 'data'}\nlisten:\n  port: {port}\n  addresses: [127.0.0.1]\n")
    log = open(tmp_path / "coffer.log", "w")
    process = subprocess.Popen([BINARY, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                answer = requests.get(f"https://localhost:{port}/healthz", verify=str(tmp_path / "data" / "ca.pem"), timeout=5)
                break
            except (requests.ConnectionError, OSError):
                assert time.time() < deadline and process.poll() is None, open(tmp_path / "coffer.log").read()
                time.sleep(0.2)
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
    assert process.returncode == 0


def test_the_readmes_example_is_a_valid_file(tmp_path):
    import re
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    example = re.search(r"## Configuration\n.*?```yaml\n(.*?)```", readme, re.S).group(1)
    config = tmp_path / "example.yaml"
    config.write_text(example)
    table = printed("--config", str(config))
    assert table["storage.dataDirectory"] == ("/var/lib/coffer", f"file {config}")
    assert table["telemetry.otlpEndpoint"][0] == "http://127.0.0.1:4318"
