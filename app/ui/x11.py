"""The system libraries Qt's X11 (xcb) platform plugin needs, checked before Qt tries to load it.

Without one of them Qt prints its own "could not load the Qt platform plugin" and aborts. Here
the dynamic loader is asked (`ldd` on the plugin, which follows the plugin's own search path,
so a bundle that carries the libraries passes) which of them it cannot find, and the error names
the Debian/Ubuntu packages to install, in one line. No Qt import, no window.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import subprocess
from pathlib import Path

from app.core import EmotionLensError

# what libqxcb.so and libQt6XcbQpa.so link against, beyond libc and Qt -> the Debian package
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
# what Qt's GUI library needs besides, where the package name is not the library's
OTHER_PACKAGES: dict[str, str] = {
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libEGL.so.1": "libegl1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libpng16.so.16": "libpng16-16",
}
# the ones a desktop that runs other X11 programs most often lacks: the README's apt line
APT_LINE = ("sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 "
            "libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0")

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)


def package_for(soname: str) -> str:
    """The Debian package that ships `soname` (libfoo-bar.so.3 -> libfoo-bar3, lower case)."""
    known = XCB_LIBRARIES.get(soname) or OTHER_PACKAGES.get(soname)
    if known:
        return known
    base, _, version = soname.partition(".so.")
    base = base.lower()
    return f"{base}{'-' if base[-1:].isdigit() else ''}{version}" if version else base


def missing_libraries(plugin: Path) -> list[str] | None:
    """The shared libraries the dynamic loader cannot find for `plugin` (in ldd's order), or
    None when that cannot be told (no ldd, or it fails)."""
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return None
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 and "not found" not in out.stdout:
        return None
    return list(dict.fromkeys(_NOT_FOUND.findall(out.stdout)))


def _missing_by_name() -> list[str]:
    """Without ldd: the libraries of XCB_LIBRARIES that cannot be loaded by name."""
    missing = []
    for soname in XCB_LIBRARIES:
        try:
            ctypes.CDLL(soname)
        except OSError:
            stem = soname.removeprefix("lib").partition(".so")[0]
            if ctypes.util.find_library(stem) is None:
                missing.append(soname)
    return missing


def xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin file, None when this Qt has none."""
    from PySide6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    plugin = plugins / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def check_xcb_libraries(plugin: Path | None) -> None:
    """Raise one line naming the packages to install when a library the plugin needs is missing."""
    missing = missing_libraries(plugin) if plugin is not None else None
    if missing is None:
        missing = _missing_by_name()
    if not missing:
        return
    packages = list(dict.fromkeys(package_for(name) for name in missing))
    raise EmotionLensError(
        f"Qt cannot open a window on X11: missing {', '.join(missing)}; install them with "
        f"`sudo apt install {' '.join(packages)}` (Debian/Ubuntu)")
