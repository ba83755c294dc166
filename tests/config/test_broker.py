"""The embedded default's broker writes each message whole before a worker can see it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

import config.celery  # noqa: F401  (registers the transport)
from config import broker


def test_filesystem_messages_appear_only_once_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    seen_before_rename: list[list[str]] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        # What a polling worker could find while the message is being written.
        seen_before_rename.append(sorted(os.listdir(tmp_path)))
        real_replace(src, dst)

    monkeypatch.setattr(broker.os, "replace", replace)
    with Connection("filesystem://", transport_options=options) as conn:
        assert isinstance(conn.transport, broker.Transport)
        queue = conn.SimpleQueue("jobs")
        queue.put({"task": "x", "n": 1})
        assert seen_before_rename and all(
            not name.endswith(".jobs.msg") for name in seen_before_rename[-1]
        ), seen_before_rename
        assert queue.get(timeout=1).payload == {"task": "x", "n": 1}
        queue.close()
