"""Reading what came back, with the standard library's email package: RFC 3464 delivery
status notifications (Action, Status, Final-Recipient, Diagnostic-Code), RFC 5965 feedback
reports (complaints), RFC 3834 auto-replies, and the common shapes that follow no standard
(Exim's and qmail's plain-text bounces, Microsoft's old JMRP complaints).

``parse`` never raises: a message it cannot read is a ``Report`` of kind ``unparsed``
with the reason, kept for an admin to see. It also collects what ties the report to the
message we sent: the returned message's Return-Path and envelope sender (our VERP
address) and its Message-ID.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.header
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses

from mailer.feeds.sanitise import one_line

DIAGNOSTIC_MAX = 1000
# An SMTP reply in text: the basic code, then (perhaps) an enhanced one (RFC 3463).
SMTP_REPLY = re.compile(r"(?<![\d.])([245]\d\d)(?:[ -]+([245]\.\d{1,3}\.\d{1,3}))?\b")
ENHANCED = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.]\d)")
ADDRESS = re.compile(
    r"<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63})>?"
)
# Where the returned message starts in a plain-text bounce.
RETURNED = re.compile(
    r"^(-+ ?This is a copy of the message|-+ ?Original message|-+ ?Below this line is a copy"
    r"|--- Below this line|Original message headers:|-+ ?The header of the original message)",
    re.IGNORECASE | re.MULTILINE,
)
BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery", re.IGNORECASE)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status notification|failure|has failed)|mail delivery failed"
    r"|returned mail|failure notice|delivery failure|could not be delivered|non-?delivery",
    re.IGNORECASE,
)
AUTO_REPLY_SUBJECT = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit"
    r"|absence|autoreply|auto:|r[ée]ponse automatique)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Recipient:
    """One recipient's fate as the report tells it."""

    address: str  # Final-Recipient (or Original-Rcpt-To for a complaint)
    action: str = ""  # failed, delayed, delivered, relayed, expanded ("" when not said)
    status: str = ""  # the enhanced status code, e.g. 5.1.1 ("" when none was given)
    smtp_code: int = 0  # the basic reply code in the diagnostic, e.g. 550 (0: none)
    diagnostic: str = ""  # one line, capped


@dataclass(frozen=True)
class Report:
    """A report as parsed: its kind and recipients, and what links it to our message."""

    kind: str  # bounce, delay, complaint, auto_reply, unparsed
    recipients: tuple[Recipient, ...] = ()
    feedback_type: str = ""  # for a complaint: abuse, fraud, ...
    # What names our message: the envelope sender of the returned message (our VERP
    # address), its Return-Path, its Message-ID, and its To.
    senders: tuple[str, ...] = ()
    message_id: str = ""
    reason: str = ""  # why it is unparsed
    report_id: str = ""  # the report's own Message-ID (counting it once)
    extra: dict[str, str] = field(default_factory=dict)


def parse(data: bytes) -> Report:
    """The report in ``data`` (a whole message as received)."""
    try:
        message = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception as exc:  # the parser is lenient; this is for the unforeseen
        return Report("unparsed", reason=f"not a message: {type(exc).__name__}")
    try:
        return _parse(message)
    except Exception as exc:
        return Report(
            "unparsed",
            reason=f"cannot read it: {type(exc).__name__}",
            report_id=_header(message, "Message-ID"),
        )


def _parse(message: Message) -> Report:
    report_id = _header(message, "Message-ID")
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type") or "").lower()
    if content_type == "multipart/report" or _part(message, "message/delivery-status"):
        status = _part(message, "message/delivery-status")
        feedback = _part(message, "message/feedback-report")
        if feedback is not None and (report_type == "feedback-report" or status is None):
            return _feedback(message, feedback, report_id)
        if status is not None:
            return _dsn(message, status, report_id)
        if feedback is not None:
            return _feedback(message, feedback, report_id)
    jmrp = _jmrp(message, report_id)
    if jmrp is not None:
        return jmrp
    if _looks_like_bounce(message):
        return _plain_bounce(message, report_id)
    if _is_auto_reply(message):
        return Report("auto_reply", report_id=report_id)
    return Report("unparsed", reason="not a report we know", report_id=report_id)


# --- RFC 3464 -------------------------------------------------------------------------


