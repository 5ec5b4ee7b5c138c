"""No network: `emotion-lens annotate` runs under `strace -f -e trace=connect`, and every connect()
of the process and its children must go to a local Unix socket or a loopback address.

MediaPipe Tasks posts usage statistics to Google from its native library (a look-up of
play.googleapis.com at start-up); `app.core.mediapipe_detector.block_mediapipe_usage_logging` routes them
to a closed loopback port. The default detector (LiteRT) never loads MediaPipe's library.

strace must be installed (`apt-get install -y strace`; .ci/run installs it where it can) and
ptrace allowed; otherwise these tests skip, saying why.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.settings import DEFAULT_DETECTOR
from tests.conftest import ROOT

EXECVE = re.compile(r'execve\("([^"]+)".*= 0$')
CONNECT = re.compile(r"connect\(\d+, \{sa_family=(AF_\w+)(.*?)\}")
ADDRESS = re.compile(r'inet_(?:addr|pton)\((?:AF_INET6?, )?"([^"]+)"')


def _strace_or_skip() -> str:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("NO NETWORK CHECK: strace is not installed (apt-get install -y strace); "
                    "the test that no connect() leaves the machine did not run")
    probe = subprocess.run([strace, "-f", "-qq", "-e", "trace=connect,execve", "-o", "/dev/null", "true"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("NO NETWORK CHECK: strace cannot trace here (ptrace not permitted: "
                    f"{probe.stderr.strip()[:200]}); the test that no connect() leaves the "
                    "machine did not run")
    return strace


def foreign_connects(trace: str) -> list[str]:
    """The connect() calls in an strace log that go anywhere but a Unix socket or loopback."""
    bad = []
    for line in trace.splitlines():
        m = CONNECT.search(line)
        if m is None:
            continue
        family, rest = m.groups()
        if family == "AF_UNIX":
            continue
        if family in ("AF_INET", "AF_INET6"):
            addr = ADDRESS.search(rest)
            if addr is not None:
                ip = ipaddress.ip_address(addr.group(1))
                mapped = getattr(ip, "ipv4_mapped", None)
                if ip.is_loopback or (mapped is not None and mapped.is_loopback):
                    continue
        bad.append(line.strip())
    return bad


def test_foreign_connects_reads_strace_lines() -> None:
    trace = "\n".join([
        '12 connect(11, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
        '12 connect(8, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, 16) = -1',
        '12 connect(8, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '12 connect(11, {sa_family=AF_INET, sin_port=htons(53), '
        'sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '12 connect(8, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2a00:1450:4001::200a", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    ])
    bad = foreign_connects(trace)
    assert len(bad) == 2 and "10.255.255.53" in bad[0] and "2a00" in bad[1]


def _annotate_under_strace(tmp_path: Path, media: Path, detector: str) -> tuple[str, str]:
    strace = _strace_or_skip()
    image = tmp_path / "face.jpg"
    shutil.copy(media / "single_face.jpg", image)
    log = tmp_path / "connect.log"
    done = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=connect,execve", "-o", str(log), sys.executable, "-m", "app.cli",
         "annotate", str(image), "--csv", str(tmp_path / "out.csv"), "--json", str(tmp_path / "out.json"),
         "--detector", detector],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 with faces" in done.stdout
    assert log.is_file()
    return log.read_text(encoding="utf-8", errors="replace"), done.stdout


@pytest.mark.parametrize("detector", sorted({DEFAULT_DETECTOR, "mediapipe"}))
def test_annotate_opens_no_socket_off_this_machine(tmp_path: Path, media: Path, default_model: Path,
                                                   detector: str) -> None:
    trace, _ = _annotate_under_strace(tmp_path, media, detector)
    bad = foreign_connects(trace)
    assert not bad, f"--detector {detector} connected off this machine:\n" + "\n".join(bad[:10])


def programs_run(trace: str) -> set[str]:
    """The programs an strace log shows started (execve calls that succeeded)."""
    return {Path(m.group(1)).name for line in trace.splitlines() if (m := EXECVE.search(line.strip()))}


def test_programs_run_reads_strace_lines() -> None:
    trace = "\n".join([
        '7 execve("/work/.venv/bin/python", ["python", "-m", "app.cli"], 0x7ffd /* 40 vars */) = 0',
        '9 execve("/usr/local/sbin/ldconfig", ["/sbin/ldconfig", "-p"], 0x7f36 /* 2 vars */) = -1 ENOENT',
        '9 execve("/sbin/ldconfig", ["/sbin/ldconfig", "-p"], 0x7f36 /* 2 vars */) = 0',
    ])
    assert programs_run(trace) == {"python", "ldconfig"}


@pytest.mark.parametrize("detector", sorted({DEFAULT_DETECTOR, "mediapipe"}))
def test_annotating_an_image_starts_no_other_program(tmp_path: Path, media: Path, default_model: Path,
                                                    detector: str) -> None:
    """MediaPipe's audio package imports sounddevice, which ran `ldconfig -p` and `gcc` looking for
    PortAudio at every start; face detection never needs it, so it is never executed."""
    trace, _ = _annotate_under_strace(tmp_path, media, detector)
    python = {Path(sys.executable).name, Path(sys.executable).resolve().name}
    assert programs_run(trace) <= python, f"--detector {detector} started {programs_run(trace) - python}"
