"""A Maildir write that fails (the disk full, here the file-size limit of a real process)
leaves no file behind in ``tmp/`` or ``new/``, and is a retry for the delivery, not a
crash or a lost message; once the disk has room the same message is stored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import PROJECT

SCRIPT = """
import asyncio, json, resource, signal, sys
from pathlib import Path
from mailer.sending.maildir import MaildirSender

box = Path(sys.argv[1])
sender = MaildirSender(box)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
message = b"Subject: digest\\r\\n\\r\\n" + b"x" * 20000
full = asyncio.run(sender.send("bounces@example.org", "reader@example.org", message))
left = sorted(p.name for d in ("tmp", "new") for p in (box / d).iterdir())
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
again = asyncio.run(sender.send("bounces@example.org", "reader@example.org", message))
print(json.dumps({"full": [full.verdict, full.reply], "left": left,
                  "again": again.verdict, "new": len(list((box / "new").iterdir())),
                  "tmp": len(list((box / "tmp").iterdir()))}))
"""


def test_a_failed_maildir_write_leaves_no_file_and_is_retried(tmp_path: Path) -> None:
    import json

    root = PROJECT
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "var" / "maildir")],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["full"][0] == "retry" and "Maildir" in outcome["full"][1]
    assert outcome["left"] == []  # no orphan in tmp/, nothing half-written in new/
    assert outcome["again"] == "sent" and outcome["new"] == 1 and outcome["tmp"] == 0