def _dsn(message: Message, status: Message, report_id: str) -> Report:
    blocks = _status_blocks(status)
    per_message = blocks[0] if blocks else {}
    recipients = []
    for block in blocks[1:]:
        address = _typed_address(block.get("final-recipient", "")) or _typed_address(
            block.get("original-recipient", "")
        )
        if not address:
            continue
        diagnostic = _diagnostic(block.get("diagnostic-code", ""))
        code, enhanced = _smtp_reply(diagnostic)
        status_code = _enhanced(block.get("status", "")) or enhanced
        recipients.append(
            Recipient(
                address=address,
                action=block.get("action", "").strip().lower(),
                status=status_code,
                smtp_code=code,
                diagnostic=diagnostic,
            )
        )
    if not recipients:
        return Report("unparsed", reason="a delivery status with no recipient", report_id=report_id)
    senders = [_typed_address(per_message.get("x-postfix-sender", ""))]
    senders += [_typed_address(per_message.get("original-envelope-id", ""))]
    original = _original_headers(message)
    senders += _return_paths(original)
    kind = "delay" if all(r.action == "delayed" for r in recipients) else "bounce"
    return Report(
        kind,
        tuple(recipients),
        senders=_clean(senders),
        message_id=_header(original, "Message-ID") if original else "",
        report_id=report_id,
    )


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a message/delivery-status part, names in lower case. The email
    package splits them into sub-messages; a part it could not split (encoded, or with
    odd line ends) is read as text."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list) and payload:
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): _unfold(str(v)) for k, v in block.items()})
        if any(blocks[1:]):
            return blocks
    text = _text_of(part)
    blocks = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        fields = _fields(chunk)
        if fields:
            blocks.append(fields)
    if blocks and "final-recipient" in blocks[0]:
        blocks.insert(0, {})
    return blocks


