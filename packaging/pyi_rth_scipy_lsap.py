"""PyInstaller runtime hook of the default and --full bundles: `scipy.optimize` as a package whose
one attribute is `linear_sum_assignment`, the only part of SciPy the app uses (app/core/track.py).

The bundle ships SciPy's package root and the solver's own extension (scipy/optimize/_lsap, which
needs libstdc++ only) but not the rest of scipy.optimize, nor the scipy.linalg, .sparse, .special,
.spatial and .fft it imports, nor SciPy's OpenBLAS (about 70 MiB; packaging/emotion-lens.spec).
The solver is SciPy's own C++ code, so results are those of the installed SciPy.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types


class _LinearSumAssignmentOnly(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    NAME = "scipy.optimize"

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != self.NAME:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        spec.submodule_search_locations = [os.path.join(sys._MEIPASS, "scipy", "optimize")]
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        from scipy.optimize._lsap import linear_sum_assignment

        module.linear_sum_assignment = linear_sum_assignment
        module.__all__ = ["linear_sum_assignment"]


# first: the path finder would take the bundle's scipy/optimize/ folder (no __init__) for a namespace
# package
sys.meta_path.insert(0, _LinearSumAssignmentOnly())
