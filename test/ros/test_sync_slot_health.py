"""The synchroniser, the latest-wins slot and the health counters (plain Python, no ROS graph)."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("rclpy")
from cleanpose_ros.ros.diagnostics import HealthMonitor, diagnostic_array  # noqa: E402
from cleanpose_ros.ros.latest_slot import LatestPerKey  # noqa: E402
from cleanpose_ros.interop.sync import ApproximateTimeSync, StampOrder  # noqa: E402

MS = 1_000_000


def _sync(slop_ms=10, queue=5):
    got = []
    s = ApproximateTimeSync(["color", "depth", "mask"], slop_ms * MS, queue, lambda msgs, stamp: got.append((stamp, msgs)))
    return s, got


def test_sync_matches_within_slop_in_any_arrival_order():
    s, got = _sync()
    s.add("depth", 1000 * MS + 3 * MS, "d0")
    s.add("color", 1000 * MS, "c0")
    assert got == []
    s.add("mask", 1000 * MS - 4 * MS, "m0")
    assert got == [(1000 * MS, {"color": "c0", "depth": "d0", "mask": "m0"})]
    assert s.pending() == {"color": 0, "depth": 0, "mask": 0} and s.unmatched == 0
    assert s.received == {"color": 1, "depth": 1, "mask": 1}


def test_sync_refuses_sets_wider_than_slop_and_picks_closest():
    s, got = _sync(slop_ms=10)
    s.add("color", 100 * MS, "c")
    s.add("depth", 108 * MS, "d_far")
    s.add("depth", 101 * MS, "d_near")
    s.add("mask", 92 * MS, "m")  # within 10 ms of color, but 16 ms from d_far and 9 from d_near
    assert got == [(100 * MS, {"color": "c", "depth": "d_near", "mask": "m"})]
    # d_far (108) is newer than the match and stays queued; nothing older remains.
    assert s.pending() == {"color": 0, "depth": 1, "mask": 0}
    s2, got2 = _sync(slop_ms=10)
    s2.add("color", 100 * MS, "c")
    s2.add("depth", 109 * MS, "d")
    s2.add("mask", 91 * MS, "m")  # each within 10 ms of color, but the set spans 18 ms
    assert got2 == []


def test_sync_queue_is_bounded_and_drops_are_counted():
    s, got = _sync(queue=3)
    for i in range(10):
        s.add("color", i * 100 * MS, f"c{i}")
    assert s.pending()["color"] == 3 and s.unmatched == 7
    s.add("depth", 900 * MS, "d9")
    s.add("mask", 900 * MS, "m9")
    assert got[-1][1]["color"] == "c9"
    assert s.unmatched == 9  # c7 and c8 were discarded by the match at 900 ms


def test_latest_slot_drops_older_and_never_blocks_producer():
    slot: LatestPerKey[int] = LatestPerKey()
    assert slot.put("a", 1) is None
    assert slot.put("a", 2) == 1 and slot.put("a", 3) == 2
    assert slot.superseded == 2
    assert slot.take_all(0.1) == [("a", 3)]
    assert slot.take_all(0.01) == []
    taken = []
    worker = threading.Thread(target=lambda: taken.append(slot.take_all(5.0)))
    worker.start()
    slot.put("a", 4)
    worker.join(2.0)
    assert taken == [[("a", 4)]]
    closer = threading.Thread(target=lambda: taken.append(slot.take_all(5.0)))
    closer.start()
    slot.close()
    closer.join(2.0)
    assert not closer.is_alive() and taken == [[("a", 4)], []]


def test_latest_per_key_keeps_the_newest_of_each_key_and_hands_them_over_together():
    slot: LatestPerKey[int] = LatestPerKey()
    slot.put("cam0", 1)
    slot.put("cam1", 10)
    assert slot.put("cam0", 2) == 1  # only cam0's older frame is superseded
    assert slot.take_all(0.1) == [("cam0", 2), ("cam1", 10)] and slot.superseded == 1


def test_health_counts_and_percentiles_in_diagnostics():
    h = HealthMonitor(window_s=5.0)
    for _ in range(10):
        h.note_input()
    for latency in range(1, 101):
        h.note_output(float(latency), float(latency) / 2)
    h.note_dropped("superseded", 2)
    h.note_rejected("stale")
    h.note_rejected("empty_mask")
    h.note_rejected("low_score", 3)
    snap = h.snapshot()
    assert snap.input_rate_hz == pytest.approx(2.0) and snap.frames_in == 10 and snap.frames_out == 100
    assert snap.latency_p50_ms == pytest.approx(50.5) and snap.latency_p95_ms == pytest.approx(95.05)
    assert snap.processing_p95_ms == pytest.approx(47.525)
    msg = diagnostic_array(snap, "cleanpose_node: pipeline", "cpu", 7, min_rate_hz=1.0)
    values = {kv.key: kv.value for kv in msg.status[0].values}
    assert values["dropped_superseded"] == "2" and values["rejected_stale"] == "1" and values["rejected_empty_mask"] == "1" and values["rejected_low_score"] == "3"
    assert values["rejected_invalid_depth"] == "0" and values["rejected_invalid_size"] == "0"
    assert values["latency_p95_ms"] == "95.0"
    assert msg.status[0].level == b"\x00"
    assert "latency p50 50 ms p95 95 ms" in snap.summary() and "dropped 2 {superseded: 2}" in snap.summary()
    assert "no latency yet" in HealthMonitor().snapshot().summary()
    quiet = diagnostic_array(HealthMonitor().snapshot(), "n", "cpu", 7)
    assert quiet.status[0].level == b"\x01" and quiet.status[0].message == "no synchronised input"
    with pytest.raises(ValueError):
        h.note_dropped("lost")
    assert h.should_log("empty_mask", 60.0) and not h.should_log("empty_mask", 60.0) and h.should_log("stale", 60.0)


def test_stamp_order_refuses_old_stamps_but_follows_a_clock_reset():
    order = StampOrder()
    now = 100 * MS
    assert order.accept(50 * MS, now) and order.accept(60 * MS, now)
    assert not order.accept(60 * MS, now) and not order.accept(55 * MS, now)  # duplicate and older
    assert order.last_ns == 60 * MS and order.resets == 0
    # A looping bag: the clock itself is now behind the last stamp -> start again.
    assert order.accept(5 * MS, now_ns=10 * MS) and order.resets == 1
    assert not order.accept(4 * MS, now_ns=10 * MS)
