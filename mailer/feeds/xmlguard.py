"""Refusing feed XML that declares a DTD or an entity, wherever it sits, in any encoding.

Billion-laughs, quadratic-blowup and external-entity (XXE) attacks all need a declaration
in a document type; real feeds carry none. The check runs on the document exactly as
feedparser will read it: decoded by feedparser's own ``convert_to_utf8`` with the same
Content-Type, so an encoding (EBCDIC, UTF-7, UTF-16/32 with or without a BOM) or padding
(a long comment) cannot hide a declaration from it. Then:

- the prolog as feedparser cuts it (everything before the first ``<letter``) may not
  contain ``<!DOCTYPE`` or ``<!ENTITY`` at all, since feedparser rewrites the prolog and
  keeps short entity declarations found there, even outside a DTD;
- defusedxml's expat reader, configured as feedparser's strict parser is (namespaces on),
  reads the whole document with DTDs, entity declarations and external references
  forbidden, so a DTD anywhere expat would accept one is refused;
- if the XML is malformed (expat stops early), any ``<!DOCTYPE`` or ``<!ENTITY`` left
  outside CDATA sections refuses the document too.

Named HTML entities in escaped content (``&amp;nbsp;``) or CDATA are text, not
declarations, and pass.
"""

from __future__ import annotations

import io
import re
import xml.sax
import xml.sax.handler
from typing import cast

from defusedxml import DefusedXmlException
from defusedxml.expatreader import create_parser
from feedparser.encodings import convert_to_utf8

from mailer.errors import FeedParseError

REFUSAL = (
    "the document declares XML entities or a DTD (a billion-laughs or external-entity "
    "attack, or a very unusual feed); refused without parsing"
)

# Where feedparser's replace_doctype ends the prolog it rewrites.
_FIRST_ELEMENT = re.compile(rb"<\w")
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_CDATA = re.compile(rb"<!\[CDATA\[.*?\]\]>", re.DOTALL)
# An HTML page (an error page, a site's home page) declares <!DOCTYPE html>.
_HTML_DOCTYPE = re.compile(rb"<!\s*DOCTYPE\s+html\b[^\[>]*>", re.IGNORECASE)
_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


def _refusal(data: bytes) -> FeedParseError:
    if _HTML_DOCTYPE.search(data) and not _ENTITY.search(data):
        return FeedParseError(
            "the body is an HTML page (<!DOCTYPE html>), not an RSS or Atom feed; "
            "check the source URL"
        )
    return FeedParseError(REFUSAL)


def decoded_as_feedparser_reads_it(body: bytes, content_type: str | None) -> bytes:
    """The UTF-8 document feedparser parses for ``body`` served with ``content_type``."""
    headers = {"content-type": content_type} if content_type else {}
    return cast(bytes, convert_to_utf8(headers, body, {}))


def _strictly_well_formed(data: bytes) -> bool:
    """Read ``data`` with expat as feedparser's strict parser would, with every DTD,
    entity declaration and external reference forbidden; False if it is malformed."""
    parser = create_parser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setFeature(xml.sax.handler.feature_namespaces, True)
    parser.setContentHandler(xml.sax.handler.ContentHandler())
    try:
        parser.parse(io.BytesIO(data))
    except DefusedXmlException:
        raise _refusal(data) from None
    except xml.sax.SAXException:
        return False
    return True


def refuse_declarations(body: bytes, *, content_type: str | None) -> None:
    """Raise FeedParseError if the document declares a DTD or an entity anywhere."""
    data = decoded_as_feedparser_reads_it(body, content_type)
    first = _FIRST_ELEMENT.search(data)
    prolog = data[: first.start()] if first else data
    if _DECLARATION.search(prolog):
        raise _refusal(data)
    if not _strictly_well_formed(data) and _DECLARATION.search(_CDATA.sub(b"", data)):
        raise _refusal(data)
