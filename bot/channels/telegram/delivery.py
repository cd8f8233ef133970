"""How an outbox row becomes Bot API calls, written once over `TelegramOps`.

Each Telegram runtime implements the small `TelegramOps` protocol with its own client
library (and raises the neutral errors of bot/channels/telegram/errors.py); everything
else is here: text and caption limits, reply markup as Bot API JSON, albums of 10, files
one by one, documents, the case's anchors (its forum topic, a reply to its card), topics
created, closed and reopened, card edits with their targets, and the progress of a row of
several calls (committed after each call through `Pace.checkpoint`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot import failpoints
from bot.channels.telegram.errors import TelegramApiError, TelegramNetworkError, classify
from bot.media import MediaStore
from bot.outbox import Pace, PermanentFailure, RetryLater, Sent, no_pace
from models.tables import Outbox

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10
TOPIC_NAME_LIMIT = 128
# Seconds to wait for Telegram's answer: a text or a pin, and a call that uploads files.
# Both stay well under the outbox claim (60 s), which the sender renews between calls.
REQUEST_TIMEOUT_S = 15.0
UPLOAD_TIMEOUT_S = 45.0

FileKind = Literal["photo", "video", "voice", "audio", "document"]
Markup = dict[str, Any]  # a reply_markup object of the Bot API


@dataclass(frozen=True)
class Anchors:
    """Where in a group a message goes: its case's forum topic, as a reply to its card."""

    message_thread_id: int | None = None
    reply_to_message_id: int | None = None  # sent even if that message is gone


@dataclass(frozen=True)
class MediaItem:
    """One photo or video of an album (a local file)."""

    kind: Literal["photo", "video"]
    path: str
    caption: str | None = None


class TelegramOps(Protocol):
    """The Bot API calls the hotline makes, as each Telegram runtime implements them.

    Every method raises `TelegramApiError` for a refusal and `TelegramNetworkError` (or
    TimeoutError) when no answer came; `timeout_s` is the seconds to wait for the answer.
    """

    async def get_me(self) -> dict[str, Any]:
        """The bot's own user (id, username)."""
        ...

    async def set_my_commands(
        self,
        commands: list[dict[str, str]],
        *,
        scope: Literal["all_private_chats", "all_group_chats"],
        language_code: str | None,
    ) -> None:
        """Fill the command menu of a scope and language."""
        ...

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        html: bool,
        reply_markup: Markup | None,
        anchors: Anchors,
        timeout_s: float,
    ) -> int:
        """Send a text (link previews off); its message id."""
        ...

    async def send_media_group(
        self, chat_id: int, media: list[MediaItem], *, anchors: Anchors, timeout_s: float
    ) -> list[int]:
        """Send 2 to 10 photos and videos as one album; their message ids."""
        ...

    async def send_photo(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a photo."""
        ...

    async def send_video(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a video."""
        ...

    async def send_voice(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a voice note."""
        ...

    async def send_audio(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload an audio file."""
        ...

    async def send_document(
        self,
        chat_id: int,
        path: str,
        *,
        filename: str | None = None,
        caption: str | None,
        anchors: Anchors,
        timeout_s: float,
    ) -> int:
        """Upload a file as a document."""
        ...

    async def send_location(
        self,
        chat_id: int,
        latitude: float,
        longitude: float,
        *,
        anchors: Anchors,
        timeout_s: float,
    ) -> int:
        """Send a map pin."""
        ...

    async def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        html: bool,
        reply_markup: Markup,
        timeout_s: float,
    ) -> None:
        """Replace a message's text and inline keyboard (link previews off)."""
        ...

    async def create_forum_topic(self, chat_id: int, name: str, *, timeout_s: float) -> int:
        """Create a forum topic; its message_thread_id."""
        ...

    async def close_forum_topic(self, chat_id: int, thread_id: int, *, timeout_s: float) -> None:
        """Close a forum topic."""
        ...

    async def reopen_forum_topic(self, chat_id: int, thread_id: int, *, timeout_s: float) -> None:
        """Reopen a forum topic."""
        ...

    async def answer_callback_query(
        self, query_id: str, *, text: str | None, show_alert: bool
    ) -> None:
        """Stop the client's spinner on a button, with a toast or an alert."""
        ...


def build_markup(payload: dict[str, Any]) -> Markup | None:
    """The one reply markup a Telegram message can carry, by priority."""
    if payload.get("buttons"):
        return {
            "inline_keyboard": [
                [{"text": b["text"], "callback_data": b["data"]} for b in row]
                for row in payload["buttons"]
            ]
        }
    if payload.get("keyboard"):
        rows = []
        for row in payload["keyboard"]:
            keys = []
            for k in row:
                key: dict[str, Any] = {"text": k["text"]}
                if k.get("request_location"):
                    key["request_location"] = True
                if k.get("request_contact"):
                    key["request_contact"] = True
                keys.append(key)
            rows.append(keys)
        return {"keyboard": rows, "resize_keyboard": True, "one_time_keyboard": True}
    if payload.get("force_reply"):
        return {"force_reply": True, "selective": bool(payload.get("selective"))}
    if payload.get("remove_keyboard"):
        return {"remove_keyboard": True}
    return None


@dataclass
class _Progress:
    """The calls of one row already made (committed after each call in payload["progress"],
    through `Pace.checkpoint`, so retries and restarts resume after them)."""

    done: int = 0
    message_ids: list[int] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any] | None:
        return {"done": self.done, "message_ids": list(self.message_ids)} if self.done else None


