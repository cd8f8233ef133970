"""Telegram's text formatting as its parser reads it: HTML, MarkdownV2, Markdown."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from bot.fakes.telegram.models import _bad


def _u16(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units (Telegram offsets)."""
    return len(text.encode("utf-16-le")) // 2


_SPACES = frozenset(" \t\r\n\v\f\0")


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)


_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}


_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


# As Telegram (tdlib's decode_html_entity): the ";" is optional, hex references take a
# lower-case "x", and a reference that names no character is kept as literal text.
_HTML_ENTITY = re.compile(r"&(?:#x([0-9a-fA-F]{1,16})|#([0-9]{1,16})|([a-zA-Z]+));?")


class _ParseError(Exception):
    """Raised by the formatting parsers with Telegram's wording."""


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML entity at ``pos``; return (character, consumed length) or None."""
    match = _HTML_ENTITY.match(text, pos)
    if match is None:
        return None
    hexa, dec, name = match.groups()
    if name is not None:
        char = _HTML_NAMED.get(name)
        return (char, match.end() - pos) if char is not None else None
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end() - pos


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into plain text and entities, raising like Telegram does."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    # stack items: [tag, argument, utf16 start, expandable, pre language]
    stack: list[list[Any]] = []
    n = len(text)
    i = 0

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode())

    def unclosed(begin: int) -> _ParseError:
        return _ParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")

    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                u16 += _u16(decoded[0])
                i += decoded[1]
                continue
        if char != "<":
            out.append(char)
            u16 += _u16(char)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            if not stack:
                raise _ParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            i += 2
            name_start = i
            while i < n and text[i] not in _SPACES and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n or text[i] != ">":
                raise _ParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            i += 1
            tag, argument, start, expandable, language = stack.pop()
            if end_name and end_name != tag:
                raise _ParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            length = u16 - start
            if tag == "code" and argument and stack and stack[-1][0] == "pre":
                stack[-1][4] = argument
                continue
            if length <= 0:
                continue
            entity: dict[str, Any] = {"offset": start, "length": length}
            if tag in _HTML_SIMPLE:
                entity["type"] = _HTML_SIMPLE[tag]
            elif tag == "a":
                if not argument:
                    continue
                entity.update(type="text_link", url=argument)
            elif tag == "code":
                entity["type"] = "code"
            elif tag == "pre":
                entity["type"] = "pre"
                if language:
                    entity["language"] = language
            elif tag == "blockquote":
                entity["type"] = "expandable_blockquote" if expandable else "blockquote"
            else:  # tg-emoji
                entity.update(type="custom_emoji", custom_emoji_id=argument)
            entities.append(entity)
            continue
        # start tag
        i += 1
        name_start = i
        while i < n and text[i] not in _SPACES and text[i] != ">":
            i += 1
        if i >= n:
            raise unclosed(begin)
        tag = text[name_start:i].lower()
        if tag not in _HTML_TAGS:
            raise _ParseError(f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}')
        argument = ""
        expandable = False
        while True:
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise unclosed(begin)
            if text[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and text[i] not in _SPACES and text[i] not in "=>":
                i += 1
            attribute = text[attr_start:i].lower()
            if not attribute:
                raise _ParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise unclosed(begin)
            if text[i] != "=":
                if tag == "blockquote" and attribute == "expandable":
                    expandable = True
                    continue
                raise _ParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {byte_offset(begin)}'
                )
            i += 1
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise unclosed(begin)
            if text[i] in "'\"":
                quote = text[i]
                i += 1
                value_chars: list[str] = []
                while i < n and text[i] != quote:
                    if text[i] == "&":
                        decoded = _decode_html_entity(text, i)
                        if decoded is not None:
                            value_chars.append(decoded[0])
                            i += decoded[1]
                            continue
                    value_chars.append(text[i])
                    i += 1
                if i >= n:
                    raise unclosed(begin)
                i += 1
                value = "".join(value_chars)
            else:
                token_start = i
                while i < n and (text[i].isalnum() or text[i] in ".-"):
                    i += 1
                value = text[token_start:i].lower()
                if i >= n:
                    raise unclosed(begin)
                if text[i] not in _SPACES and text[i] != ">":
                    raise _ParseError(
                        f"Unexpected end of name token at byte offset {byte_offset(token_start)}"
                    )
            if tag == "a" and attribute == "href":
                argument = value
            elif tag == "code" and attribute == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                argument = value[len("tg-") :]
            elif tag == "tg-emoji" and attribute == "emoji-id":
                argument = value
        if tag == "span" and argument != "spoiler":
            raise _ParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        stack.append([tag, argument, u16, expandable, ""])
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), entities


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram MarkdownV2 into plain text and entities, raising like Telegram does."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    # stack items: [type, argument, utf16 start, byte offset, index into out]
    stack: list[list[Any]] = []
    quote_start: int | None = None
    n = len(text)
    i = 0

    def at(pos: int) -> str:
        return text[pos] if pos < n else ""

    def escapable(pos: int) -> bool:
        return pos < n and 0 < ord(text[pos]) <= 126

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode())

    def emit(chars: str) -> None:
        nonlocal u16
        out.append(chars)
        u16 += _u16(chars)

    def reserved_error(char: str) -> _ParseError:
        return _ParseError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        char = text[i]
        if char == "\\" and escapable(i + 1):
            emit(text[i + 1])
            i += 2
            continue
        in_code = bool(stack) and stack[-1][0] in ("code", "pre")
        if char == "\n" and quote_start is not None and at(i + 1) != ">":
            if u16 > quote_start:
                entities.append(
                    {"type": "blockquote", "offset": quote_start, "length": u16 - quote_start}
                )
            quote_start = None
        if char == ">" and not in_code and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = u16
            i += 1
            continue
        if char != "`" if in_code else char not in _MDV2_RESERVED:
            emit(char)
            i += 1
            continue
        is_end = False
        if stack:
            kind = stack[-1][0]
            is_end = {
                "bold": char == "*",
                "italic": char == "_" and at(i + 1) != "_",
                "code": char == "`",
                "pre": text.startswith("```", i),
                "text_link": char == "]",
                "underline": text.startswith("__", i),
                "strikethrough": char == "~",
                "spoiler": text.startswith("||", i),
                "custom_emoji": char == "]",
            }[kind]
        if not is_end:
            begin = i
            argument = ""
            if char == "_":
                if at(i + 1) == "_":
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif char == "*":
                kind = "bold"
            elif char == "~":
                kind = "strikethrough"
            elif char == "|":
                if at(i + 1) != "|":
                    raise reserved_error(char)
                kind = "spoiler"
                i += 1
            elif char == "[":
                kind = "text_link"
            elif char == "`":
                if text.startswith("```", i):
                    kind = "pre"
                    i += 3
                    lang_end = i
                    while lang_end < n and text[lang_end] not in _SPACES and text[lang_end] != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and text[lang_end] != "`":
                        argument = text[i:lang_end]
                        i = lang_end
                    if at(i) in ("\n", "\r"):
                        pair = at(i + 1) in ("\n", "\r") and at(i) != at(i + 1)
                        i += 2 if pair else 1
                    i -= 1
                else:
                    kind = "code"
            elif char == "!" and at(i + 1) == "[":
                kind = "custom_emoji"
                i += 1
            else:
                raise reserved_error(char)
            stack.append([kind, argument, u16, byte_offset(begin), len(out)])
            i += 1
            continue
        kind, argument, start, _, out_index = stack.pop()
        skip = u16 == start
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind == "pre":
            i += 2
        elif kind in ("text_link", "custom_emoji"):
            if at(i + 1) != "(":
                if kind == "custom_emoji":
                    raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
                url = "".join(out[out_index:])
            else:
                i += 2
                url_begin = i
                url_chars: list[str] = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and escapable(i + 1):
                        url_chars.append(text[i + 1])
                        i += 2
                        continue
                    url_chars.append(text[i])
                    i += 1
                if i >= n:
                    raise _ParseError(f"Can't find end of a URL at byte offset {url_begin}")
                url = "".join(url_chars)
            if kind == "custom_emoji":
                if not url.startswith("tg://emoji?id="):
                    raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
                argument = url.removeprefix("tg://emoji?id=")
            else:
                argument = url
                skip = skip or not url
        if not skip:
            entity: dict[str, Any] = {"type": kind, "offset": start, "length": u16 - start}
            if kind == "text_link":
                entity["url"] = argument
            elif kind == "pre" and argument:
                entity["language"] = argument
            elif kind == "custom_emoji":
                entity["custom_emoji_id"] = argument
            entities.append(entity)
        i += 1
    if stack:
        kind, argument, _, begin_byte, _ = stack[-1]
        name = "PreCode" if kind == "pre" and argument else _MDV2_NAMES[kind]
        raise _ParseError(f"Can't find end of {name} entity at byte offset {begin_byte}")
    if quote_start is not None and u16 > quote_start:
        entities.append({"type": "blockquote", "offset": quote_start, "length": u16 - quote_start})
    return "".join(out), entities


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Telegram Markdown into plain text and entities."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        if char not in "_*`[":
            out.append(char)
            u16 += _u16(char)
            i += 1
            continue
        begin = i
        end_char = "]" if char == "[" else char
        is_pre = False
        language = ""
        i += 1
        if char == "`" and text.startswith("``", i):
            is_pre = True
            i += 2
            lang_end = i
            while lang_end < n and text[lang_end] not in _SPACES and text[lang_end] != "`":
                lang_end += 1
            if i != lang_end and lang_end < n and text[lang_end] != "`":
                language = text[i:lang_end]
                i = lang_end
        start = u16
        start_index = len(out)
        while i < n and (text[i] != end_char or (is_pre and not text.startswith("```", i))):
            out.append(text[i])
            u16 += _u16(text[i])
            i += 1
        if i >= n:
            raise _ParseError(
                "Can't find end of the entity starting at byte offset "
                f"{len(text[:begin].encode())}"
            )
        if u16 != start:
            entity: dict[str, Any] = {"offset": start, "length": u16 - start}
            if char == "_":
                entity["type"] = "italic"
            elif char == "*":
                entity["type"] = "bold"
            elif char == "[":
                url = "".join(out[start_index:])
                if i + 1 < n and text[i + 1] == "(":
                    close = text.find(")", i + 2)
                    close = n if close < 0 else close
                    url = text[i + 2 : close]
                    i = close
                entity.update(type="text_link", url=url)
            elif is_pre:
                entity["type"] = "pre"
                if language:
                    entity["language"] = language
            else:
                entity["type"] = "code"
            entities.append(entity)
        i += 3 if is_pre else 1
    return "".join(out), entities


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace as Telegram does and fix entity offsets."""
    stripped_left = text.lstrip()
    shift = _u16(text) - _u16(stripped_left)
    result = stripped_left.rstrip()
    total = _u16(result)
    fixed: list[dict[str, Any]] = []
    for entity in entities:
        begin = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > begin:
            fixed.append({**entity, "offset": begin, "length": end - begin})
    fixed.sort(key=lambda e: (e["offset"], -e["length"]))
    return result, fixed


def _format(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Apply parse_mode (or explicit entities) like Telegram and return text and entities."""
    if entities:
        return _trim(text, [dict(e) for e in entities])
    mode = (parse_mode or "").lower()
    parsers: dict[str, Callable[[str], tuple[str, list[dict[str, Any]]]]] = {
        "html": _parse_html,
        "markdownv2": _parse_markdown_v2,
        "markdown": _parse_markdown,
    }
    if not mode:
        return _trim(text, [])
    if mode not in parsers:
        raise _bad(f"unsupported parse_mode {parse_mode!r}")
    try:
        plain, found = parsers[mode](text)
    except _ParseError as exc:
        raise _bad(f"can't parse entities: {exc}") from None
    return _trim(plain, found)
