"""The video panel: paints the newest frame and the per-face overlay (calibrated values for a face
with a neutral baseline, marked "cal"; "calibrating N %" while one is measured); a click selects
a face, a right click on one offers to calibrate it."""

from __future__ import annotations

import time
from collections import deque

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QMenu, QSizePolicy, QWidget

from app.core.baseline import LIVE_SECONDS
from app.core.render import color_for
from app.core.results import FaceResult, FrameResult
from app.ui.calibration import FaceState
from app.ui.display_scale import DisplayKey, DisplayScaler, display_frame, is_bgr
from app.ui.latency import FrameMarks, breakdown

CALIBRATE_TEXT = f"Calibrate: this face is neutral now ({LIVE_SECONDS:g} s)"


def check_bgr(image: np.ndarray) -> None:
    if not is_bgr(image):
        raise ValueError(f"expected a BGR uint8 H×W×3 image, got {image.dtype} {image.shape}")


def bgr_qimage(image: np.ndarray) -> QImage:
    """A QImage viewing the BGR uint8 array's memory (no copy): keep the array alive with it."""
    check_bgr(image)
    if not image.flags.c_contiguous:
        image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_BGR888)


def qcolor(label: str) -> QColor:
    b, g, r = color_for(label)
    return QColor(r, g, b)


