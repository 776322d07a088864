"""Deleting a registry deletes its data: its objects leave the blob store, its wrapped master key leaves the metadata
(and no file of the data directory keeps it), and its name answers as unknown. Other registries are untouched."""
import os
import sqlite3

from test_cli import coffer_cli
from test_cmk import pull_blob, push_blob


def objects_of(coffer, registry):
    root = os.path.join(coffer.data_dir, "blobs", "objects", "registries", registry)
    return [os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]


def test_deleting_a_registry_removes_its_master_key_and_objects(coffer):
    coffer_cli(coffer, "group", "create", "--name", "gone-rg", "--location", "westeurope")
    coffer_cli(coffer, "acr", "create", "-n", "doomedreg", "-g", "gone-rg", "--sku", "Basic")
    coffer_cli(coffer, "acr", "create", "-n", "keptreg", "-g", "gone-rg", "--sku", "Basic")
    doomed_digest, pushed = push_blob(coffer, "doomedreg", os.urandom(50_000))
    assert pushed.status_code == 201
    kept_data = os.urandom(30_000)
    kept_digest, pushed = push_blob(coffer, "keptreg", kept_data)
    assert pushed.status_code == 201
    with sqlite3.connect(os.path.join(coffer.data_dir, "metadata.sqlite")) as db:
        (wrapped,) = db.execute("SELECT wrapped_master_key FROM registries WHERE name = 'doomedreg'").fetchone()
    assert len(wrapped) > 40
    assert objects_of(coffer, "doomedreg") and objects_of(coffer, "keptreg")

    coffer_cli(coffer, "acr", "delete", "-n", "doomedreg", "--yes")

    assert objects_of(coffer, "doomedreg") == []
    with sqlite3.connect(os.path.join(coffer.data_dir, "metadata.sqlite")) as db:
        assert db.execute("SELECT count(*) FROM registries WHERE name = 'doomedreg'").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM blobs WHERE registry = 'doomedreg'").fetchone() == (0,)
    gone = pull_blob(coffer, "doomedreg", doomed_digest)
    assert gone.status_code in (401, 404), gone.text
    # The other registry serves on.
    assert pull_blob(coffer, "keptreg", kept_digest).content == kept_data
    # No file keeps the deleted registry's wrapped master key (the database, its WAL, freed pages).
    coffer.stop()
    for folder, _, names in os.walk(coffer.data_dir):
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                assert wrapped.encode() not in handle.read(), f"the deleted registry's wrapped master key is still in {name}"
    coffer.start()
