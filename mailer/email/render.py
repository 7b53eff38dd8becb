"""Rendering an email: ``templates/email/<name>/{subject.txt, body.txt, body.html}``.

One ``render_email(name, ctx)`` returns subject, plain text and HTML (CSS inlined). Values
that differ per reader (address, links) are left as slot markers here and filled in later
by ``mailer.email.compose`` without rendering again.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate, parseaddr
from functools import lru_cache
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailer import i18n
from mailer.config import Settings
from mailer.feeds.sanitise import one_line
from mailer.resources import TEMPLATES_DIR

TEMPLATES = TEMPLATES_DIR
# Slot markers carry a secret drawn per process: text from a feed or an admin cannot
# contain one, so it can never be mistaken for a reader's address or signed link.
_NONCE = secrets.token_hex(8)
SLOT_PATTERN = re.compile(rf"R2PSLOT_{_NONCE}_([a-z_]+)_R2PEND")
SLOTS = (
    "address",
    "message_id",
    "date",
    "unsubscribe_url",
    "preferences_url",
    "confirm_url",
    "data_url",
)
TEXT_WIDTH = 76
HTML_LINE = 800  # SMTP allows 998 octets a line; leave room for filled-in slots


def slot(name: str) -> str:
    assert name in SLOTS, name
    return f"R2PSLOT_{_NONCE}_{name}_R2PEND"


def reader_links() -> dict[str, str]:
    """What templates use for per-reader values: ``{{ links.unsubscribe }}`` and so on."""
    return {
        "address": slot("address"),
        "unsubscribe": slot("unsubscribe_url"),
        "preferences": slot("preferences_url"),
        "confirm": slot("confirm_url"),
        "data": slot("data_url"),
    }


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str

    def with_slots(self, values: dict[str, str]) -> RenderedEmail:
        """The email with its reader slots filled (previews; sending uses compose)."""

        def fill(text: str) -> str:
            return SLOT_PATTERN.sub(lambda m: values.get(m.group(1), ""), text)

        return RenderedEmail(fill(self.subject), fill(self.text), fill(self.html))


def reader_date(value: datetime, style: str = "long") -> str:
    """The mail's one date format, ``2 December 2026`` (``2 Dec`` in the short style); in
    another language of the rendering under way, as that language writes dates
    (``2 décembre 2026``, ``2026年12月2日``, Babel)."""
    if i18n.current() != i18n.DEFAULT:
        return i18n.locale_day_month(value) if style == "short" else i18n.locale_date(value)
    if style == "short":
        return f"{value.day} {value:%b}"
    return f"{value.day} {value:%B %Y}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["reader_date"] = reader_date
    i18n.install(env)
    return env


def wrap_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap long lines (URLs and slots are never broken), keep short ones as they are."""
    lines = []
    for line in text.splitlines():
        if len(line) <= width:
            lines.append(line.rstrip())
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lines.extend(
            textwrap.wrap(
                line.strip(),
                width,
                initial_indent=indent,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines).strip("\n") + "\n"


def wrap_html(html: str, limit: int = HTML_LINE) -> str:
    """Break over-long lines between tags so no line nears SMTP's 998-octet limit."""
    out = []
    for line in html.splitlines():
        while len(line) > limit:
            cut = line.rfind(">", 0, limit)
            if cut <= 0:
                cut = line.rfind(" ", 0, limit)
            if cut <= 0:
                break
            out.append(line[: cut + 1])
            line = line[cut + 1 :]
        out.append(line)
    return "\n".join(out)


# Inline every rule; keep @media (phone widths, dark mode) in a <style> for clients that read it.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def render_email(name: str, ctx: dict[str, Any]) -> RenderedEmail:
    """Subject, text and HTML of ``templates/email/<name>/`` rendered with ``ctx``, in
    ``ctx["language"]`` (English when absent)."""
    env = environment()
    full = {"links": reader_links(), "postal_address": "", "reply_to": "", **ctx}
    with i18n.use_language(str(ctx.get("language") or i18n.DEFAULT)):
        subject = one_line(env.get_template(f"email/{name}/subject.txt").render(full))
        full["email_subject"] = subject  # as rendered, for the HTML <title>
        text = wrap_text(env.get_template(f"email/{name}/body.txt").render(full))
        html = env.get_template(f"email/{name}/body.html").render(full)
    return RenderedEmail(subject=subject, text=text, html=wrap_html(_INLINER.inline(html)))


def site_context(settings: Settings) -> dict[str, str]:
    """What every email's layout shows of the sender: the site, and when set, the postal
    address and the address replies reach (R2P_POSTAL_ADDRESS, R2P_REPLY_TO)."""
    return {
        "base_url": settings.base_url,
        "postal_address": settings.postal_address,
        "reply_to": parseaddr(settings.reply_to)[1] if settings.reply_to else "",
    }


def preview_values(settings: Settings, address: str) -> dict[str, str]:
    """Stand-ins for a reader's links in a preview: they lead to an 'invalid link' page."""
    return {
        "address": address,
        "message_id": f"preview@{settings.mail_domain}",
        "date": formatdate(usegmt=True),
        "unsubscribe_url": f"{settings.base_url}/unsubscribe/preview",
        "preferences_url": f"{settings.base_url}/preferences/preview",
        "confirm_url": f"{settings.base_url}/confirm/preview",
        "data_url": f"{settings.base_url}/data/preview",
    }
