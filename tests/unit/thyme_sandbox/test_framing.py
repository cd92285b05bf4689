"""Frames between service and worker survive a pipe, blobs included."""

import os

import pytest

from thyme_sandbox import framing


def test_a_frame_with_blobs_round_trips_through_a_pipe():
    read_fd, write_fd = os.pipe()
    try:
        framing.write_all(write_fd, framing.encode({"status": "ok", "stdout": "é"}, [b"\x00" * 10, b"png"]))
        header, blobs = framing.read_frame(read_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert header["status"] == "ok" and header["stdout"] == "é"
    assert blobs == [b"\x00" * 10, b"png"]


def test_a_closed_channel_is_a_frame_error():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"\x00\x00")
    os.close(write_fd)
    with pytest.raises(framing.FrameError, match="closed"):
        framing.read_frame(read_fd)
    os.close(read_fd)


def test_an_absurd_length_is_refused_before_reading():
    with pytest.raises(framing.FrameError, match="exceeds"):
        framing.header_length(b"\xff\xff\xff\xff")


def test_a_header_that_is_not_json_is_a_frame_error():
    with pytest.raises(framing.FrameError, match="not JSON"):
        framing.decode_header(b"{nope")
