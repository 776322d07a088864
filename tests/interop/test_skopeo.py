"""skopeo (Debian) copies a multi-layer image into Coffer over TLS with credentials, and back out."""
import filecmp
import os
import subprocess

from oci_layout import build_image


def skopeo(*args):
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_copy_in_and_out_is_byte_identical(coffer, tmp_path):
    source = str(tmp_path / "source")
    layers = build_image(source, "v1", [os.urandom(3_000_000), os.urandom(150_000), b"coffer" * 10_000])
    creds = f"{coffer.username}:{coffer.password}"
    destination = f"docker://{coffer.host}/coffer/interop/app:v1"
    skopeo("copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", creds, f"oci:{source}:v1", destination)

    listed = skopeo("list-tags", "--cert-dir", coffer.cert_dir, "--creds", creds, f"docker://{coffer.host}/coffer/interop/app")
    assert '"v1"' in listed

    back = str(tmp_path / "back")
    skopeo("copy", "--src-cert-dir", coffer.cert_dir, "--src-creds", creds, destination, f"oci:{back}:v1")
    for digest in layers:
        name = digest.split(":")[1]
        assert filecmp.cmp(os.path.join(source, "blobs", "sha256", name), os.path.join(back, "blobs", "sha256", name), shallow=False)
    assert sorted(os.listdir(os.path.join(source, "blobs", "sha256"))) == sorted(os.listdir(os.path.join(back, "blobs", "sha256")))

    # Nothing skopeo sent rests in plaintext: no 64-byte window of any blob appears in any file of the data directory.
    probes = []
    for name in os.listdir(os.path.join(source, "blobs", "sha256")):
        with open(os.path.join(source, "blobs", "sha256", name), "rb") as handle:
            data = handle.read()
        probes += [data[offset:offset + 64] for offset in range(0, max(1, len(data) - 64), max(1, len(data) // 8))]
    # Digests are metadata and rest in plaintext by design; a window that is only hex could be one.
    probes = [probe for probe in probes if len(probe) == 64 and not all(chr(b) in "0123456789abcdef" for b in probe)]
    for directory, _, files in os.walk(coffer.data_dir):
        for file in files:
            with open(os.path.join(directory, file), "rb") as handle:
                contents = handle.read()
            for probe in probes:
                assert probe not in contents, f"plaintext found in {file}"


def test_wrong_credentials_are_refused(coffer, tmp_path):
    source = str(tmp_path / "source")
    build_image(source, "v1", [b"x" * 100])
    result = subprocess.run(
        ["skopeo", "copy", "--dest-cert-dir", coffer.cert_dir, "--dest-creds", f"{coffer.username}:wrong",
         f"oci:{source}:v1", f"docker://{coffer.host}/coffer/app:v1"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "401" in result.stderr or "unauthorized" in result.stderr.lower()


def test_untrusted_certificate_is_refused(coffer, tmp_path):
    source = str(tmp_path / "source")
    build_image(source, "v1", [b"x" * 100])
    result = subprocess.run(
        ["skopeo", "copy", "--dest-creds", f"{coffer.username}:{coffer.password}",
         f"oci:{source}:v1", f"docker://{coffer.host}/coffer/app:v1"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "certificate" in result.stderr.lower()
