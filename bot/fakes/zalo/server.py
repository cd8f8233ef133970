"""A fake Zalo Bot API server for tests and `hotline demo --channel zalo`.

The hotline's own Zalo client talks to it over HTTP on 127.0.0.1::

    async with FakeZaloAPI() as api:           # serves http://127.0.0.1:PORT
        api.send_text("u1", "bao cao")         # a citizen writes
        reply = await api.wait_for_message("u1", lambda m: "Bước 1" in m["text"])

Behaviour follows the documented platform where it matters for bugs: the envelope
{ok, result, error_code, description}; every method a JSON (or form) POST to
/bot<token>/<method> (a wrong token is 401); getUpdates gives ONE update per call and
answers `ok: false, error_code: 408` when none came within its `timeout`; sendMessage
refuses an empty text or one over 2,000 characters (400); sendPhoto needs an image URL;
setWebhook needs a secret_token of 8 to 256 characters; a person who blocked the bot is
403, an unknown chat 404. Images citizens send are served at /img/<name> until
`expire_images()` (real Zalo image URLs expire).

Faults: `fail_next(method, code, description, times=1)` makes the next calls of a method
fail with that code (429, 5xx, 401, 403...) without applying them; `fail_all(code)` makes
every call fail (a revoked token: 401) until `heal()`.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.fakes.telegram.files import tiny_png

TEXT_LIMIT = 2000
Message = dict[str, Any]


@dataclass
class Sent:
    """What the bot sent: the method, the chat and the text, photo or sticker."""

    method: str
    chat_id: str
    text: str = ""
    photo: str | None = None
    caption: str | None = None
    sticker: str | None = None
    message_id: str = ""
    at: float = field(default_factory=time.monotonic)

    def as_dict(self) -> Message:
        """For predicates: text (or caption), photo, method."""
        return {
            "method": self.method,
            "chat_id": self.chat_id,
            "text": self.text or self.caption or "",
            "photo": self.photo,
            "message_id": self.message_id,
        }


class FakeZaloAPI:
    """In-process fake of the Zalo Bot API, driven by tests and the demo."""

    def __init__(
        self, token: str = "1234567890:ZALO-TEST-SECRET", *, host: str = "127.0.0.1"
    ) -> None:
        self.token = token
        self.host = host
        self.base_url = ""
        self.updates: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every call, in order
        self.webhook: dict[str, Any] = {"url": "", "secret_token": None}
        self.blocked: set[str] = set()
        self.images: dict[str, bytes] = {}
        self.images_expired = False
        self.names: dict[str, str] = {}
        self._faults: dict[str, list[tuple[int, str]]] = {}
        self._fail_all: tuple[int, str] | None = None
        self._ids = itertools.count(1)
        self._new_message = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._last_date = 0
        self._images_released = asyncio.Event()
        self._images_released.set()
        self.empty_polls = 0

    # ---------------------------------------------------------------- serving

    async def start(self) -> str:
        """Serve; the base URL (HOTLINE_ZALO_API_URL)."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/img/{name}", self._image)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{self.host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving (long polls in progress end at once, empty)."""
        self._closing.set()
        self._images_released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeZaloAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- faults

    def fail_next(self, method: str, code: int, description: str = "", times: int = 1) -> None:
        """The next `times` calls of `method` fail with `code` (nothing applied); code 0
        drops the connection without an answer (the client cannot know what happened)."""
        text = description or {429: "quota exceeded", 401: "Unauthorized"}.get(code, "error")
        self._faults.setdefault(method.lower(), []).extend([(code, text)] * times)

    def hold_images(self, held: bool) -> None:
        """Make image downloads hang (a slow CDN) until released."""
        if held:
            self._images_released.clear()
        else:
            self._images_released.set()

    def fail_all(self, code: int = 401, description: str = "Unauthorized") -> None:
        """Every call fails with `code` until heal() (a revoked token)."""
        self._fail_all = (code, description)

    def heal(self) -> None:
        """No more faults."""
        self._faults.clear()
        self._fail_all = None

    def block(self, user_id: str) -> None:
        """The person blocked the bot: sending to them is 403."""
        self.blocked.add(user_id)

    def expire_images(self) -> None:
        """Image URLs given so far answer 404 from now on."""
        self.images_expired = True

    # ---------------------------------------------------------------- playing a citizen

    def _date(self) -> int:
        """Milliseconds, strictly increasing (the platform's clock orders messages)."""
        self._last_date = max(self._last_date + 1, int(time.time() * 1000))
        return self._last_date

    def _message(self, user_id: str, **content: Any) -> Message:
        return {
            "message_id": secrets.token_hex(16),
            "from": {
                "id": user_id,
                "display_name": self.names.get(user_id, f"Người dùng {user_id}"),
                "is_bot": False,
            },
            "chat": {"id": user_id, "chat_type": "PRIVATE"},
            "date": self._date(),
            **content,
        }

    def push(self, event: Message) -> Message:
        """Queue an event as it is (a redelivery, a wrapped or odd payload)."""
        self.updates.put_nowait(event)
        return event

    def send_text(self, user_id: str, text: str) -> Message:
        """The citizen sends a text."""
        event = {
            "event_name": "message.text.received",
            "message": self._message(user_id, text=text),
        }
        return self.push(event)

    def image_url(self, name: str | None = None, data: bytes | None = None) -> str:
        """A URL of an image served here (as Zalo's CDN would)."""
        name = name or f"{secrets.token_hex(8)}.png"
        self.images[name] = data if data is not None else tiny_png()
        return f"{self.base_url}/img/{name}"

    def send_image(
        self, user_id: str, caption: str | None = None, *, field_name: str = "photo_url"
    ) -> Message:
        """The citizen sends a photo (`photo_url` as real payloads; `photo` as the docs)."""
        content: dict[str, Any] = {field_name: self.image_url()}
        if caption is not None:
            content["caption"] = caption
        event = {
            "event_name": "message.image.received",
            "message": self._message(user_id, **content),
        }
        return self.push(event)

    def send_sticker(self, user_id: str) -> Message:
        """The citizen sends a sticker."""
        content = {"sticker": "bfe458bf64fa8da4d4eb", "url": "https://zalo.me/sticker.webp"}
        event = {
            "event_name": "message.sticker.received",
            "message": self._message(user_id, **content),
        }
        return self.push(event)

    def send_unsupported(self, user_id: str) -> Message:
        """What the platform sends, with no content, for a person it protects."""
        event = {"event_name": "message.unsupported.received", "message": self._message(user_id)}
        return self.push(event)

    # ---------------------------------------------------------------- reading back

    def messages(self, chat_id: str) -> list[Message]:
        """What the bot sent to a chat, oldest first."""
        return [s.as_dict() for s in self.sent if s.chat_id == chat_id]

    def texts(self, chat_id: str) -> list[str]:
        """The texts (and captions) the bot sent to a chat."""
        return [m["text"] for m in self.messages(chat_id)]

    async def wait_for_message(
        self,
        chat_id: str,
        predicate: Callable[[Message], bool] | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109  (a test helper's deadline, in seconds)
        after: int = 0,
    ) -> Message:
        """The first message to the chat (from index `after` of its messages) that fits."""
        deadline = time.monotonic() + timeout
        async with self._new_message:
            while True:
                for message in self.messages(chat_id)[after:]:
                    if predicate is None or predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n---\n".join(self.texts(chat_id)[-5:])
                    raise TimeoutError(f"no such message to {chat_id}; last ones:\n{seen}")
                try:
                    await asyncio.wait_for(self._new_message.wait(), left)
                except TimeoutError:
                    pass

    # ---------------------------------------------------------------- the API

    async def _image(self, request: web.Request) -> web.StreamResponse:
        await self._images_released.wait()
        data = self.images.get(request.match_info["name"])
        if data is None or self.images_expired:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/png")

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        body = {"ok": False, "error_code": code, "description": description}
        status = code if code != 408 else 200
        return web.json_response(body, status=status)

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(dict(await request.post()))
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        params = await self._params(request)
        self.calls.append((method, params))
        if self._fail_all is not None:
            return self._error(*self._fail_all)
        queued = self._faults.get(method.lower())
        if queued:
            code, text = queued.pop(0)
            if code == 0 and request.transport is not None:
                request.transport.close()  # no answer at all
            return self._error(code or 502, text)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(404, "Method not found")
        if method == "getUpdates":
            polled: web.Response = await handler(params, request)
            return polled
        result: web.Response = await handler(params)
        return result

    async def _m_getMe(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        return self._ok(
            {
                "id": "2930171845826128371",
                "account_name": "bot.hotline_test",
                "account_type": "BASIC",
                "can_join_groups": False,
                "display_name": "Đường dây nóng",
            }
        )

    async def _m_getUpdates(  # noqa: N802
        self, params: dict[str, Any], request: web.Request
    ) -> web.Response:
        if self.webhook["url"]:
            return self._error(409, "Conflict: a webhook is set")
        try:
            wait = min(float(params.get("timeout") or 0), 30.0)
        except ValueError:
            return self._error(400, "Bad Request: timeout")
        getting = asyncio.ensure_future(self.updates.get())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait(
                {getting, closing}, timeout=max(wait, 0.01), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closing.cancel()
        if not getting.done():
            getting.cancel()
            self.empty_polls += 1
            return self._error(408, "Request timeout")
        event = getting.result()
        transport = request.transport
        if transport is None or transport.is_closing():
            # The poller went away (killed) while this poll waited: the update was not
            # given to anyone, so the next poll gets it (first).
            self.updates._queue.appendleft(event)  # type: ignore[attr-defined]
            self.updates._unfinished_tasks += 1  # type: ignore[attr-defined]
            self.updates._wakeup_next(self.updates._getters)  # type: ignore[attr-defined]
            return self._error(408, "Request timeout")
        return self._ok(event)

    async def _m_setWebhook(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        url, secret = str(params.get("url") or ""), params.get("secret_token")
        if not url.startswith("https://"):
            return self._error(400, "Bad Request: url must be https")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            return self._error(400, "Bad Request: secret_token must be 8-256 characters")
        self.webhook = {"url": url, "secret_token": secret}
        return self._ok({"url": url, "updated_at": int(time.time() * 1000)})

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        self.webhook = {"url": "", "secret_token": None}
        return self._ok({"url": "", "updated_at": int(time.time() * 1000)})

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        return self._ok({"url": self.webhook["url"], "updated_at": int(time.time() * 1000)})

    def _chat(self, params: dict[str, Any]) -> tuple[str, web.Response | None]:
        chat_id = str(params.get("chat_id") or "")
        if not chat_id:
            return chat_id, self._error(400, "Bad Request: chat_id is required")
        if chat_id in self.blocked:
            return chat_id, self._error(403, "Forbidden: the user blocked the bot")
        if chat_id.startswith("gone"):
            return chat_id, self._error(404, "Not Found: no such chat")
        return chat_id, None

    async def _record(self, sent: Sent) -> web.Response:
        sent.message_id = f"{next(self._ids):032x}"
        async with self._new_message:
            self.sent.append(sent)
            self._new_message.notify_all()
        return self._ok({"message_id": sent.message_id, "date": int(time.time() * 1000)})

    async def _m_sendMessage(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id, refused = self._chat(params)
        if refused is not None:
            return refused
        text = params.get("text")
        if not isinstance(text, str) or not text:
            return self._error(400, "Bad Request: text is empty")
        if len(text) > TEXT_LIMIT:
            return self._error(400, "Bad Request: text is too long")
        return await self._record(Sent("sendMessage", chat_id, text=text))

    async def _m_sendPhoto(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id, refused = self._chat(params)
        if refused is not None:
            return refused
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            return self._error(400, "Bad Request: photo must be an image URL")
        caption = params.get("caption")
        if isinstance(caption, str) and len(caption) > TEXT_LIMIT:
            return self._error(400, "Bad Request: caption is too long")
        sent = Sent("sendPhoto", chat_id, photo=photo, caption=caption if caption else None)
        return await self._record(sent)

    async def _m_sendSticker(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id, refused = self._chat(params)
        if refused is not None:
            return refused
        sticker = params.get("sticker")
        if not isinstance(sticker, str) or not sticker:
            return self._error(400, "Bad Request: sticker is required")
        return await self._record(Sent("sendSticker", chat_id, sticker=sticker))

    async def _m_sendChatAction(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id, refused = self._chat(params)
        if refused is not None:
            return refused
        if params.get("action") not in ("typing", "upload_photo"):
            return self._error(400, "Bad Request: action")
        return self._ok(True)
