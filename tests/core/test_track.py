import numpy as np

from app.core.track import Smoother, Tracker, iou


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_ids_stay_stable_while_faces_move_and_swap_order():
    tr = Tracker()
    a, b = (100, 100, 50, 50), (300, 100, 50, 50)
    first = [t.face_id for t in tr.update([a, b], 0.0)]
    assert first == [1, 2]
    moved = [(310, 104, 50, 50), (106, 98, 52, 52)]  # order swapped, both moved a bit
    assert [t.face_id for t in tr.update(moved, 0.04)] == [2, 1]


def test_fast_motion_without_overlap_matches_by_centre_distance():
    tr = Tracker()
    tr.update([(100, 100, 50, 50)], 0.0)
    assert tr.update([(125, 100, 50, 50)], 0.04)[0].face_id == 1  # IoU 0.33
    assert tr.update([(152, 100, 50, 50)], 0.08)[0].face_id == 1  # IoU 0.08: centre distance


def test_lost_track_times_out_and_new_face_gets_new_id():
    tr = Tracker(timeout_s=0.5)
    tr.update([(100, 100, 50, 50)], 0.0)
    assert tr.update([], 0.3) == []
    assert tr.update([(102, 100, 50, 50)], 0.4)[0].face_id == 1  # back within the timeout
    assert tr.update([(102, 100, 50, 50)], 1.5)[0].face_id == 2  # gone too long: new face


def test_far_away_face_is_a_new_track():
    tr = Tracker()
    tr.update([(0, 0, 50, 50)], 0.0)
    assert tr.update([(400, 400, 50, 50)], 0.04)[0].face_id == 2


def test_smoother_damps_a_single_frame_flip():
    tr = Tracker()
    sm = Smoother(half_life_s=0.25)
    happy, sad = np.eye(7, dtype=np.float32)[3], np.eye(7, dtype=np.float32)[4]
    box = (0, 0, 50, 50)
    for i in range(10):
        (t,) = tr.update([box], i / 30)
        sm.update(t, happy, i / 30)
    (t,) = tr.update([box], 10 / 30)
    out = sm.update(t, sad, 10 / 30)
    assert int(np.argmax(out)) == 3  # one odd frame does not flip the label
    assert abs(out.sum() - 1) < 1e-5
    for i in range(11, 40):
        (t,) = tr.update([box], i / 30)
        out = sm.update(t, sad, i / 30)
    assert int(np.argmax(out)) == 4  # a lasting change does


def test_smoothing_off_returns_raw():
    tr = Tracker()
    sm = Smoother(half_life_s=0)
    (t,) = tr.update([(0, 0, 5, 5)], 0)
    sm.update(t, np.eye(7)[0], 0)
    (t,) = tr.update([(0, 0, 5, 5)], 0.1)
    assert np.array_equal(sm.update(t, np.eye(7)[1], 0.1), np.eye(7)[1])
