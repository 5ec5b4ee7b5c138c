"""The main window's calibration: "this face is neutral now" for the charted face (C, the Face
menu) or any face (its context menu in the video), "Clear calibration", and what the user is
told: progress on the overlay, one line in the status bar when a baseline is done or failed.

`WindowCalibration` is mixed into `app.ui.main_window.MainWindow`, whose controller, charts and
status bar it uses."""

from __future__ import annotations

from app.core.baseline import LIVE_SECONDS
from app.ui.calibration import FaceState


class WindowCalibration:
    """Calibration actions of `MainWindow` (a mixin: no state of its own)."""

    def calibration_of(self, face_id: int) -> FaceState | None:
        """The calibration of a face in the latest frame (None: none, or not in view)."""
        packet = self.latest
        return packet.calibration.get(face_id) if packet is not None else None

    def calibrate_face(self, face_id: int | None = None) -> bool:
        """Take `face_id`'s (default: the charted face's) next 3 s as its neutral baseline."""
        fid = self.charted_face() if face_id is None or face_id < 0 else face_id
        if fid is None:
            self.show_error("no face to calibrate: none is in view", box=False)
            return False
        if fid not in self.history.in_view():
            self.show_error(f"face #{fid} is not in view: it cannot be calibrated now", box=False)
            return False
        self.controller.calibrate(fid)
        message = f"calibrating face #{fid}: keep a neutral face for {LIVE_SECONDS:g} s…"
        recorder = self.controller.recorder
        if recorder is not None and recorder.calibrator is None:
            message += " (the recording in progress stays raw; the next one gets cal_ columns)"
        self.statusBar().showMessage(message, round(LIVE_SECONDS * 1000) + 2000)
        return True

    def clear_calibration(self, face_id: int | None = None) -> None:
        """Drop the baseline of `face_id` (default: the charted face; -1: every face)."""
        if face_id is not None and face_id < 0:
            self.controller.clear_calibration(None)
            self.statusBar().showMessage("calibrations cleared: every face shows raw values", 5000)
            return
        fid = self.charted_face() if face_id is None else face_id
        if fid is None:
            self.show_error("no face to clear the calibration of", box=False)
            return
        self.controller.clear_calibration(fid)
        self.statusBar().showMessage(f"face #{fid}: calibration cleared (raw values)", 5000)

    def clear_all_calibrations(self) -> None:
        self.clear_calibration(-1)

    def _on_calibration_done(self, face_id: int, message: str) -> None:
        self.statusBar().showMessage(message, 8000)
        self._charts_dirty = True

    def _on_calibration_failed(self, face_id: int, message: str) -> None:
        self.show_error(message, box=False)
