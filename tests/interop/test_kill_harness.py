"""The short form of the kill harness (`kill_harness.py`): a few SIGKILLs at random moments of a mixed workload, on
the embedded stack and on PostgreSQL + S3. The long form (100 kills) runs by hand; docs/reliability.md has its figures."""
import os

from kill_harness import run


def test_random_kills_on_sqlite_and_the_filesystem(tmp_path):
    summary = run(kills=int(os.environ.get("COFFER_KILLS", "5")), workdir=str(tmp_path / "server"))
    print(summary)
    assert summary["manifests"] > 0 and summary["slowest_start_seconds"] < 20


def test_random_kills_on_postgresql_and_s3(postgres_database, s3_bucket, tmp_path):
    _, bucket = s3_bucket
    summary = run(kills=int(os.environ.get("COFFER_KILLS", "3")), workdir=str(tmp_path / "server"),
                  serve_args=["--metadata", postgres_database, "--blobs", f"s3://{bucket}/coffer"], round_seconds=(1, 4))
    print(summary)
    # moto is slow: a short run may see no image finish between kills, but blobs are acknowledged and checked.
    assert summary["blobs"] > 0 and summary["slowest_start_seconds"] < 20
