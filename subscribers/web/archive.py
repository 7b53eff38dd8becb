"""The public web archive of digest issues: a list, one issue per page, and an RSS feed."""

from __future__ import annotations

from email.utils import format_datetime
from xml.etree import ElementTree

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from mailer.db import session_scope
from mailer.digest import archive_issue, archive_issues
from mailer.web.pages import factory_of, render, settings_of

router = APIRouter()


@router.get("/archive")
def archive(request: Request) -> Response:
    with session_scope(factory_of(request)) as session:
        issues = [
            {
                "key": c.key,
                "subject": c.subject,
                "date": c.approved_at or c.created_at,
                "count": len(c.context["item_ids"]),
            }
            for c in archive_issues(session=session)
        ]
    return render(request, "archive.html", {"issues": issues})


@router.get("/archive/feed.xml")
def archive_feed(request: Request) -> Response:
    settings = settings_of(request)
    rss = ElementTree.Element("rss", version="2.0")
    channel = ElementTree.SubElement(rss, "channel")
    for tag, text in (
        ("title", "R2P weekly digest"),
        ("link", f"{settings.base_url}/archive"),
        ("description", "Weekly news on atrocity prevention and the Responsibility to Protect."),
        ("language", "en"),
    ):
        ElementTree.SubElement(channel, tag).text = text
    with session_scope(factory_of(request)) as session:
        for campaign in archive_issues(session=session)[:50]:
            item = ElementTree.SubElement(channel, "item")
            url = f"{settings.base_url}/archive/{campaign.key}"
            ElementTree.SubElement(item, "title").text = campaign.subject
            ElementTree.SubElement(item, "link").text = url
            ElementTree.SubElement(item, "guid", isPermaLink="true").text = url
            ElementTree.SubElement(item, "pubDate").text = format_datetime(
                campaign.approved_at or campaign.created_at
            )
            ElementTree.SubElement(item, "description").text = (
                f"{len(campaign.context['item_ids'])} items from the UN and the Global Centre "
                "for the Responsibility to Protect."
            )
    body = ElementTree.tostring(rss, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/rss+xml; charset=utf-8")


@router.get("/archive/{key}")
def archive_page(request: Request, key: str) -> Response:
    with session_scope(factory_of(request)) as session:
        issue = archive_issue(key, settings=settings_of(request), session=session)
    if issue is None:
        raise HTTPException(status_code=404, detail="No such issue")
    return render(request, "archive_issue.html", issue)
