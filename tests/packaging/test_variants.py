"""What the bundle variants change, checked without building one: the default bundle's SciPy
(`packaging/pyi_rth_scipy_lsap.py`: scipy.optimize as linear_sum_assignment alone), and the one
line a user gets when a variant leaves out what a command needs (MediaPipe Tasks in the default
bundle, Ray in every bundle, the report's libraries). A frozen app is `sys.frozen`; a left-out
package is one that cannot be imported (`sys.modules[name] = None`). `-m slow` test_bundle.py
checks the same lines in a real bundle."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from app.core import EmotionLensError
from app.core.detect import create_detector
from tests.ui import conftest as ui_fixtures

ROOT = Path(__file__).resolve().parents[2]
make_window, model = ui_fixtures.make_window, ui_fixtures.model  # fixtures: a real MainWindow


def _leave_out(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make `package` (and every submodule already imported) unimportable for this test."""
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)


@pytest.fixture()
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_scipy_runtime_hook_gives_the_real_solver_alone() -> None:
    """In a fresh interpreter whose `_MEIPASS` is this environment's site-packages, the hook's
    scipy.optimize has linear_sum_assignment only, solves assignments exactly (checked against
    every permutation) and imports none of scipy.linalg/.sparse/.special."""
    code = textwrap.dedent(f"""
        import itertools, os, runpy, sys
        import numpy as np
        import scipy
        sys._MEIPASS = os.path.dirname(os.path.dirname(scipy.__file__))
        runpy.run_path({str(ROOT / "packaging" / "pyi_rth_scipy_lsap.py")!r})
        from scipy.optimize import linear_sum_assignment
        import scipy.optimize
        assert scipy.optimize.__all__ == ["linear_sum_assignment"], dir(scipy.optimize)
        rng = np.random.default_rng(16)
        for n, m in ((7, 7), (6, 8), (8, 5)):
            cost = rng.random((n, m))
            rows, cols = linear_sum_assignment(cost)
            small, table = min(n, m), (cost if n <= m else cost.T)
            best = min(table[np.arange(small), list(p)].sum()
                       for p in itertools.permutations(range(max(n, m)), small))
            assert abs(cost[rows, cols].sum() - best) < 1e-12, (n, m)
        heavy = sorted(m for m in sys.modules
                       if m.startswith(("scipy.linalg", "scipy.sparse", "scipy.special")))
        assert not heavy, heavy
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


@pytest.mark.parametrize("name,same", [("mediapipe", "blazeface"), ("mediapipe-full", "blazeface-full")])
def test_mediapipe_left_out_of_the_bundle_is_one_line(monkeypatch: pytest.MonkeyPatch, frozen: None,
                                                      name: str, same: str) -> None:
    _leave_out(monkeypatch, "mediapipe")
    with pytest.raises(EmotionLensError) as err:
        create_detector(name)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"detector {name} needs MediaPipe Tasks, which this desktop bundle leaves out")
    assert f"use {same} " in message and "packaging/build.sh --full" in message


def test_mediapipe_not_installed_is_one_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    _leave_out(monkeypatch, "mediapipe")
    with pytest.raises(EmotionLensError, match=r"not installed: pip install mediapipe, or use blazeface "):
        create_detector("mediapipe")


def test_annotate_with_mediapipe_in_the_default_bundle(monkeypatch: pytest.MonkeyPatch, frozen: None,
                                                       tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "grey.png"
    assert cv2.imwrite(str(image), np.full((96, 128, 3), 128, np.uint8))
    _leave_out(monkeypatch, "mediapipe")
    code = main(["annotate", str(image), "--csv", str(tmp_path / "grey.csv"), "--detector", "mediapipe"])
    assert code == 2
    assert "needs MediaPipe Tasks, which this desktop bundle leaves out" in _one_error_line(capsys)


def _results_csv(path: Path) -> Path:
    rows = ["frame,time_s,face_id,x,y,w,h,happiness,neutral,label"]
    rows += [f"{i},{i / 10:.1f},1,10,10,40,40,0.8,0.2,happiness" for i in range(5)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("library", ["pandas", "matplotlib", "jinja2"])
def test_report_without_its_libraries_in_a_bundle(monkeypatch: pytest.MonkeyPatch, frozen: None,
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  library: str) -> None:
    results = _results_csv(tmp_path / "run.csv")
    _leave_out(monkeypatch, library)
    assert main(["report", str(results)]) == 2
    err = _one_error_line(capsys)
    assert err == (f"error: report needs {library}, which this desktop bundle leaves out: use the full "
                   f"bundle (packaging/build.sh --full) or the Python install")
    assert not (tmp_path / "run_report.html").exists()


def test_report_without_pandas_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    _leave_out(monkeypatch, "pandas")
    assert main(["report", str(_results_csv(tmp_path / "run.csv"))]) == 2
    assert _one_error_line(capsys) == "error: report needs pandas, which is not installed: pip install pandas"


def test_the_report_runs_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CSV the tests above use is a valid one: with every library there, the report is written."""
    assert main(["report", str(_results_csv(tmp_path / "run.csv"))]) == 0
    assert (tmp_path / "run_report.html").stat().st_size > 1000


def test_batch_ray_in_a_bundle_names_the_python_install(frozen: None, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "grey.png"
    assert cv2.imwrite(str(image), np.full((96, 128, 3), 128, np.uint8))
    assert main(["batch", str(image), "--out", str(tmp_path / "out"), "--ray"]) == 2
    err = _one_error_line(capsys)
    assert "desktop bundle never includes" in err and 'pip install "emotion-lens[cluster]"' in err
    assert not (tmp_path / "out").exists()


def test_open_report_without_the_report_libraries(qtbot, make_window, monkeypatch: pytest.MonkeyPatch,
                                                  frozen: None, tmp_path: Path) -> None:
    """The window's "Open report": one line in a message box, nothing built, the app goes on."""
    from PySide6.QtCore import Qt

    from app.ui.settings import UiSettings

    window = make_window(UiSettings(output_dir=str(tmp_path / "out")))
    results = _results_csv(tmp_path / "run.csv")
    window.offer_report(results)
    assert window.report_button.isVisible()
    _leave_out(monkeypatch, "matplotlib")
    qtbot.mouseClick(window.report_button, Qt.MouseButton.LeftButton)
    line = ("reports need matplotlib, which this desktop bundle leaves out: use the full bundle "
            "(packaging/build.sh --full), or `emotion-lens report` from the Python install")
    assert window.errors[-1] == line
    assert window._message_box is not None and window._message_box.isVisible()
    assert window._message_box.text() == line
    assert not window.reports.busy and not window.report_busy.isVisible()
    assert window.report_button.isEnabled()  # it can be tried again
    assert not list(tmp_path.glob("run_report*.html"))
