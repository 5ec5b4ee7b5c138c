"""`emotion-lens batch --ray` on a real local Ray instance (no mock): the same outputs as on this
machine's pool, the progress fed from the workers, a stop that resumes, and a second run that does
nothing. Ray starts once for the module (slow here: about 20 s).

The corpus is test_corpus's and six more copies of its street clip: the driver keeps at most two
tasks a slot in flight (4 on 2 CPUs), and a stop set at the first frames reported must leave items
never started whatever the machine's speed. With the 5 items alone a fast machine finished all 4
good ones inside one poll (the broken one fails before any frame, freeing a slot)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services.corpus import run_batch
from tests.services.test_corpus import ITEMS, build_corpus, cli, manifest, rows

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # as app.services.corpus_ray does
ray = pytest.importorskip("ray", reason="Ray is not installed (the emotion-lens[cluster] extra)")

MORE = [f"more/street_{i}.mp4" for i in range(6)]
CSVS = [*filter(None, ITEMS.values()), *(f"{name}.csv" for name in MORE)]
GOOD = len(CSVS)  # every item but broken.mp4


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    # "local": a new instance, whatever cluster this machine last recorded (even one now gone)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def corpus(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = build_corpus(tmp_path_factory.mktemp("corpus"), media)
    (folder / "more").mkdir()
    for name in MORE:
        shutil.copy(folder / "street.mp4", folder / name)
    return folder


@pytest.fixture(scope="module")
def reference(corpus: Path, default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus annotated in this process, one classifier thread as the Ray tasks have."""
    out = tmp_path_factory.mktemp("local") / "out"
    run_batch([corpus], out, model=default_model, workers=0, threads=1, bar=False)
    return out


def test_ray_stops_resumes_and_writes_the_outputs_of_a_local_run(
        cluster: None, corpus: Path, default_model: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stop = threading.Event()
    stopped = run_batch([corpus], out, model=default_model, ray=True, bar=False, stop=stop,
                        on_frames=lambda n: stop.set())  # stopped as soon as frames come in
    assert stopped.interrupted and stopped.done < GOOD and stopped.stopped + stopped.done < GOOD

    reported: list[int] = []
    result = run_batch([corpus], out, model=default_model, ray=True, on_frames=reported.append,
                       bar=False)
    assert (result.done + result.skipped, result.failed) == (GOOD, 1)
    assert result.done > 0 and result.skipped == stopped.done  # it went on where the stop left off
    for csv_name in CSVS:
        got, want = rows(out / csv_name), rows(reference / csv_name)
        assert len(got) == len(want) > 0, csv_name  # no row written twice, none missing
        for a, b in zip(got, want, strict=True):
            assert {k: v for k, v in a.items() if not k.startswith("smooth_")} == \
                {k: v for k, v in b.items() if not k.startswith("smooth_")}, csv_name
            for k in a:  # smoothing resumed from the CSV's 5 decimals may move the last digit
                if k.startswith("smooth_"):
                    assert abs(float(a[k]) - float(b[k])) < 1e-3
    table = manifest(out)
    assert table["broken.mp4"]["status"] == "failed"
    assert "cannot decode video" in table["broken.mp4"]["message"]
    # the bar's frames came from the workers through the progress actor: every frame, once
    assert sum(reported) == result.frames == sum(
        int(table[Path(key).name]["frames"]) for key, row in result.rows.items() if row["status"] == "done")

    code, stdout, stderr = cli("batch", str(corpus), "--out", str(out), "--ray",
                               "--model", str(default_model))
    assert code == 1, stdout + stderr
    assert f"nothing to do: {GOOD} of {GOOD + 1} items were done by an earlier run" in stdout
