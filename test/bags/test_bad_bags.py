"""Unusable bags give one clear line naming what is missing (BagError; the CLI exits 2), never a
traceback: missing topics, truncated files, unknown message types, no camera info."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from cleanpose_ros.bags.errors import BagError
from cleanpose_ros.bags.reader import check_bag, open_bag
from cleanpose_ros.bags.topics import BagTopics
from cleanpose_ros.bags.typestore import build_typestore
from cleanpose_ros.tools import replay as replay_tool

T = BagTopics()
ROOT = Path(__file__).resolve().parents[2]


def copy_bag(src: Path, dst: Path, drop: tuple[str, ...] = (), drop_messages: tuple[str, ...] = (),
             retype: dict[str, str] | None = None) -> Path:
    """A copy of `src` without the topics `drop`, with the messages of `drop_messages` left out
    (the topic stays, empty), and with topics declared as another (unknown) type."""
    retype = retype or {}
    with Reader(src) as reader, Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for c in reader.connections:
            if c.topic in drop:
                continue
            if c.topic in retype:
                conns[c.id] = writer.add_connection(c.topic, retype[c.topic], msgdef="uint8[] data",
                                                    rihs01="RIHS01_" + "0" * 64)
            else:
                conns[c.id] = writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
        for c, t, data in reader.messages():
            if c.id in conns and c.topic not in drop_messages:
                writer.write(conns[c.id], t, data)
    return dst


def _refusal(bag: Path, weights: Path, out: Path, capsys) -> str:
    assert replay_tool.main(["--bag", str(bag), "--weights", str(weights), "--out", str(out), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_missing_topics_are_named(bag, weights, tmp_path, capsys):
    bad = copy_bag(bag, tmp_path / "bad", drop=(T.depth, T.detections))
    err = _refusal(bad, weights, tmp_path / "out", capsys)
    assert "missing topic(s) depth (/depth/image_raw), detections (/segmentation/detections)" in err
    assert "/color/image_raw" in err  # what the bag does have


def test_no_camera_info(bag, weights, tmp_path, capsys):
    no_topic = copy_bag(bag, tmp_path / "no_topic", drop=(T.camera_info,))
    assert "missing topic(s) camera_info (/color/camera_info)" in _refusal(no_topic, weights, tmp_path / "o1", capsys)
    empty = copy_bag(bag, tmp_path / "empty", drop_messages=(T.camera_info,))
    assert "no camera info: topic /color/camera_info has no messages" in _refusal(empty, weights, tmp_path / "o2", capsys)


def test_unknown_message_type(bag, weights, tmp_path, capsys):
    bad = copy_bag(bag, tmp_path / "bad", retype={T.mask: "acme_msgs/msg/Blob"})
    err = _refusal(bad, weights, tmp_path / "out", capsys)
    assert "unknown message type acme_msgs/msg/Blob on /segmentation/mask (mask); expected sensor_msgs/msg/Image" in err


def test_wrong_message_type(bag, tmp_path):
    store = build_typestore()
    with Reader(bag) as src, Writer(tmp_path / "bad", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        for c in src.connections:  # a camera-info stream recorded under the colour topic's name
            msgtype = "sensor_msgs/msg/CameraInfo" if c.topic == T.color else c.msgtype
            w.add_connection(c.topic, msgtype, typestore=store)
    reader = open_bag(tmp_path / "bad")
    with pytest.raises(BagError, match="topic /color/image_raw \\(color\\) has type sensor_msgs/msg/CameraInfo, "
                                       "expected sensor_msgs/msg/Image"):
        check_bag(reader, T, store)
    reader.close()


def test_truncated_file(bag, weights, tmp_path, capsys):
    cut = tmp_path / "cut"
    cut.mkdir()
    for f in bag.iterdir():
        (cut / f.name).write_bytes(f.read_bytes())
    mcap = next(cut.glob("*.mcap"))
    os.truncate(mcap, mcap.stat().st_size // 2)
    err = _refusal(cut, weights, tmp_path / "out", capsys)
    assert f"{cut} is not a readable rosbag2 (truncated or corrupt?)" in err


def test_not_a_bag(weights, tmp_path, capsys):
    assert f"no bag at {tmp_path / 'nope'}" in _refusal(tmp_path / "nope", weights, tmp_path / "o1", capsys)
    (tmp_path / "folder").mkdir()
    assert "is not a readable rosbag2" in _refusal(tmp_path / "folder", weights, tmp_path / "o2", capsys)


def test_console_script_exit_status_and_single_line(bag, tmp_path):
    """The real process: exit 2 and one error line on stderr (no traceback), before loading weights."""
    bad = copy_bag(bag, tmp_path / "bad", drop=(T.mask,))
    proc = subprocess.run([sys.executable, "-m", "cleanpose_ros.tools.replay", "--bag", str(bad), "--out",
                           str(tmp_path / "out"), "--weights", str(tmp_path / "no_weights.pt")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("cleanpose-replay:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr


def test_extra_topics_of_unknown_types_are_copied_not_refused(bag, weights, tmp_path):
    """Robot bags carry more than the node's inputs: an unknown type on another topic is no error."""
    extra = tmp_path / "extra"
    with Reader(bag) as src, Writer(extra, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {c.id: w.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
                 for c in src.connections}
        blob = w.add_connection("/robot/blob", "acme_msgs/msg/Blob", msgdef="uint8[] data", rihs01="RIHS01_" + "0" * 64)
        for c, t, data in src.messages():
            w.write(conns[c.id], t, data)
        w.write(blob, 1_700_000_000_000_000_000, b"\x00\x01\x00\x00\x03\x00\x00\x00abc")
    out = tmp_path / "out"
    assert replay_tool.main(["--bag", str(extra), "--weights", str(weights), "--out", str(out), "--no-plots",
                             "--threads", "1"]) == 0
    with Reader(out / "bag") as reader:
        copied = [(c.msgtype, data) for c, _, data in reader.messages() if c.topic == "/robot/blob"]
    assert copied == [("acme_msgs/msg/Blob", b"\x00\x01\x00\x00\x03\x00\x00\x00abc")]


def test_streams_that_never_synchronise(bag, weights, tmp_path, capsys):
    """Depth stamped 10 s after colour (a clock offset between two drivers): no frame, a clear error."""
    store = build_typestore()
    shifted = tmp_path / "shifted"
    with Reader(bag) as src, Writer(shifted, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {c.id: w.add_connection(c.topic, c.msgtype, typestore=store) for c in src.connections}
        for c, t, data in src.messages():
            if c.topic == T.depth:
                msg = store.deserialize_cdr(data, c.msgtype)
                msg.header.stamp.sec += 10
                data = store.serialize_cdr(msg, c.msgtype)
            w.write(conns[c.id], t, data)
    err = _refusal(shifted, weights, tmp_path / "out", capsys)
    assert "no synchronised frame (colour, depth, mask, detections never share a stamp within 20.0 ms)" in err
