"""neuralab playground from the command line: it serves the page on 127.0.0.1 and stops cleanly."""

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from helpers import sigint_default
from neuralab.cli import main


def test_playground_serves_the_page_and_stops_on_ctrl_c(tmp_path):
    exe = Path(sys.executable).parent / "neuralab"
    proc = subprocess.Popen([str(exe), "playground", "--port", "0", "--no-browser",
                             "--runs-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=sigint_default)
    try:
        line = ""
        deadline = time.time() + 30
        while time.time() < deadline:
            line = proc.stdout.readline()
            if "http://127.0.0.1:" in line:
                break
        url = re.search(r"http://127\.0\.0\.1:\d+/?", line).group(0)
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "<canvas" in page and "neuralab" in page.lower()
        defaults = urllib.request.urlopen(url.rstrip("/") + "/api/defaults", timeout=10).read()
        assert b"spiral" in defaults
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode in (0, 130)


def test_playground_refuses_a_bad_port(capsys):
    code = main(["playground", "--port", "70000", "--no-browser"])
    err = capsys.readouterr().err
    assert code == 2 and "port must be" in err and len(err.strip().splitlines()) == 1
