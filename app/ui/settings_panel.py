"""The settings dock: model, backend, detector, smoothing, minimum face confidence, camera size,
timeline length, output folder. Edits update a `UiSettings` and emit what changed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app.core import EmotionLensError
from app.core.bundle import DEFAULT_MODEL_DIR, ModelBundle, find_bundles, load_bundle
from app.core.settings import BACKENDS, DETECTORS
from app.ui.settings import CAMERA_SIZES, UiSettings

BACKEND_TEXT = {
    "auto": "Auto (int8 when the model has it)",
    "int8": "CPU int8 (LiteRT)",
    "float16": "CPU float16 (LiteRT)",
    "float32": "CPU float32 (LiteRT)",
    "keras": "GPU float (Keras; CPU without a GPU)",
}
DETECTOR_TEXT = {
    "blazeface-auto": "BlazeFace short + full range (default)",
    "blazeface-full": "BlazeFace full range",
    "blazeface": "BlazeFace short range (near only)",
    "blazeface-tiled": "BlazeFace full range + tiles (slow)",
    "mediapipe-full": "MediaPipe BlazeFace full range",
    "mediapipe": "MediaPipe BlazeFace short range",
    "opencv": "OpenCV Haar cascade",
}


class SettingsPanel(QWidget):
    pipelineChanged = Signal()  # model, backend, detector, smoothing or face confidence (debounced)
    cameraSizeChanged = Signal(str)
    timelineChanged = Signal(float)
    modelFolderInvalid = Signal(str)

    def __init__(self, settings: UiSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(350)
        self._debounce.timeout.connect(self.pipelineChanged)
        self._loading = False
        self._bundles: dict[str, ModelBundle] = {}  # the listed bundles that load (refresh_models)

        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.model_combo = QComboBox()
        # a bundle's full name is long ("... (VGG-small pruned to 24/48/96/192, FER2013)"): sized
        # to its text, the combo alone made the panel ~650 px wide and the window at least 1234;
        # it now elides, and its list opens as wide as the names (see refresh_models)
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(20)
        self.model_combo.setToolTip("Model bundle: the folders in models/ and any you added")
        add = QToolButton(text="…")
        add.setToolTip("Add a model bundle folder")
        add.clicked.connect(self._browse_model)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(add)
        form.addRow("Model", row)

        self.backend_combo = QComboBox()
        for key in BACKENDS:
            self.backend_combo.addItem(BACKEND_TEXT[key], key)
        self.backend_combo.setToolTip("Which model file runs: int8 LiteRT on the CPU is fastest on "
                                      "most laptops; Keras float uses a GPU when there is one")
        form.addRow("&Backend", self.backend_combo)

        self.detector_combo = QComboBox()
        for key in DETECTORS:
            self.detector_combo.addItem(DETECTOR_TEXT[key], key)
        self.detector_combo.setToolTip(
            "The default runs short range on every frame and full range when faces are small, "
            "missing or far: faces near and far at short-range speed. Full range alone finds "
            "the same faces at twice the cost; short range alone only faces near the camera. "
            "Tiles find small faces in large frames, at several times the cost. "
            "BlazeFace runs on LiteRT; the MediaPipe entries run the same models through "
            "MediaPipe Tasks (same faces, slower)")
        form.addRow("&Detector", self.detector_combo)

        self.smoothing_spin = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=3.0, singleStep=0.05,
                                             suffix=" s")
        self.smoothing_spin.setToolTip("Smoothing strength: the half-life of each face's moving "
                                       "average (0 = off, larger = calmer but slower)")
        form.addRow("&Smoothing", self.smoothing_spin)

        self.score_spin = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=0.99, singleStep=0.05)
        self.score_spin.setToolTip("Minimum face detection confidence")
        form.addRow("Min face &confidence", self.score_spin)

        self.camera_size_combo = QComboBox()
        self.camera_size_combo.addItem("Camera default", "")
        for size in CAMERA_SIZES:
            self.camera_size_combo.addItem(size.replace("x", " × "), size)
        form.addRow("Camera &resolution", self.camera_size_combo)

        self.timeline_spin = QSpinBox(minimum=5, maximum=600, singleStep=5, suffix=" s")
        self.timeline_spin.setToolTip("How much history the timeline shows")
        form.addRow("&Timeline", self.timeline_spin)

        self.output_edit = QLineEdit()
        self.output_edit.setToolTip("Where snapshots and recordings go")
        browse = QToolButton(text="…")
        browse.clicked.connect(self._browse_output)
        row = QHBoxLayout()
        row.addWidget(self.output_edit, 1)
        row.addWidget(browse)
        form.addRow("Output folder", row)

        self.record_video_check = QCheckBox("Also record the annotated video")
        form.addRow("", self.record_video_check)

        self.load(settings)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        self.backend_combo.currentIndexChanged.connect(self._on_pipeline_field)
        self.detector_combo.currentIndexChanged.connect(self._on_pipeline_field)
        self.smoothing_spin.valueChanged.connect(self._on_pipeline_field)
        self.score_spin.valueChanged.connect(self._on_pipeline_field)
        self.camera_size_combo.currentIndexChanged.connect(self._on_camera_size)
        self.timeline_spin.valueChanged.connect(self._on_timeline)
        self.output_edit.editingFinished.connect(self._on_output)
        self.record_video_check.toggled.connect(self._on_record_video)

    # -- filling --
    def load(self, settings: UiSettings) -> None:
        self._loading = True
        try:
            self.settings = settings
            self.refresh_models()
            self._select(self.detector_combo, settings.detector)
            self.smoothing_spin.setValue(settings.smoothing)
            self.score_spin.setValue(settings.min_face_score)
            size = settings.camera_size
            if size and self.camera_size_combo.findData(size) < 0:  # e.g. --camera-size 800x600
                self.camera_size_combo.addItem(size.replace("x", " × "), size)
            self._select(self.camera_size_combo, size)
            self.timeline_spin.setValue(int(settings.timeline_s))
            self.output_edit.setText(str(settings.output_path()))
            self.record_video_check.setChecked(settings.record_video)
        finally:
            self._loading = False

    @staticmethod
    def _select(combo: QComboBox, key: str) -> None:
        i = combo.findData(key)
        combo.setCurrentIndex(max(i, 0))

    def refresh_models(self) -> None:
        was = self._loading
        self._loading = True
        try:
            self.model_combo.clear()
            current = Path(self.settings.model) if self.settings.model else DEFAULT_MODEL_DIR
            found = find_bundles(self.settings.model_folders)
            if not any(p.resolve() == current.resolve() for p, _, _ in found):
                try:  # a bundle given on the command line, outside models/
                    found.insert(0, (current, load_bundle(current), ""))
                except EmotionLensError as exc:
                    found.insert(0, (current, None, "not found" if not current.exists()
                                     else str(exc)))
            model = self.model_combo.model()
            assert isinstance(model, QStandardItemModel)
            self._bundles = {str(path): bundle for path, bundle, _ in found if bundle is not None}
            for path, bundle, error in found:
                text = f"{bundle.name}  ({path.name})" if bundle else f"{path.name}: {error}"
                self.model_combo.addItem(text, str(path))
                item = model.item(self.model_combo.count() - 1)
                item.setToolTip(str(path) if bundle else error)
                if bundle is None and path.resolve() != current.resolve():
                    item.setEnabled(False)
            for i in range(self.model_combo.count()):
                if Path(self.model_combo.itemData(i)).resolve() == current.resolve():
                    self.model_combo.setCurrentIndex(i)
            metrics = self.model_combo.fontMetrics()
            widest = max((metrics.horizontalAdvance(self.model_combo.itemText(i))
                          for i in range(self.model_combo.count())), default=0)
            self.model_combo.view().setMinimumWidth(widest + 40)
            self._update_backends()
        finally:
            self._loading = was

    def _update_backends(self) -> None:
        bundle = self._bundles.get(self.model_combo.currentData())  # loaded once, by refresh_models
        kinds = bundle.available_kinds if bundle is not None else []
        model = self.backend_combo.model()
        assert isinstance(model, QStandardItemModel)
        for i in range(self.backend_combo.count()):
            key = self.backend_combo.itemData(i)
            model.item(i).setEnabled(key == "auto" or key in kinds or not kinds)
        backend = self.settings.backend
        if kinds and backend != "auto" and backend not in kinds:
            backend = self.settings.backend = "auto"
        self._select(self.backend_combo, backend)

    # -- edits --
    def _on_model(self) -> None:
        if self._loading:
            return
        path = Path(self.model_combo.currentData())
        self.settings.model = "" if path.resolve() == DEFAULT_MODEL_DIR.resolve() else str(path)
        self._loading = True
        try:
            self._update_backends()
        finally:
            self._loading = False
        self._debounce.start()

    def _on_pipeline_field(self) -> None:
        if self._loading:
            return
        self.settings.backend = self.backend_combo.currentData()
        self.settings.detector = self.detector_combo.currentData()
        self.settings.smoothing = round(self.smoothing_spin.value(), 3)
        self.settings.min_face_score = round(self.score_spin.value(), 3)
        self._debounce.start()

    def _on_camera_size(self) -> None:
        if not self._loading:
            self.settings.camera_size = self.camera_size_combo.currentData()
            self.cameraSizeChanged.emit(self.settings.camera_size)

    def _on_timeline(self, value: int) -> None:
        if not self._loading:
            self.settings.timeline_s = float(value)
            self.timelineChanged.emit(float(value))

    def _on_output(self) -> None:
        self.settings.output_dir = self.output_edit.text().strip()

    def _on_record_video(self, on: bool) -> None:
        self.settings.record_video = on

    def add_model_folder(self, folder: str | Path) -> bool:
        """Remember a bundle folder (or a folder of bundles) and select it; False when invalid."""
        folder = Path(folder)
        candidates = find_bundles([str(folder)], include_models_dir=False)
        found = [b for b in candidates if b[1] is not None]
        if not found:
            bad = [b for b in candidates if b[2]]
            self.modelFolderInvalid.emit(bad[0][2] if bad else f"no model bundle in {folder}")
            return False
        if str(folder) not in self.settings.model_folders:
            self.settings.model_folders.append(str(folder))
        self.settings.model = str(found[0][0])
        self.refresh_models()
        self._debounce.start()
        return True

    def flush(self) -> None:
        """Emit a pending debounced change now."""
        if self._debounce.isActive():
            self._debounce.stop()
            self.pipelineChanged.emit()

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model bundle folder", self.settings.last_dir)
        if folder:
            self.add_model_folder(folder)

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)
            self._on_output()

