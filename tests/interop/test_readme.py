"""The README runs as written: every ```sh block marked `<!-- runnable -->` runs, in order, in one bash session
(`set -euo pipefail`), in a fresh directory next to a fresh server's `.coffer/`, with the repository's `tests/` at
hand (the README's walkthrough runs from the repository's root). The differences from a reader's terminal, and only
these: the server listens on a free port, which replaces the blocks' `8443`; `coffer` on the PATH is the binary under
test; and the server checks key access every 2 s (`--key-access-check-seconds`), so a revoked key shows in seconds
rather than the default 5 minutes. A stale command, flag or path in those blocks fails this test."""
import os
import re
import subprocess

import pytest

from conftest import BINARY, ROOT

README = os.path.join(ROOT, "README.md")


def runnable_blocks(text):
    """The shell blocks that follow a `<!-- runnable -->` line, in order."""
    return re.findall(r"^<!-- runnable -->\n```sh\n(.*?)^```", text, flags=re.M | re.S)


def test_the_readme_has_runnable_blocks():
    blocks = runnable_blocks(open(README).read())
    # The walkthrough: an image pushed and pulled, the seed's CMK registry, rotation and revocation.
    assert len(blocks) >= 3
    joined = "\n".join(blocks)
    for step in ("skopeo copy", "group deployment create", "rotate-key", "set-attributes", "--enabled false"):
        assert step in joined, step


@pytest.mark.serve_args("--key-access-check-seconds", "2")
def test_the_readme_runs_as_written(coffer, tmp_path):
    script = "\n".join(block.replace("8443", str(coffer.port)) for block in runnable_blocks(open(README).read()))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(BINARY, bin_dir / "coffer")
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(coffer.data_dir, work / ".coffer")
    os.symlink(os.path.join(ROOT, "tests"), work / "tests")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("COFFER_")}
    environment["PATH"] = f"{bin_dir}:{environment['PATH']}"
    result = subprocess.run(["bash", "-c", "set -euo pipefail -x\n" + script], cwd=work, env=environment,
                            capture_output=True, text=True, timeout=600)
    # The trace (`-x`) shows expanded commands: the admin password is taken out before it reaches a log.
    trace = result.stderr.replace(coffer.password, "<admin password>")
    assert result.returncode == 0, f"the README's blocks failed:\n{trace[-4000:]}"
    # What the walkthrough made is really there: the image came back at each step.
    for copy in ("v1", "cmk", "rotated"):
        assert (work / "copy" / "index.json").exists() and copy in open(work / "copy" / "index.json").read(), copy
