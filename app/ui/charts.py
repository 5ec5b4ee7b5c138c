"""pyqtgraph charts: the selected face's current probabilities (bars) and their rolling timeline,
plus the list to pick a face from."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from app.ui.video_view import qcolor

BACKGROUND = "#1b1b20"
# Drawing cost matters: the charts share two cores with the pipeline. pyqtgraph's own grid
# (alpha-blended, replayed from a QPicture) took about 10 ms a paint of the timeline; a few opaque
# InfiniteLines cost well under 1 ms. Curves are drawn from one point per 2 device pixels of
# the plot's width, at most MAX_POINTS (Timeline.points_limit).
GRID_PEN = "#2c2c33"
MAX_POINTS = 300
GROW_S = 5.0  # the timeline's shown span grows in these steps while the history is short
pg.setConfigOptions(antialias=False, background=BACKGROUND, foreground="#d8d8dc")


def grid_lines(plot: pg.PlotWidget, values: list[float], angle: int) -> list[pg.InfiniteLine]:
    """Opaque grid lines behind everything (angle 0: horizontal at y = value; 90: vertical)."""
    lines = []
    for v in values:
        line = pg.InfiniteLine(v, angle=angle, pen=pg.mkPen(GRID_PEN), movable=False)
        line.setZValue(-10)
        plot.addItem(line, ignoreBounds=True)
        lines.append(line)
    return lines


class ProbabilityBars(pg.PlotWidget):
    """One horizontal bar per expression (names on the left, so a narrow panel still reads): the
    current smoothed probability of the selected face."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.labels: tuple[str, ...] = ()
        self.values = np.zeros(0)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setXRange(0, 1.12, padding=0)
        self.getAxis("bottom").setTicks([[(v, f"{v:.0%}") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        grid_lines(self, [0.25, 0.5, 0.75, 1.0], angle=90)
        self.invertY(True)  # the first label on top
        self._bars: pg.BarGraphItem | None = None
        self._texts: list[pg.TextItem] = []
        self._brushes: dict[bool, list[QBrush]] = {False: [], True: []}  # per label; key: stale
        self._title = ""
        self.setMinimumHeight(160)

    def set_labels(self, labels: tuple[str, ...]) -> None:
        if labels == self.labels:
            return
        self.labels = labels
        self.clear()
        self._texts = []
        n = len(labels)
        self.values = np.zeros(n)
        faded = [qcolor(x) for x in labels]
        for c in faded:
            c.setAlpha(90)
        self._brushes = {False: [QBrush(qcolor(x)) for x in labels], True: [QBrush(c) for c in faded]}
        self._bars = pg.BarGraphItem(x0=0, y=np.arange(n), height=0.72, width=self.values,
                                     brushes=self._brushes[False],
                                     pens=[pg.mkPen(None)] * n)
        self.addItem(self._bars)
        for i in range(n):
            text = pg.TextItem("", anchor=(0.0, 0.5), color="#e8e8ec")
            text.setPos(0, i)
            self.addItem(text)
            self._texts.append(text)
        self.getAxis("left").setTicks([list(enumerate(labels))])
        self.setYRange(-0.6, n - 0.4, padding=0)

    def set_values(self, probs: np.ndarray | None, title: str, stale: bool = False) -> None:
        if self._bars is None:
            return
        values = np.zeros(len(self.labels)) if probs is None else np.asarray(probs, dtype=float)
        self.values = values
        self._bars.setOpts(width=values, brushes=self._brushes[stale])
        for i, text in enumerate(self._texts):
            v = float(values[i]) if probs is not None else 0.0
            text.setText(f"{v:.0%}" if probs is not None else "")
            text.setPos(v + 0.01, i)
        if title != self._title:
            self._title = title
            self.setTitle(title, color="#e8e8ec", size="11pt")


class Timeline(pg.PlotWidget):
    """The selected face's 7 smoothed probabilities over the last `window_s` seconds."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.labels: tuple[str, ...] = ()
        self.window_s = 30.0
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setYRange(-0.04, 1.1, padding=0)  # room for the 0% and 100% labels
        self.getAxis("left").setTicks([[(v, f"{v:.0%}") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        self.setLabel("bottom", "seconds ago")
        grid_lines(self, [0.25, 0.5, 0.75, 1.0], angle=0)
        self._x_grid: list[pg.InfiniteLine] = []
        self.legend = self.addLegend(offset=(8, 4), colCount=7, labelTextSize="8pt")
        self.setMinimumHeight(140)
        self.setClipToView(True)
        self._title = ""
        self.set_window(self.window_s)

    def set_window(self, seconds: float) -> None:
        self.window_s = float(seconds)
        self.setXRange(-self.window_s, 0, padding=0.01)
        for line in self._x_grid:
            self.removeItem(line)
        step = 5 if self.window_s <= 30 else 10 if self.window_s <= 60 else 30
        self.getAxis("bottom").setTickSpacing(major=step, minor=step)  # labels on the grid lines
        self._x_grid = grid_lines(self, [-step * k for k in range(1, int(self.window_s // step) + 1)],
                                  angle=90)

    def set_labels(self, labels: tuple[str, ...]) -> None:
        if labels == self.labels:
            return
        self.labels = labels
        for curve in self.curves.values():
            self.removeItem(curve)
        self.legend.clear()
        self.curves = {name: self.plot([], [], pen=pg.mkPen(qcolor(name), width=2), name=name,
                                       skipFiniteCheck=True)
                       for name in labels}

    def set_series(self, times: np.ndarray, probs: np.ndarray, now: float, title: str) -> None:
        """`times` in source seconds, `probs` N×labels; drawn as seconds before `now`."""
        # the window grows with the history, in whole steps of GROW_S, up to `window_s`: a range
        # that changed every refresh re-laid the axis out and painted the plot twice (4 ms more)
        span = float(now - times[0]) if len(times) else 0.0
        shown = min(self.window_s, GROW_S * max(1, math.ceil(span / GROW_S - 1e-9)))
        if abs(self.viewRange()[0][0] + shown * 1.01) > 0.05:
            self.setXRange(-shown, 0, padding=0.01)
        if len(times) and probs.shape[1] == len(self.labels):
            limit = self.points_limit()
            if len(times) > limit:  # the series is smoothed: evenly spaced samples show it all
                keep = np.linspace(0, len(times) - 1, limit).round().astype(int)
                times, probs = times[keep], probs[keep]
            x = times - now
            for i, name in enumerate(self.labels):
                self.curves[name].setData(x, probs[:, i])
        else:
            for curve in self.curves.values():
                curve.setData([], [])
        if title != self._title:  # setting the same title still re-lays the plot out
            self._title = title
            self.setTitle(title, color="#e8e8ec", size="10pt")

    def points_limit(self) -> int:
        """Points a curve is drawn from: one per 2 device pixels of the plot's width, 60 to
        MAX_POINTS: the series is smoothed, so more points show nothing more, and stroking the 7
        curves (2 px pens) is a large part of the timeline's paint."""
        width = self.plotItem.vb.width() * self.devicePixelRatioF()
        return int(min(MAX_POINTS, max(60, width // 2)))

    def point_count(self) -> int:
        return sum(len(c.xData) if c.xData is not None else 0 for c in self.curves.values())


AUTO = "auto"
NO_FACE = -1


class FacePicker(QListWidget):
    """'Auto (largest face)' plus every face seen within the timeline window."""

    # face ID, or NO_FACE for auto. Never None through a Signal(object): PySide6 on Python 3.11
    # loses a reference to None per emit, which ends in "Fatal Python error: none_dealloc".
    faceChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMaximumHeight(150)
        self.setAlternatingRowColors(True)
        self._updating = False
        self.itemSelectionChanged.connect(self._on_selection)
        self.set_faces([], None)

    def set_faces(self, rows: list[tuple[int, str, bool]], selected: int | None) -> None:
        """rows: (face ID, text, in view). Rebuilt in place; the selection follows `selected`."""
        self._updating = True
        try:
            wanted: list[tuple[object, str, bool]] = [(AUTO, "Auto: largest face", True), *rows]
            while self.count() > len(wanted):
                self.takeItem(self.count() - 1)
            for i, (key, text, in_view) in enumerate(wanted):
                item = self.item(i)
                if item is None:
                    item = QListWidgetItem()
                    self.addItem(item)
                item.setText(text)
                item.setData(Qt.ItemDataRole.UserRole, key)
                item.setForeground(QBrush(QColor("#e8e8ec" if in_view else "#8a8a90")))
                chosen = (key == AUTO and selected is None) or key == selected
                if chosen and not item.isSelected():
                    self.setCurrentItem(item)
        finally:
            self._updating = False

    def face_ids(self) -> list[int]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(1, self.count())]

    def choose(self, face_id: int | None) -> None:
        for i in range(self.count()):
            key = self.item(i).data(Qt.ItemDataRole.UserRole)
            if key == (AUTO if face_id is None else face_id):
                self.setCurrentRow(i)
                return

    def _on_selection(self) -> None:
        if self._updating:
            return
        items = self.selectedItems()
        if not items:
            return
        key = items[0].data(Qt.ItemDataRole.UserRole)
        self.faceChosen.emit(NO_FACE if key == AUTO else int(key))
