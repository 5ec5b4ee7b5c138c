"""The house: the layers and the no-cycles rule of `[tool.importlinter]` in pyproject.toml hold
(every import counted, also those inside functions), and every room stays small."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

MAX_LINES = 600  # per module of app/

# `lint-imports` with this interpreter (the console script of the same package), no cache files
LINT_IMPORTS = ("import sys; from importlinter.cli import lint_imports_command; "
                "sys.exit(lint_imports_command())")


def test_import_contracts_are_kept() -> None:
    done = subprocess.run([sys.executable, "-c", LINT_IMPORTS, "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"lint-imports failed:\n{done.stdout}\n{done.stderr}"
    assert "0 broken" in done.stdout, done.stdout


def test_no_module_of_the_app_is_over_600_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "app").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these modules (more than {MAX_LINES} lines): {long}"


def test_the_capture_inference_and_controller_are_rooms_of_their_own() -> None:
    ui = ROOT / "app" / "ui"
    assert not (ui / "worker.py").exists()
    for name in ("capture.py", "inference.py", "controller.py"):
        assert (ui / name).is_file(), name


def test_the_fer_timing_script_is_with_the_benchmarks() -> None:
    assert not (ROOT / "app" / "fer_reference.py").exists()
    assert (ROOT / "benchmarks" / "fer_reference.py").is_file()
