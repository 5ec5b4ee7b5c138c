"""Bad input: one line on stderr, a non-zero exit, no traceback, nothing overwritten."""

import os
import subprocess
import sys

import pytest

from app.cli import main
from tests.media_files import h264_clip


def run_main(capsys, *args):
    code = main(list(args))
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("content,message", [(None, "file not found"), (b"", "file is empty"),
                                             (b"just text", "cannot decode video")])
def test_bad_video_input(tmp_path, capsys, content, message):
    path = tmp_path / "in.mp4"
    if content is not None:
        path.write_bytes(content)
    code, err = run_main(capsys, "annotate", str(path))
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_existing_output_is_not_overwritten(media, tmp_path, capsys):
    out = tmp_path / "x.csv"
    out.write_text("precious")
    code, err = run_main(capsys, "annotate", str(media / "single_face.jpg"), "--csv", str(out))
    assert code == 2 and "--overwrite" in err
    assert out.read_text() == "precious"


def test_output_may_not_be_the_input(media, tmp_path, capsys):
    src = tmp_path / "in.jpg"
    src.write_bytes((media / "single_face.jpg").read_bytes())
    code, err = run_main(capsys, "annotate", str(src), "-o", str(src), "--overwrite")
    assert code == 2 and "is the input" in err
    assert src.read_bytes() == (media / "single_face.jpg").read_bytes()


def test_missing_output_folder_and_bad_model(media, tmp_path, capsys):
    code, err = run_main(capsys, "annotate", str(media / "single_face.jpg"),
                         "--csv", str(tmp_path / "no" / "x.csv"))
    assert code == 2 and "does not exist" in err
    code, err = run_main(capsys, "annotate", str(media / "single_face.jpg"),
                         "--csv", str(tmp_path / "x.csv"), "--model", str(tmp_path))
    assert code == 2 and "model.json" in err
    assert not (tmp_path / "x.csv").exists()


def test_corrupt_model_file_is_one_line(media, default_model, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.json").write_text((default_model / "model.json").read_text())
    import json

    files = json.loads((default_model / "model.json").read_text())["files"]
    for name in files.values():
        (bundle / name).write_bytes(b"garbage" * 10)
    code, err = run_main(capsys, "annotate", str(media / "single_face.jpg"),
                         "--csv", str(tmp_path / "x.csv"), "--model", str(bundle))
    assert code == 2 and "cannot load" in err and len(err.splitlines()) == 1


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "app.cli", "--version"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and out.stdout.startswith("emotion-lens ")
    out = subprocess.run([sys.executable, "-m", "app.cli", "annotate", "--help"],
                         capture_output=True, text=True)
    assert "--detector" in out.stdout and "--json" in out.stdout


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KB tmpfs (needs root, as in CI's containers; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_is_refused_before_any_work(media, tiny_disk, capsys):
    code, err = run_main(capsys, "annotate", str(media / "street_phone.mp4"),
                         "-o", str(tiny_disk / "a.mp4"), "--csv", str(tiny_disk / "a.csv"))
    assert code == 2 and "not enough free disk space" in err
    assert list(tiny_disk.iterdir()) == []


def cli_run(tmp_path, *args):
    """The CLI in its own process, logging into tmp_path/logs: (exit code, stderr lines, log)."""
    env = {**os.environ, "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs")}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=300)
    log_file = tmp_path / "logs" / "emotion-lens.log"
    log_text = log_file.read_text() if log_file.exists() else ""
    return proc.returncode, proc.stderr.strip().splitlines(), log_text


def test_an_os_error_is_one_line_and_its_traceback_goes_to_the_log(tmp_path):
    src = h264_clip(tmp_path / "in.mp4")
    code, err, log_text = cli_run(tmp_path, "-m", "app.cli", "annotate", str(src),
                                  "--csv", str(tmp_path / "a.csv"), "--config", str(tmp_path))
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err  # a folder given as --config
    assert "Traceback" in log_text and "IsADirectoryError" in log_text


def test_an_output_name_over_255_bytes_is_one_line(tmp_path):
    src = h264_clip(tmp_path / "in.mp4")
    code, err, _ = cli_run(tmp_path, "-m", "app.cli", "annotate", str(src),
                           "--csv", str(tmp_path / f"{'n' * 300}.csv"))
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and "too long" in err[0], err


def test_logged_exceptions_keep_their_traceback_off_the_console(tmp_path):
    code, err, log_text = cli_run(tmp_path, "-c", (
        "import logging\n"
        "from app.core.logs import setup_logging\n"
        "setup_logging()\n"
        "try:\n"
        "    {}['missing']\n"
        "except KeyError:\n"
        "    logging.getLogger('app.test').exception('lookup failed')\n"))
    assert code == 0
    assert err == ["ERROR: lookup failed"]
    assert "Traceback" in log_text and "KeyError: 'missing'" in log_text