def _fields(chunk: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    name = ""
    for line in chunk.split("\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
            continue
        key, colon, value = line.partition(":")
        if colon and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key.strip()):
            name = key.strip().lower()
            fields[name] = value.strip()
    return fields


# --- RFC 5965 -------------------------------------------------------------------------


def _feedback(message: Message, part: Message, report_id: str) -> Report:
    fields = _first_block(part)
    original = _original_headers(message)
    recipients = [_typed_address(fields.get("original-rcpt-to", ""))]
    if original is not None:
        recipients += [a for _, a in getaddresses([_header(original, "To")])]
    address = next((a for a in _clean(recipients) if "@" in a), "")
    senders = [_typed_address(fields.get("original-mail-from", ""))]
    senders += _return_paths(original)
    feedback_type = fields.get("feedback-type", "").strip().lower() or "abuse"
    return Report(
        "complaint",
        (Recipient(address=address, diagnostic=one_line(f"feedback report: {feedback_type}")),),
        feedback_type=feedback_type,
        senders=_clean(senders),
        message_id=_header(original, "Message-ID") if original else "",
        report_id=report_id,
        extra={"user-agent": fields.get("user-agent", "")[:200]},
    )


def _first_block(part: Message) -> dict[str, str]:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        fields = {k.lower(): _unfold(str(v)) for k, v in payload[0].items()}
        if fields:
            return fields
    return _fields(_text_of(part).replace("\r\n", "\n"))


def _jmrp(message: Message, report_id: str) -> Report | None:
    """Microsoft's older junk mail reports (JMRP): multipart/mixed with the reported
    message attached, its recipient in X-HmXmrOriginalRecipient."""
    attached = _part(message, "message/rfc822")
    if attached is None:
        return None
    inner = _inner_message(attached)
    if inner is None:
        return None
    recipient = _header(inner, "X-HmXmrOriginalRecipient")
    if not recipient:
        return None
    return Report(
        "complaint",
        (Recipient(address=recipient.strip("<> "), diagnostic="feedback report: abuse (JMRP)"),),
        feedback_type="abuse",
        senders=_clean(_return_paths(inner)),
        message_id=_header(inner, "Message-ID"),
        report_id=report_id,
    )


# --- shapes without a standard ----------------------------------------------------------


def _looks_like_bounce(message: Message) -> bool:
    sender = _header(message, "From")
    subject = _header(message, "Subject")
    null_sender = _header(message, "Return-Path").strip() == "<>"
    return bool(BOUNCE_SUBJECT.search(subject)) and (
        null_sender or bool(BOUNCE_SENDER.search(sender))
    )


def _plain_bounce(message: Message, report_id: str) -> Report:
    """Exim's "Mail delivery failed", qmail's "failure notice", and their kin: the
    recipient and the remote server's reply are in the text."""
    text = _body_text(message).replace("\r\n", "\n")
    returned = RETURNED.search(text)
    notice, original_text = text, ""
    if returned:
        line_end = text.find("\n", returned.end())
        notice = text[: returned.start()]
        original_text = text[line_end + 1 :] if line_end >= 0 else ""
    code, enhanced, diagnostic = 0, "", ""
    for line_no, line in enumerate(notice.split("\n")):
        found = SMTP_REPLY.search(line)
        if found and not line.strip().lower().startswith(("arrival-date", "date")):
            code = int(found.group(1))
            enhanced = found.group(2) or ""
            rest = " ".join(notice.split("\n")[line_no : line_no + 3])
            diagnostic = _diagnostic(rest[rest.find(found.group(1)) :])
            if not enhanced:
                more = ENHANCED.search(diagnostic)
                enhanced = more.group(1) if more else ""
            break
    own = {a.lower() for _, a in getaddresses([_header(message, "From")])}
    candidates = [a for a in ADDRESS.findall(diagnostic) if a.lower() not in own]
    candidates += [a for a in ADDRESS.findall(notice) if a.lower() not in own]
    original = _inner_message_of(message) or _headers_from_text(original_text)
    if not candidates or (code == 0 and not enhanced):
        return Report(
            "unparsed", reason="a bounce without a recipient or a reply code", report_id=report_id
        )
    senders = _return_paths(original)
    if original is not None:
        # The recipient is the returned message's addressee when the text names several.
        to = [a for _, a in getaddresses([_header(original, "To")]) if a]
        if to and to[0].lower() in {c.lower() for c in candidates}:
            candidates.insert(0, to[0])
    kind = "delay" if code // 100 == 4 or enhanced.startswith("4.") else "bounce"
    recipient = Recipient(
        address=candidates[0],
        action="delayed" if kind == "delay" else "failed",
        status=enhanced,
        smtp_code=code,
        diagnostic=diagnostic,
    )
    return Report(
        kind,
        (recipient,),
        senders=_clean(senders),
        message_id=_header(original, "Message-ID") if original else "",
        report_id=report_id,
    )


def _is_auto_reply(message: Message) -> bool:
    """RFC 3834's Auto-Submitted: auto-replied, and the headers and subjects of vacation
    programs that predate it."""
    if _header(message, "Auto-Submitted").lower().startswith("auto-replied"):
        return True
    if any(_header(message, name) for name in ("X-Autoreply", "X-Autorespond", "X-Autoreply-From")):
        return True
    if _header(message, "Precedence").lower() == "auto_reply":
        return True
    return bool(AUTO_REPLY_SUBJECT.search(_header(message, "Subject")))


# --- helpers ------------------------------------------------------------------------------


def _header(message: Message | None, name: str) -> str:
    if message is None:
        return ""
    value = message.get(name)
    if value is None:
        return ""
    try:
        text = str(email.header.make_header(email.header.decode_header(str(value))))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        text = str(value)
    return one_line(text)[:DIAGNOSTIC_MAX]


def _unfold(value: str) -> str:
    return " ".join(value.split())


def _part(message: Message, content_type: str) -> Message | None:
    """The first part of this type, looking into multiparts but not into attached
    messages (a bounce of a bounce stays the outer report)."""
    if message.get_content_type() == content_type:
        return message
    if message.is_multipart() and message.get_content_maintype() == "multipart":
        for sub in message.get_payload():
            if isinstance(sub, Message):
                found = _part(sub, content_type)
                if found is not None:
                    return found
    return None


def _inner_message(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _inner_message_of(message: Message) -> Message | None:
    attached = _part(message, "message/rfc822")
    return _inner_message(attached) if attached is not None else None


def _original_headers(message: Message) -> Message | None:
    """The headers of the message the report is about: an attached message/rfc822, or a
    text/rfc822-headers part."""
    inner = _inner_message_of(message)
    if inner is not None:
        return inner
    headers = _part(message, "text/rfc822-headers")
    if headers is None:
        return None
    return _headers_from_text(_text_of(headers))


def _headers_from_text(text: str) -> Message | None:
    text = text.lstrip("\r\n")
    if not text or ":" not in text.split("\n", 1)[0]:
        return None
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    parsed = email.message_from_string(head + "\n\n", policy=email.policy.compat32)
    return parsed if len(parsed) else None


def _return_paths(original: Message | None) -> list[str]:
    if original is None:
        return []
    return [a for _, a in getaddresses(original.get_all("Return-Path") or [])]


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            return payload.decode("utf-8", errors="replace")
    raw = part.get_payload()
    if isinstance(raw, list):
        text = "\n\n".join(m.as_string() for m in raw if isinstance(m, Message))
        if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
            try:
                return base64.b64decode("".join(text.split())).decode("utf-8", "replace")
            except (ValueError, binascii.Error):
                return text
        return text
    return str(raw)


def _body_text(message: Message) -> str:
    """The first text/plain part (or the body of a one-part message)."""
    if not message.is_multipart():
        return _text_of(message)
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            return _text_of(part)
    return ""


def _typed_address(value: str) -> str:
    """``rfc822; bob@example.org`` -> ``bob@example.org``."""
    _, semicolon, rest = value.partition(";")
    address = (rest if semicolon else value).strip().strip("<>").strip()
    return address if "@" in address else ""


def _diagnostic(value: str) -> str:
    """``smtp; 550 5.1.1 ...`` -> ``550 5.1.1 ...``, on one line and capped."""
    value = _unfold(value)
    kind, semicolon, rest = value.partition(";")
    if semicolon and re.fullmatch(r"[A-Za-z-]+", kind.strip()):
        value = rest.strip()
    return one_line(value)[:DIAGNOSTIC_MAX]


def _smtp_reply(diagnostic: str) -> tuple[int, str]:
    found = SMTP_REPLY.search(diagnostic)
    if found is None:
        enhanced = ENHANCED.search(diagnostic)
        return 0, enhanced.group(1) if enhanced else ""
    return int(found.group(1)), found.group(2) or ""


def _enhanced(value: str) -> str:
    found = ENHANCED.search(value)
    return found.group(1) if found else ""


def _clean(values: list[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        value = value.strip().strip("<>").strip()
        if value and value not in seen:
            seen.append(value)
    return tuple(seen)