class VideoView(QWidget):
    """Letterboxed frame with boxes, face IDs, labels and confidences. Mirroring flips the picture
    and the boxes for display only; the text stays readable."""

    faceClicked = Signal(int)  # face ID, or -1 for a click beside every face (never None: see charts)
    calibrateRequested = Signal(int)  # face ID (its context menu)
    clearCalibrationRequested = Signal(int)  # face ID, or -1 for every face

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMouseTracking(False)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._array: np.ndarray | None = None  # the frame (BGR), None while the placeholder shows
        self._scaled: QImage | None = None  # the frame at its painted size (see _scaled_frame)
        self._scaled_array: np.ndarray | None = None
        self._scaled_key: DisplayKey | None = None
        self.scaler: DisplayScaler | None = None  # display copies made ahead (capture thread)
        self.result: FrameResult | None = None
        self.calibration: dict[int, FaceState] = {}  # faces with a baseline or being measured
        self.labels: tuple[str, ...] = ()
        self.context_menu: QMenu | None = None
        self.mirror = False
        self.selected_id: int | None = None
        self.placeholder = "No source"
        self.frames_painted = 0
        self._marks: FrameMarks | None = None
        self.latencies_ms: deque[float] = deque(maxlen=2000)  # frame read → painted, newest last
        self.timeline: deque[dict[str, float]] = deque(maxlen=2000)  # the same, stage by stage
        self.setAcceptDrops(False)  # the main window takes drops

    def sizeHint(self) -> QSize:
        return QSize(800, 450)

    # -- state --
    def set_frame(self, image: np.ndarray, result: FrameResult | None, labels: tuple[str, ...],
                  marks: FrameMarks | None = None,
                  calibration: dict[int, FaceState] | None = None) -> None:
        """`marks`: when the frame was read and went through the worker (app/ui/latency.py);
        its first paint then adds read → painted to `latencies_ms` and the stages to `timeline`.
        `calibration`: the faces with a baseline or being measured."""
        check_bgr(image)
        self._marks = marks if marks is not None and marks.complete else None
        if image is not self._array:  # a still picture refreshed keeps its scaled copy
            self._scaled = None
        self._array = image
        self.result = result
        self.calibration = calibration or {}
        if labels:
            self.labels = labels
        self.update()

    def clear(self, placeholder: str) -> None:
        self._array = self._scaled = None
        self.result = None
        self.calibration = {}
        self.placeholder = placeholder
        self.update()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        if self._array is None:
            self.update()

    def set_mirror(self, on: bool) -> None:
        self.mirror = on
        self.update()

    def set_selected(self, face_id: int | None) -> None:
        self.selected_id = face_id
        self.update()

    @property
    def has_frame(self) -> bool:
        return self._array is not None

    # -- geometry --
    def image_rect(self) -> QRectF:
        """Where the frame lands in the widget (aspect kept, centred)."""
        if self._array is None:
            return QRectF()
        ih, iw = self._array.shape[:2]
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _box_rect(self, face: FaceResult, target: QRectF) -> QRectF:
        assert self._array is not None
        iw = self._array.shape[1]
        s = target.width() / iw
        x, y, w, h = face.box
        if self.mirror:
            x = iw - x - w
        return QRectF(target.x() + x * s, target.y() + y * s, w * s, h * s)

    def face_at(self, pos: QPointF) -> int | None:
        """The face under a widget position (the smallest box when boxes overlap)."""
        if self.result is None or self._array is None:
            return None
        target = self.image_rect()
        hits = [f for f in self.result.faces if self._box_rect(f, target).contains(pos)]
        if not hits:
            return None
        return min(hits, key=lambda f: f.box[2] * f.box[3]).face_id

    def widget_pos_of(self, face_id: int) -> QPointF | None:
        """Centre of a face's box in widget coordinates (tests click there)."""
        if self.result is None:
            return None
        for face in self.result.faces:
            if face.face_id == face_id:
                return self._box_rect(face, self.image_rect()).center()
        return None

    # -- painting --
    def paintEvent(self, event: QPaintEvent) -> None:
        paint_start = time.perf_counter()
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 28))
        if self._array is None:
            painter.setPen(QColor(200, 200, 205))
            font = painter.font()
            font.setPointSizeF(max(10.0, font.pointSizeF() * 1.15))
            painter.setFont(font)
            painter.drawText(self.rect().adjusted(24, 24, -24, -24),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            painter.end()
            return
        target = self.image_rect()
        self._paint_frame(painter, target, self._scaled_frame(target))
        painter.end()
        self.frames_painted += 1
        if self._marks is not None:
            row = breakdown(self._marks, paint_start, time.perf_counter())
            self.latencies_ms.append(row["total"])
            self.timeline.append(row)
            self._marks = None

    def _scaled_frame(self, target: QRectF) -> QImage:
        """The frame resized (and mirrored) to `target` in device pixels with OpenCV, once per
        frame and size: a 1:1 blit then paints it. (QPainter's smooth scaling of a large frame
        took 3-4 ms of the UI thread per frame.) The copy the capture thread made ahead
        (`scaler`, app/ui/display_scale.py) is used when it has this frame at this size."""
        assert self._array is not None
        dpr = self.devicePixelRatioF()
        w, h = max(1, round(target.width() * dpr)), max(1, round(target.height() * dpr))
        key = (w, h, self.mirror)
        if self.scaler is not None:
            self.scaler.want(key)
        if self._scaled is None or self._scaled_key != key:
            ready = self.scaler.take(self._array, key) if self.scaler is not None else None
            self._scaled_array = ready if ready is not None else display_frame(self._array, key)
            sa = self._scaled_array
            self._scaled = QImage(sa.data, w, h, sa.strides[0], QImage.Format.Format_RGB32)
            self._scaled.setDevicePixelRatio(dpr)
            self._scaled_key = key
        return self._scaled

    def _paint_frame(self, painter: QPainter, target: QRectF, frame: QImage) -> None:
        """`frame`, already at `target`'s size, and the overlay on it."""
        painter.drawImage(target.topLeft(), frame)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self.result is None or not self.labels:
            return
        font = QFont(painter.font())
        font.setPixelSize(int(max(11, min(22, target.height() / 28))))
        font.setBold(True)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        for face in self.result.faces:
            self._paint_face(painter, face, self._box_rect(face, target), metrics, target)

    def face_text(self, face: FaceResult) -> tuple[str, np.ndarray]:
        """The tag over a face and the probabilities it shows: the calibrated ones when the face
        has a baseline ("cal"), the smoothed ones otherwise; "calibrating N %" while measured."""
        probs = face.shown(smoothed=True)
        i = int(np.argmax(probs))
        text = f"#{face.face_id} {self.labels[i]} {float(probs[i]):.0%}"
        state = self.calibration.get(face.face_id)
        if state is not None and state.state == "collecting":
            text += f" · calibrating {state.progress or 0.0:.0%}"
        elif face.calibrated_smoothed is not None:
            text += " · cal"
        return text, probs

    def _paint_face(self, painter: QPainter, face: FaceResult, box: QRectF,
                    metrics: QFontMetricsF, target: QRectF) -> None:
        text, probs = self.face_text(face)
        label = self.labels[int(np.argmax(probs))]
        color = qcolor(label)
        selected = face.face_id == self.selected_id
        pen = QPen(color, 4.0 if selected else 2.0)
        if selected:
            painter.setPen(QPen(QColor(255, 255, 255), 7.0))
            painter.drawRect(box)
        painter.setPen(pen)
        painter.drawRect(box)
        tw, th = metrics.horizontalAdvance(text) + 8, metrics.height() + 2
        ty = box.top() - th if box.top() - th >= target.top() else min(box.bottom(), target.bottom() - th)
        tx = min(max(box.left(), target.left()), target.right() - tw)
        tag = QRectF(tx, ty, tw, th)
        painter.fillRect(tag, color)
        painter.setPen(QColor(0, 0, 0))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)
        state = self.calibration.get(face.face_id)
        if state is not None and state.state == "collecting":  # a progress bar along the box
            bar = QRectF(box.left(), box.bottom() - 6, box.width(), 6)
            painter.fillRect(bar, QColor(0, 0, 0, 160))
            painter.fillRect(QRectF(bar.left(), bar.top(), bar.width() * (state.progress or 0.0),
                                    bar.height()), QColor(255, 255, 255))

    def render_image(self) -> QImage | None:
        """The frame at full resolution with the overlay as shown (mirroring included)."""
        if self._array is None:
            return None
        h, w = self._array.shape[:2]
        # the frame itself, not the widget's screen-sized (device-pixel-ratio) copy
        array = np.ascontiguousarray(cv2.flip(self._array, 1) if self.mirror else self._array)
        out = QImage(w, h, QImage.Format.Format_RGB888)
        painter = QPainter(out)
        self._paint_frame(painter, QRectF(0, 0, w, h), bgr_qimage(array))
        painter.end()
        return out

    # -- input --
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            face = self.face_at(event.position())
            self.faceClicked.emit(-1 if face is None else face)
        super().mousePressEvent(event)

    def face_menu(self, face_id: int | None) -> QMenu:
        """The context menu of a face (None: of the picture beside every face)."""
        menu = QMenu(self)
        calibrated = bool(self.calibration) or any(
            f.calibrated is not None for f in (self.result.faces if self.result else []))
        if face_id is not None:
            state = self.calibration.get(face_id)
            menu.addAction(f"Chart face #{face_id}", lambda: self.faceClicked.emit(face_id))
            menu.addSeparator()
            calibrate = menu.addAction(CALIBRATE_TEXT, lambda: self.calibrateRequested.emit(face_id))
            calibrate.setStatusTip("Take this face's next seconds as its neutral baseline: its "
                                   "expressions then read as changes from it")
            clear = menu.addAction("Clear calibration",
                                   lambda: self.clearCalibrationRequested.emit(face_id))
            clear.setEnabled(state is not None)
        clear_all = menu.addAction("Clear all calibrations",
                                   lambda: self.clearCalibrationRequested.emit(-1))
        clear_all.setEnabled(calibrated)
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self.result is None or self._array is None:
            return
        if self.context_menu is not None:
            self.context_menu.deleteLater()
        # popup, not exec: no nested event loop (frames keep coming while it is open)
        self.context_menu = self.face_menu(self.face_at(QPointF(event.pos())))
        self.context_menu.popup(event.globalPos())
        event.accept()
