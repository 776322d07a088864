"""The short form of the soak (`bench/soak.py`; `bench/run-soak` runs the long form on the release build): every
kind of operation runs, none fails, and the server's descriptors do not pile up."""
import os
import sys

from conftest import BINARY, ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
from soak import run  # noqa: E402


def test_a_short_soak_has_no_errors():
    result = run(BINARY, duration=int(os.environ.get("COFFER_SOAK_SECONDS", "30")), sample_seconds=2)
    assert result["errors"] == {}, result["errors"]
    expected = {"blob push", "blob pull", "manifest put", "manifest get", "manifest delete", "vault wrapKey", "vault unwrapKey",
                "token (client credentials)", "token (registry)", "deployment", "deployment delete"}
    assert expected <= set(result["operations"]), sorted(result["operations"])
    # Keep-alive clients hold a handful of connections; descriptors growing by dozens would be a leak.
    assert result["fds_first_last"][1] - result["fds_first_last"][0] < 20, result["fds_first_last"]
