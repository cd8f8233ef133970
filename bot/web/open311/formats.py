"""GeoReport v2 documents as JSON and XML (the spec requires XML; JSON is optional)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"


def w3_datetime(moment: datetime | None) -> str | None:
    """A W3C datetime with Vietnam's offset, e.g. 2026-11-02T09:30:00+07:00."""
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds") if moment else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _append(parent: ET.Element, tag: str, value: Any, item_tags: Mapping[str, str]) -> None:
    child = ET.SubElement(parent, tag)
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _append(child, key, inner, item_tags)
    elif isinstance(value, list | tuple):
        item = item_tags.get(tag, "item")
        for inner in value:
            _append(child, item, inner, item_tags)
    else:
        child.text = _text(value)


def to_xml(
    root: str,
    item: str | None,
    data: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    item_tags: Mapping[str, str] | None = None,
) -> str:
    """`data` as GeoReport XML: a list under <root><item>…, or one mapping under <root>.

    `item_tags` names the elements of nested lists (endpoints → endpoint, formats → format).
    """
    tags = dict(item_tags or {})
    top = ET.Element(root)
    if isinstance(data, Mapping):
        for key, value in data.items():
            _append(top, key, value, tags)
    else:
        for entry in data:
            _append(top, item or "item", entry, tags)
    body = ET.tostring(top, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body