# Edit refusals that mean the target is not (or no longer) a text message of the bot's.
_NOT_OURS = (
    "message to edit not found",
    "message can't be edited",
    "there is no text in the message to edit",
)
# The case's topic or card is gone (deleted by an admin, topic closed by hand).
_ANCHOR_LOST = ("thread not found", "topic_closed", "replied not found")


def _anchors(p: dict[str, Any]) -> Anchors:
    """The anchors the outbox sender resolved just before delivery (`message_thread_id`,
    `reply_to_message_id` in the payload it hands over)."""
    thread = p.get("message_thread_id")
    reply = p.get("reply_to_message_id")
    return Anchors(int(thread) if thread else None, int(reply) if reply else None)


class TelegramTransport:
    """Sends messages, albums, pins, topics and card edits through a runtime's ops; sorts
    what goes wrong into retry or give up (errors.classify)."""

    channel = "telegram"

    def __init__(
        self,
        ops: TelegramOps,
        media: MediaStore,
        *,
        request_timeout: float = REQUEST_TIMEOUT_S,
        upload_timeout: float = UPLOAD_TIMEOUT_S,
    ) -> None:
        self.ops = ops
        self.media = media
        self.request_timeout = request_timeout
        self.upload_timeout = upload_timeout

    def is_group(self, chat_id: str) -> bool:
        """Telegram's groups, supergroups and channels have negative ids."""
        try:
            return int(chat_id) < 0
        except ValueError:
            return False

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace = no_pace) -> Sent:
        """Send one outbox row, each API call inside `pace`."""
        done = (row.payload.get("progress") or {}) if row.kind == "album" else {}
        progress = _Progress(int(done.get("done", 0)), list(done.get("message_ids", [])))
        try:
            return await self._deliver(row, edit_targets, pace, progress)
        except RetryLater as exc:  # from `pace`: the sender stops before this call
            exc.progress = exc.progress or progress.snapshot()
            raise
        except (TelegramApiError, TelegramNetworkError, TimeoutError, OSError) as exc:
            outcome = classify(exc, progress.snapshot())
            if outcome is None:
                raise
            raise outcome from exc

    async def _deliver(
        self, row: Outbox, edit_targets: list[int], pace: Pace, progress: _Progress
    ) -> Sent:
        anchors = _anchors(row.payload)
        try:
            return await self._deliver_anchored(row, edit_targets, pace, progress, anchors)
        except TelegramApiError as exc:
            # The case's topic or card is gone: the message still goes out, in the group's
            # main thread.
            if anchors != Anchors() and exc.code == 400 and exc.mentions(*_ANCHOR_LOST):
                log.info("outbox %s: case anchor gone (%s), sending unanchored", row.id, exc)
                return await self._deliver_anchored(row, edit_targets, pace, progress, Anchors())
            raise

    async def _deliver_anchored(
        self,
        row: Outbox,
        edit_targets: list[int],
        pace: Pace,
        progress: _Progress,
        anchors: Anchors,
    ) -> Sent:
        p = row.payload
        ops = self.ops
        chat_id = int(row.chat_id)
        html = bool(p.get("html"))
        if row.kind == "message":
            async with pace(1):
                sent = await ops.send_message(
                    chat_id,
                    p["text"][:TEXT_LIMIT],
                    html=html,
                    reply_markup=build_markup(p),
                    anchors=anchors,
                    timeout_s=self.request_timeout,
                )
            return Sent([sent])
        if row.kind == "location":
            async with pace(1):
                sent = await ops.send_location(
                    chat_id,
                    p["latitude"],
                    p["longitude"],
                    anchors=anchors,
                    timeout_s=self.request_timeout,
                )
            return Sent([sent])
        if row.kind == "album":
            return Sent(await self._send_album(chat_id, p, pace, progress, anchors))
        if row.kind == "document":
            item = p["media"][0]
            async with pace(1):
                sent = await ops.send_document(
                    chat_id,
                    str(self.media.absolute(item["path"])),
                    filename=item.get("filename"),
                    caption=(p.get("text") or "")[:CAPTION_LIMIT] or None,
                    anchors=anchors,
                    timeout_s=self.upload_timeout,
                )
            return Sent([sent])
        if row.kind == "topic":
            async with pace(1):
                thread = await ops.create_forum_topic(
                    chat_id, p["text"][:TOPIC_NAME_LIMIT], timeout_s=self.request_timeout
                )
            return Sent([thread])
        if row.kind in ("topic_close", "topic_reopen"):
            topic = p.get("message_thread_id")
            if not topic:
                return Sent([])  # the case has no topic in this chat
            call = ops.close_forum_topic if row.kind == "topic_close" else ops.reopen_forum_topic
            try:
                async with pace(1):
                    await call(chat_id, int(topic), timeout_s=self.request_timeout)
            except TelegramApiError as exc:
                if exc.code != 400 or not exc.mentions("not_modified", "not found"):
                    raise
            return Sent([])
        if row.kind == "edit":
            markup = build_markup(p)
            inline = markup if markup is not None and "inline_keyboard" in markup else None
            edited: list[int] = []  # the targets that are (now) this text: ours
            for message_id in edit_targets:
                try:
                    async with pace(1):
                        await ops.edit_message_text(
                            chat_id,
                            message_id,
                            p["text"][:TEXT_LIMIT],
                            html=html,
                            reply_markup=inline or {"inline_keyboard": []},
                            timeout_s=self.request_timeout,
                        )
                except TelegramApiError as exc:
                    if exc.code != 400:
                        raise
                    if exc.mentions("not modified"):
                        edited.append(message_id)
                        continue
                    # Gone, or not a text of ours (a target may be a suspected copy of a
                    # card that turns out to be someone else's message): skip it.
                    if exc.mentions(*_NOT_OURS):
                        continue
                    raise
                edited.append(message_id)
            return Sent(edited)
        raise PermanentFailure(f"unknown outbox kind {row.kind}")

    async def _send_album(
        self,
        chat_id: int,
        p: dict[str, Any],
        pace: Pace,
        progress: _Progress,
        anchors: Anchors,
    ) -> list[int]:
        """Photos and videos in albums of up to 10, other files one by one.

        Each of these calls is a part; the progress is committed after each part
        (`pace.checkpoint`), so a retry, or a restart after a crash, resumes after the
        parts already delivered: at most the one call in flight is ever repeated.
        """
        caption = (p.get("text") or "")[:CAPTION_LIMIT] or None
        visual = [m for m in p.get("media", []) if m["kind"] in ("photo", "video")]
        other = [m for m in p.get("media", []) if m["kind"] not in ("photo", "video")]
        parts: list[list[dict[str, Any]]] = [
            visual[start : start + ALBUM_LIMIT] for start in range(0, len(visual), ALBUM_LIMIT)
        ]
        parts.extend([item] for item in other)
        for index, chunk in enumerate(parts):
            text = caption if index == 0 else None
            if index < progress.done:
                continue
            paths = [str(self.media.absolute(m["path"])) for m in chunk]
            async with pace(len(chunk)):
                if len(chunk) > 1:
                    ids = await self.ops.send_media_group(
                        chat_id,
                        [
                            MediaItem(m["kind"], path, text if i == 0 else None)
                            for i, (m, path) in enumerate(zip(chunk, paths, strict=True))
                        ],
                        anchors=anchors,
                        timeout_s=self.upload_timeout,
                    )
                else:
                    ids = [
                        await self._send_file(chat_id, chunk[0]["kind"], paths[0], text, anchors)
                    ]
            progress.done = index + 1
            progress.message_ids.extend(ids)
            if progress.done < len(parts):
                # Committed before the next call: a crash from here on repeats none of
                # the calls made so far (only a call in flight can be repeated).
                await pace.checkpoint(progress.snapshot() or {})
                failpoints.hit("outbox.between_calls")
        return progress.message_ids

    async def _send_file(
        self, chat_id: int, kind: str, path: str, caption: str | None, anchors: Anchors
    ) -> int:
        ops, timeout = self.ops, self.upload_timeout
        if kind == "photo":
            return await ops.send_photo(
                chat_id, path, caption=caption, anchors=anchors, timeout_s=timeout
            )
        if kind == "video":
            return await ops.send_video(
                chat_id, path, caption=caption, anchors=anchors, timeout_s=timeout
            )
        if kind == "voice":
            return await ops.send_voice(
                chat_id, path, caption=caption, anchors=anchors, timeout_s=timeout
            )
        if kind == "audio":
            return await ops.send_audio(
                chat_id, path, caption=caption, anchors=anchors, timeout_s=timeout
            )
        return await ops.send_document(
            chat_id, path, caption=caption, anchors=anchors, timeout_s=timeout
        )
