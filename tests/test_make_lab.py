"""``make lab`` starts JupyterLab (as root too: the project's containers run as root),
prints the URL to open, and that URL answers."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"http://127\.0\.0\.1:\d+/lab\?token=\w+")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, *, within_s: float) -> str:
    """The page at ``url``; Jupyter logs its URL just before it starts accepting connections."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.read().decode()
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_prints_a_url_that_answers(tmp_path):
    # -o: treat the installed venv as up to date, so the test never reinstalls it
    command = ["make", "-s", "-o", ".venv/.installed", "lab", f"LAB_PORT={_free_port()}"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_DATA_DIR": str(tmp_path)}
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so stopping it stops Jupyter too
    )
    lines = []
    try:
        deadline = time.monotonic() + 120
        url = None
        while url is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                break
            lines.append(line)
            found = URL.search(line)
            url = found.group(0) if found else None
        output = "".join(lines)
        assert "Running as root is not recommended" not in output
        assert url is not None, f"no URL printed (uid {os.getuid()}):\n{output}"
        assert "JupyterLab" in _get(url, within_s=60)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
