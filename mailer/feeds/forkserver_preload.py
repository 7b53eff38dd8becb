"""Imported only inside the feed parser's fork server (mailer/feeds/isolate.py), never by
the poller itself: loads the parser once, and stops the server's children from importing
the poller's main script again.

multiprocessing makes every child of a fork server re-import the parent's ``__main__``
(for ``r2p-mailer`` the whole CLI, about a second), and its "__main__" preload, meant to
do that once in the server, does not take effect (CPython passes the server no main
path). The parse child's target lives in mailer.feeds.isolate, so it needs no main.
"""

from __future__ import annotations

import multiprocessing.spawn

import mailer.feeds.isolate  # noqa: F401 - the point: load the parser before forking


def _no_main(_main: str) -> None:
    """The parse child runs mailer.feeds.isolate._child; the main script is not needed."""


multiprocessing.spawn._fixup_main_from_path = _no_main  # type: ignore[attr-defined]
multiprocessing.spawn._fixup_main_from_name = _no_main  # type: ignore[attr-defined]
