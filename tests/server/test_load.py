"""A short, bounded run of the soak test (tests/soak/soak.py, the same code
as `make soak`): ~20 s of 16 concurrent clients against a fresh server with
--queue-size 8. Every response has an intended status (200/202/400/429, no
5xx, reset or timeout), every accepted job is completed exactly once (API and
DATA/diffuse.db, images on disk, no orphan file), RSS does not grow past the
bound after the warm-up (not checked under ASan), SIGTERM exits 0.
DF_LOAD_SECONDS and DF_LOAD_CLIENTS change the size."""
import os
import sys

from conftest import BINARY, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "soak"))
import soak  # noqa: E402

SECONDS = float(os.environ.get("DF_LOAD_SECONDS", "20"))
CLIENTS = int(os.environ.get("DF_LOAD_CLIENTS", "16"))


def test_load_bounded(tmp_path):
    out = tmp_path / "load-run.txt"
    result = soak.run_soak(BINARY, duration=SECONDS, clients=CLIENTS,
                           data=str(tmp_path / "data"), warmup=5.0, out=str(out))
    report = out.read_text()
    print(report)  # shown by pytest -s, and on failure
    assert not result["failures"], report
    assert result["jobs_accepted"] > 0 and result["jobs_lost"] == 0
    assert result["jobs_duplicated"] == 0
