"""The public web archive of digest issues: a list, one issue per page, and an RSS feed,
in the page's language (``?lang=fr``; ``mailer.digest_archive``): a language lists the
issues that carry stories in it, each as its readers got it."""

from __future__ import annotations

from email.utils import format_datetime
from xml.etree import ElementTree

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from mailer import i18n
from mailer.db import session_scope
from mailer.digest_archive import issue_in, issues_in
from mailer.web.pages import factory_of, page_language, render, settings_of

router = APIRouter()


def _suffix(language: str) -> str:
    """The query that keeps a link in ``language`` (none for English)."""
    return "" if language == i18n.DEFAULT else f"?lang={language}"


@router.get("/archive")
def archive(request: Request) -> Response:
    language = page_language(request)
    with session_scope(factory_of(request)) as session:
        issues = issues_in(language, settings=settings_of(request), session=session)
    context = {"issues": issues, "lang_query": _suffix(language)}
    return render(request, "archive.html", context)


@router.get("/archive/feed.xml")
def archive_feed(request: Request) -> Response:
    settings = settings_of(request)
    language = i18n.supported(request.query_params.get("lang")) or i18n.DEFAULT
    suffix = _suffix(language)
    rss = ElementTree.Element("rss", version="2.0")
    channel = ElementTree.SubElement(rss, "channel")
    with i18n.use_language(language):
        for tag, text in (
            ("title", i18n.gettext("R2P weekly digest")),
            ("link", f"{settings.base_url}/archive{suffix}"),
            (
                "description",
                i18n.gettext(
                    "Weekly news on atrocity prevention and the Responsibility to Protect."
                ),
            ),
            ("language", language),
        ):
            ElementTree.SubElement(channel, tag).text = text
        with session_scope(factory_of(request)) as session:
            issues = issues_in(language, settings=settings, session=session)[:50]
        for issue in issues:
            item = ElementTree.SubElement(channel, "item")
            url = f"{settings.base_url}/archive/{issue['key']}{suffix}"
            ElementTree.SubElement(item, "title").text = issue["subject"]
            ElementTree.SubElement(item, "link").text = url
            ElementTree.SubElement(item, "guid", isPermaLink="true").text = url
            ElementTree.SubElement(item, "pubDate").text = format_datetime(issue["date"])
            ElementTree.SubElement(item, "description").text = i18n.ngettext(
                "%(count)s item from the UN and the Global Centre for the Responsibility to "
                "Protect.",
                "%(count)s items from the UN and the Global Centre for the Responsibility to "
                "Protect.",
                issue["count"],
            ) % {"count": i18n.locale_number(issue["count"])}
    body = ElementTree.tostring(rss, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/rss+xml; charset=utf-8")


@router.get("/archive/{key}")
def archive_page(request: Request, key: str) -> Response:
    language = page_language(request)
    with session_scope(factory_of(request)) as session:
        issue = issue_in(key, language, settings=settings_of(request), session=session)
    if issue is None:
        raise HTTPException(status_code=404, detail="No such issue")
    return render(request, "archive_issue.html", {**issue, "lang_query": _suffix(language)})
