"""Chats, messages, files and updates held by the fake Bot API, and waiting on them."""

from __future__ import annotations

import asyncio
import copy
import logging
import mimetypes
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.fakes.telegram.files import _image_size, _StoredFile
from bot.fakes.telegram.html import _format, _u16
from bot.fakes.telegram.models import (
    _FILE_FOLDERS,
    _NOT_MESSAGES,
    _WRONG_FILE,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_SIZE,
    ApiCall,
    ApiError,
    CallHook,
    FakeChat,
    FakeUser,
    UpdateHook,
    _api_view,
    _bad,
    _Entry,
    _Params,
)

if TYPE_CHECKING:
    from bot.fakes.telegram.limits import _FloodControl

logger = logging.getLogger(__name__)


class FakeState:
    """The fake's state: chats, messages, files, updates, and waiting on them."""

    _methods: dict[str, tuple[str, Callable[[_Params], Any]]]

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "hotline_test_bot",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the fake; call :meth:`start` to serve it."""
        bot_id, sep, _ = token.partition(":")
        if not sep or not bot_id.isdigit():
            raise ValueError(f"token must look like '<digits>:<secret>', got {token!r}")
        self.token = token
        self.bot_id = int(bot_id)
        self.bot_username = bot_username
        self.bot_first_name = "Hotline Test Bot"
        self.host = host
        self.port = port
        self.base_url = ""
        # observation
        self.calls: list[ApiCall] = []
        self.on_call: CallHook | None = None
        self.on_update: UpdateHook | None = None
        self.dropped_updates: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        # faults
        self.blocked_users: set[int] = set()
        self.fault_rate = 0.0
        self.fault_retry_after = 1
        # Kinds of random faults and their weights (FAULT_KINDS); timeouts and disconnects
        # need a client with a short request timeout, so only answers are on by default.
        self.fault_kinds: dict[str, float] = {"5xx": 1.0, "429": 1.0}
        self.fault_hold_s = 30.0  # how long a "timeout" holds a request the client left
        self.faults: Counter[str] = Counter()  # faults given, by kind (queued and random)
        self.rate_limited = 0  # 429s given by flood control (enforce_rate_limits)
        self._flood: _FloodControl | None = None
        self._fault_seed = 0
        self._rng = random.Random(0)
        self._faults: dict[str, deque[ApiError]] = {}
        self.strict_images = True
        # File downloads: held while `hold_file_downloads()` is on; how many are in flight.
        self._files_released: asyncio.Event | None = None
        self.files_in_flight = 0
        self.max_files_in_flight = 0
        # state
        self._chats: dict[int, dict[str, Any]] = {}
        self._membership: dict[int, str] = {}
        self._log: dict[int, list[_Entry]] = {}
        self._next_message_id: dict[int, int] = {}
        self._keyboards: dict[int, dict[str, Any] | None] = {}
        # forum topics: (chat id, message_thread_id) -> {"name", "closed"}
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_thread_id = 1000
        self._files: dict[str, _StoredFile] = {}
        self._paths: dict[str, _StoredFile] = {}
        self._file_seq = 0
        self._callback_seq = 0
        self._pending_callbacks: set[str] = set()
        self._updates: list[dict[str, Any]] = []
        self._raw_updates: list[Any] = []  # served as given, once (push_raw_update)
        self._next_update_id = 1
        self._fetched_upto = 0
        self._allowed_updates: frozenset[str] | None = None
        self._poll_waiters: set[asyncio.Future[str]] = set()
        self._message_cursor: dict[int, int] = {}
        self._call_cursor: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._stopping = False
        self._runner: web.AppRunner | None = None

    def _record(self, call: ApiCall) -> None:
        """Store a finished call and run the ``on_call`` hook."""
        self.calls.append(call)
        self._notify()
        if self.on_call is not None:
            try:
                self.on_call(call)
            except Exception:
                logger.exception("on_call hook failed")

    def register_chat(self, chat: FakeChat | FakeUser) -> dict[str, Any]:
        """Make a chat known (as if the user started the bot / the bot was added to a group)."""
        if isinstance(chat, FakeUser):
            data = chat.private_chat()
        elif chat.type == "private":
            data = {"id": chat.id, "type": "private", "first_name": chat.title or "Dân"}
        else:
            data = chat.to_dict()
        self._chats[data["id"]] = data
        self._membership[data["id"]] = "member"
        return copy.deepcopy(data)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (assigning ``update_id`` if missing) and wake long polls."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._absorb_update(update)
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        self._touch()
        for waiter in list(self._poll_waiters):
            if not waiter.done():
                waiter.set_result("update")
        self._notify()
        if self.on_update is not None:
            try:
                self.on_update(copy.deepcopy(update))
            except Exception:
                logger.exception("on_update hook failed")
        return copy.deepcopy(update)

    def push_raw_update(self, item: Any) -> None:
        """Serve ``item`` exactly as given (a malformed update, say one whose update_id is
        not a number) in the next getUpdates answer, after the queued updates; once."""
        self._raw_updates.append(copy.deepcopy(item))
        self._touch()
        for waiter in list(self._poll_waiters):
            if not waiter.done():
                waiter.set_result("update")
        self._notify()

    def _notify(self) -> None:
        """Wake everything waiting in :meth:`_wait`."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        """Remember that something happened (for :meth:`wait_idle`)."""
        self._last_activity = time.monotonic()

    def _unfetched(self) -> int:
        """Count queued updates never returned by getUpdates."""
        queued = sum(1 for u in self._updates if u["update_id"] > self._fetched_upto)
        return queued + len(self._raw_updates)

    async def _wait(
        self, check: Callable[[], Any], seconds: float, explain: Callable[[], str]
    ) -> Any:
        """Re-run ``check`` on every change until it returns non-None or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(explain())
            if self._stopping and self._runner is None:
                raise RuntimeError(f"FakeBotAPI stopped while waiting: {explain()}")
            event = self._changed
            with suppress(TimeoutError):  # re-check periodically for outside conditions
                await asyncio.wait_for(event.wait(), min(remaining, 0.1))

    def _failures_text(self) -> str:
        """Describe recent failed calls for timeout messages."""
        failed = [str(c) for c in self.calls if not c.ok][-10:]
        if not failed:
            return "No failed API calls."
        return "Recent failed API calls:\n" + "\n".join(f"  {f}" for f in failed)

    @property
    def bot_user(self) -> dict[str, Any]:
        """Return the bot's ``User`` object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _absorb_update(self, update: dict[str, Any]) -> None:
        """Learn chats, messages and callback ids from a queued update."""
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            self._pending_callbacks.add(str(query["id"]))
        message = update.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
            return
        chat = message["chat"]
        self._chats.setdefault(chat["id"], copy.deepcopy(chat))
        self._membership.setdefault(chat["id"], "member")
        message_id = message.get("message_id")
        if isinstance(message_id, int) and self._find_entry(chat["id"], message_id) is None:
            self._log.setdefault(chat["id"], []).append(_Entry(copy.deepcopy(message), False))
            following = max(self._next_message_id.get(chat["id"], 1), message_id + 1)
            self._next_message_id[chat["id"]] = following

    def _user_chat(self, user: FakeUser, chat: FakeChat | None) -> dict[str, Any]:
        """Return (registering if needed) the chat a simulated message is sent in."""
        if chat is None or (chat.type == "private" and chat.id == user.id):
            data = user.private_chat()
            self._chats[user.id] = data
            self._membership.setdefault(user.id, "member")
            return copy.deepcopy(data)
        if self._membership.get(chat.id) in ("left", "kicked"):
            raise ValueError(f"the bot is not a member of chat {chat.id}; no update is sent")
        if chat.id not in self._chats:
            self.register_chat(chat)
        return copy.deepcopy(self._chats[chat.id])

    def _user_message(
        self,
        user: FakeUser,
        chat: FakeChat | None,
        content: dict[str, Any],
        reply_to_message_id: int | None,
    ) -> dict[str, Any]:
        """Store a simulated person's message and queue it as an update."""
        chat_data = self._user_chat(user, chat)
        reply_to = None
        if reply_to_message_id is not None:
            entry = self._find_entry(chat_data["id"], reply_to_message_id)
            if entry is None or entry.deleted:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_data['id']}")
            reply_to = entry.message
        message = self._new_message(chat_data, user.to_dict(), content, reply_to)
        return self.push_update({"message": message})  # logged by _absorb_update

    def _my_chat_member(
        self,
        user: FakeUser,
        chat: dict[str, Any],
        old: dict[str, Any],
        new: dict[str, Any],
    ) -> dict[str, Any]:
        """Queue a ``my_chat_member`` update about the bot."""
        member_update = {
            "chat": copy.deepcopy(chat),
            "from": user.to_dict(),
            "date": int(time.time()),
            "old_chat_member": {**old, "user": self.bot_user},
            "new_chat_member": {**new, "user": self.bot_user},
        }
        return self.push_update({"my_chat_member": member_update})

    def _new_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        content: dict[str, Any],
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build a Message with the chat's next message id."""
        chat_id = chat["id"]
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
        }
        if reply_to is not None:
            nested = _api_view(reply_to)
            nested.pop("reply_to_message", None)
            message["reply_to_message"] = nested
        message.update(copy.deepcopy(content))
        return message

    def _find_entry(self, chat_id: int, message_id: int) -> _Entry | None:
        """Find a message in a chat log."""
        for entry in self._log.get(chat_id, []):
            if entry.message["message_id"] == message_id:
                return entry
        return None

    def _register_file(
        self,
        data: bytes,
        kind: str,
        *,
        file_size: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> _StoredFile:
        """Create a downloadable file and return its record."""
        self._file_seq += 1
        seq = self._file_seq
        meta = {k: v for k, v in (meta or {}).items() if v is not None}
        name = meta.get("file_name")
        ext = ""
        if name and "." in name:
            ext = "." + name.rsplit(".", 1)[1]
        elif meta.get("mime_type"):
            ext = mimetypes.guess_extension(meta["mime_type"]) or ""
        elif kind == "photo":
            ext = ".png" if data.startswith(b"\x89PNG") else ".jpg"
        stored = _StoredFile(
            file_id=f"FAKE-{kind}-{seq}-{self._rng_token(seq)}",
            file_unique_id=f"U{seq}",
            kind=kind,
            data=data,
            file_size=len(data) if file_size is None else file_size,
            file_path=f"{_FILE_FOLDERS[kind]}/file_{seq}{ext}",
            meta=meta,
        )
        self._files[stored.file_id] = stored
        self._paths[stored.file_path] = stored
        return stored

    @staticmethod
    def _rng_token(seq: int) -> str:
        """Return a deterministic pseudo-random suffix for file ids."""
        return f"{(seq * 2654435761) % 2**32:08x}"

    def _photo_sizes(self, data: bytes, reuse: _StoredFile | None = None) -> list[dict[str, Any]]:
        """Register a small and a large PhotoSize for an image and return both."""
        width, height = _image_size(data) or (1280, 960)
        scale = min(1.0, 1280 / max(width, height, 1))
        large_dims = (max(1, round(width * scale)), max(1, round(height * scale)))
        small_scale = 90 / max(width, height, 1)
        small_dims = (max(1, round(width * small_scale)), max(1, round(height * small_scale)))
        sizes = []
        for dims in (small_dims, large_dims):
            is_large = dims is large_dims
            stored = reuse if (is_large and reuse is not None) else None
            if stored is None:
                stored = self._register_file(data, "photo")
            stored.meta = {"width": dims[0], "height": dims[1]}
            sizes.append(self._media_object(stored))
        return sizes

    @staticmethod
    def _media_object(stored: _StoredFile) -> dict[str, Any]:
        """Return the Telegram object (PhotoSize, Document, ...) for a stored file."""
        data: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
        }
        data.update(stored.meta)
        data["file_size"] = stored.file_size
        if stored.kind in ("video", "animation"):
            data.setdefault("width", 640)
            data.setdefault("height", 360)
            data.setdefault("duration", 0)
        elif stored.kind in ("audio", "voice"):
            data.setdefault("duration", 0)
        elif stored.kind == "video_note":
            data.setdefault("length", 240)
            data.setdefault("duration", 0)
        elif stored.kind == "photo":
            data.setdefault("width", 1280)
            data.setdefault("height", 960)
        return data

    def _target_chat(self, p: _Params, key: str = "chat_id", *, send: bool = True) -> dict:
        """Resolve a chat parameter, enforcing blocks and membership for sends."""
        raw = p.require(key)
        chat: dict[str, Any] | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self._chats.values() if c.get("username") == raw[1:]), None)
        else:
            try:
                chat = self._chats.get(int(raw))
                if send and int(raw) in self.blocked_users:
                    raise ApiError(403, "Forbidden: bot was blocked by the user")
            except (TypeError, ValueError):
                chat = None
        if chat is None:
            raise _bad("chat not found")
        state = self._membership.get(chat["id"], "member")
        if send and chat["type"] != "private" and state in ("left", "kicked"):
            kind = "supergroup" if chat["type"] == "supergroup" else chat["type"]
            if kind == "channel":
                raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
            if state == "kicked":
                raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        return chat

    def _resolve_reply(self, p: _Params, chat_id: int) -> dict[str, Any] | None:
        """Resolve reply_parameters / reply_to_message_id to the replied message."""
        params = p.get("reply_parameters") or {}
        message_id = params.get("message_id", p.get("reply_to_message_id"))
        if message_id is None:
            return None
        allow = params.get("allow_sending_without_reply", p.get("allow_sending_without_reply"))
        target_chat = params.get("chat_id", chat_id)
        entry = self._find_entry(int(target_chat), int(message_id))
        if entry is None or entry.deleted:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return entry.message

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        """Validate a reply_markup parameter like Telegram does."""
        if markup in (None, ""):
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                size = len(str(data).encode())
                if data is not None and not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad("BUTTON_DATA_INVALID")
        return markup

    def _store_bot_message(
        self,
        chat: dict[str, Any],
        content: dict[str, Any],
        p: _Params,
        reply_to: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Store a message sent by the bot and return it as the API shows it."""
        content = {**content, **self._thread_content(chat, p)}
        markup = self._check_markup(p.get("reply_markup"))
        if markup is not None:
            content = {**content, "reply_markup": markup}
            if "keyboard" in markup:
                self._keyboards[chat["id"]] = markup
            elif markup.get("remove_keyboard"):
                self._keyboards[chat["id"]] = None
        message = self._new_message(chat, self.bot_user, content, reply_to)
        self._log.setdefault(chat["id"], []).append(_Entry(message, from_bot=True))
        self._notify()
        return _api_view(message)

    def _thread_content(self, chat: dict[str, Any], p: _Params) -> dict[str, Any]:
        """message_thread_id checked like Telegram: a forum, an existing, open topic."""
        thread = p.get("message_thread_id")
        if thread in (None, "", 0):
            return {}
        topic = self.topics.get((chat["id"], int(thread)))
        if not chat.get("is_forum") or topic is None:
            raise _bad("message thread not found")
        if topic["closed"]:
            raise _bad("TOPIC_CLOSED")
        return {"message_thread_id": int(thread), "is_topic_message": True}

    def _create_forum_topic(self, p: _Params) -> dict[str, Any]:
        """createForumTopic (forum supergroups only)."""
        chat = self._target_chat(p)
        if not chat.get("is_forum"):
            raise _bad("the chat is not a forum")
        name = str(p.require("name"))
        if not 1 <= len(name) <= 128:
            raise _bad("TOPIC_NAME_INVALID")
        self._next_thread_id += 1
        thread = self._next_thread_id
        self.topics[(chat["id"], thread)] = {"name": name, "closed": False}
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}

    def _set_topic_closed(self, p: _Params, closed: bool) -> bool:
        chat = self._target_chat(p)
        topic = self.topics.get((chat["id"], int(p.require("message_thread_id"))))
        if topic is None:
            raise _bad("message thread not found")
        if topic["closed"] == closed:
            raise _bad("TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        return True

    def _text_content(self, p: _Params) -> dict[str, Any]:
        """Parse and check the text of sendMessage / editMessageText."""
        raw = p.get("text")
        if raw is None or str(raw) == "":
            raise _bad("message text is empty")
        text, entities = _format(str(raw), p.get("parse_mode"), p.get("entities"))
        if not text:
            raise _bad("message text is empty")
        if _u16(text) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    @staticmethod
    def _caption_content(caption: Any, parse_mode: Any, entities: Any) -> dict[str, Any]:
        """Parse and check a caption."""
        if caption is None or str(caption) == "":
            return {}
        text, found = _format(str(caption), parse_mode, entities)
        if _u16(text) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        content: dict[str, Any] = {"caption": text} if text else {}
        if found:
            content["caption_entities"] = found
        return content

    def _input_file(
        self, p: _Params, ref: Any, kind: str, field_name: str, extra: dict[str, Any]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Resolve an InputFile reference (attach://, file_id, URL, part) to a media object."""
        if ref is None and field_name in p.files:
            ref = f"attach://{field_name}"
        if not isinstance(ref, str) or not ref:
            raise _bad(f"there is no {kind} in the request")
        meta = {k: v for k, v in extra.items() if v is not None}
        if ref.startswith("attach://"):
            name = ref.removeprefix("attach://")
            if name not in p.files:
                raise _bad(_WRONG_FILE.removeprefix("Bad Request: "))
            data = p.files[name]
            if len(data) > MAX_UPLOAD_SIZE:
                raise ApiError(413, "Request Entity Too Large")
            file_name = p.filenames.get(name)
            if kind == "photo":
                if self.strict_images and _image_size(data) is None:
                    raise _bad("IMAGE_PROCESS_FAILED")
                return self._photo_sizes(data)
            if kind in ("document", "video", "audio", "animation"):
                meta.setdefault("file_name", file_name)
                guessed = mimetypes.guess_type(file_name or "")[0]
                meta.setdefault("mime_type", guessed or "application/octet-stream")
            if kind == "voice":
                meta.setdefault("mime_type", "audio/ogg")
            if kind == "sticker":
                meta.update(type="regular", width=512, height=512, is_animated=False)
                meta["is_video"] = False
            return self._media_object(self._register_file(data, kind, meta=meta))
        if ref.startswith(("http://", "https://")):
            if kind == "photo":
                return self._photo_sizes(b"")
            name = ref.rsplit("/", 1)[-1]
            if kind == "document" and name:
                meta.setdefault("file_name", name)
            return self._media_object(self._register_file(b"", kind, meta=meta))
        stored = self._files.get(ref)
        if stored is None:
            raise _bad(_WRONG_FILE.removeprefix("Bad Request: "))
        if stored.kind != kind:
            raise _bad(
                f"can't use file of type {stored.kind.title()} as {kind.replace('_', ' ').title()}"
            )
        if kind == "photo":
            return self._photo_sizes(stored.data, reuse=stored)
        return self._media_object(stored)

    @staticmethod
    def _is_message_call(method: str) -> bool:
        lowered = method.lower()
        return lowered.startswith(("send", "edit")) and lowered not in _NOT_MESSAGES
