"""Property-based tests: alignment and preprocessing never fail on odd frames and boxes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.core.align import align_face, to_bgr_uint8
from app.core.bundle import CropSpec
from app.core.detect import Detection

dtypes = st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32])
shapes = st.tuples(st.integers(1, 64), st.integers(1, 64)).flatmap(
    lambda hw: st.sampled_from([hw, (*hw, 1), (*hw, 3), (*hw, 4)]))


@settings(max_examples=60, deadline=None)
@given(arrays(dtypes, shapes, elements={"allow_nan": False, "allow_infinity": False,
                                        "min_value": 0, "max_value": 255}))
def test_any_frame_converts_to_bgr_uint8(frame):
    out = to_bgr_uint8(frame)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[:2] == frame.shape[:2]


boxes = st.tuples(st.floats(-500, 500), st.floats(-500, 500), st.floats(0.5, 900),
                  st.floats(0.5, 900))
points = st.tuples(st.floats(-1000, 1000), st.floats(-1000, 1000))


@settings(max_examples=80, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), box=boxes, eye_r=points, eye_l=points,
       scale=st.floats(0.2, 5), size=st.sampled_from([8, 48, 64]), channels=st.sampled_from([1, 3]),
       rotate=st.booleans())
def test_alignment_always_returns_a_model_sized_crop(h, w, box, eye_r, eye_l, scale, size,
                                                      channels, rotate):
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    det = Detection(box, 0.9, {"right_eye": eye_r, "left_eye": eye_l}, "mediapipe")
    crop = align_face(frame, det, CropSpec(scale=scale, rotate=rotate), size, channels)
    assert crop.shape == (size, size, channels) and crop.dtype == np.uint8
    # edge-replicated sampling: every crop pixel is a value the frame holds (per channel range)
    assert crop.min() >= frame.min() and crop.max() <= frame.max()
