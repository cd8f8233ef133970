"""A fake Telegram Bot API server for end-to-end tests and the offline demo.

The real aiogram client talks to it over HTTP on 127.0.0.1::

    api = FakeBotAPI()
    await api.start()
    bot = api.create_bot()  # aiogram.Bot pointed at the fake
    user = FakeUser(1001)
    api.send_text(user, "/start")
    reply = await api.wait_for_message(user.id)

Behaviour follows the real Bot API where it matters for bugs: HTML/MarkdownV2 parse errors,
"message is not modified", text/caption length limits, 64-byte callback_data, unknown chats,
blocked users, file size limits for getFile and the persistent ``allowed_updates`` filter.

Faults, for testing delivery (none applies the call, so "exactly once" can be checked):

- ``fail_next(method, status=..., description=...)``: the next calls of a method fail with
  that error; ``kind="timeout"`` holds the request until the client gives up (never
  answering it), ``kind="disconnect"`` drops the connection without an answer.
- ``fault_rate`` / ``fault_seed`` / ``fault_kinds``: that share of send*/edit* calls fails
  at random, drawn from a seeded generator, with the kinds weighted as in ``fault_kinds``
  (``"5xx"``, ``"429"``, ``"timeout"``, ``"disconnect"``). ``faults`` counts them by kind.
- ``enforce_rate_limits(...)``: Telegram's flood control: too many messages to one chat,
  one group or overall are refused with 429 and a retry_after (``rate_limited`` counts
  them). An album of N items counts as N messages; edits count as messages.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher
from bot.fakes.telegram.faults import Faults
from bot.fakes.telegram.limits import FloodControl
from bot.fakes.telegram.methods import ApiMethods
from bot.fakes.telegram.models import (
    MAX_UPLOAD_SIZE,
    ApiCall,
    ApiError,
    _bad,
    _decode_field,
    _Params,
)

logger = logging.getLogger(__name__)


class FakeBotAPI(ApiMethods, Faults, FloodControl):
    """In-process fake of the Telegram Bot API, driven by tests and the demo."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "hotline_test_bot",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the fake; call :meth:`start` to serve it."""
        super().__init__(token, bot_username=bot_username, host=host, port=port)
        self._methods = {}
        for name, handler in self._method_table().items():
            self._methods[name.lower()] = (name, handler)

    async def start(self) -> str:
        """Start serving and return the base URL, e.g. ``http://127.0.0.1:PORT``."""
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 8 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._stopping = False
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; pending long polls return at once and waiters are woken."""
        self._stopping = True
        self.release_file_downloads()
        for waiter in list(self._poll_waiters):
            if not waiter.done():
                waiter.set_result("stop")
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the server."""
        await self.stop()

    def create_bot(self, **kwargs: Any) -> Bot:
        """Return an aiogram ``Bot`` talking to this fake (close ``bot.session`` when done)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        class LocalSession(AiohttpSession):
            """AiohttpSession whose close() skips the 250 ms SSL-shutdown grace period."""

            async def close(self) -> None:
                """Close the HTTP session at once (plain HTTP on localhost)."""
                if self._session is not None and not self._session.closed:
                    await self._session.close()

        if not self.base_url:
            raise RuntimeError("call start() before create_bot()")
        session = LocalSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(kwargs.pop("token", self.token), session=session, **kwargs)

    @asynccontextmanager
    async def run_polling(self, dp: Dispatcher, bot: Bot, **kwargs: Any) -> AsyncIterator[None]:
        """Run ``dp.start_polling(bot)`` in a task for the duration of the block."""
        kwargs.setdefault("handle_signals", False)
        task = asyncio.create_task(dp.start_polling(bot, **kwargs))
        await asyncio.sleep(0)
        try:
            yield
        finally:
            if not task.done():
                with suppress(RuntimeError):
                    await dp.stop_polling()
            await task

    async def _handle_api(self, request: web.Request) -> web.Response:
        """Serve ``/bot{token}/{method}``."""
        method = request.match_info["method"]
        is_poll = method.lower() == "getupdates"
        call = ApiCall(method=method, params={}, time=time.time())
        started = time.monotonic()
        if not is_poll:
            self._inflight += 1
            self._touch()
        try:
            try:
                params = await self._read_params(request)
                call.params, call.files, call.filenames = (
                    params.values,
                    params.files,
                    params.filenames,
                )
                if request.match_info["token"] != self.token:
                    raise ApiError(401, "Unauthorized")
                entry = self._methods.get(method.lower())
                if entry is None:
                    raise ApiError(404, "Not Found")
                call.method, handler = entry
                fault = self._inject_fault(call.method)
                if fault is not None and fault.kind != "error":
                    return await self._no_answer(request, call, fault, started)
                if fault is not None:
                    raise fault
                flood = self._flood_check(call.method, params)
                result = handler(params)
                if inspect.isawaitable(result):
                    result = await result
                if flood is not None:
                    self._flood_count(*flood)
                call.result = result
                body: dict[str, Any] = {"ok": True, "result": result}
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                logger.warning("fake API rejected %s: %r", method, exc)
                call.ok, call.status = False, 400
                call.error = f"Bad Request: invalid parameters ({exc})"
                body = {"ok": False, "error_code": 400, "description": call.error}
            except ApiError as exc:
                call.ok, call.status, call.error = False, exc.status, exc.description
                call.retry_after = exc.retry_after
                body = {"ok": False, "error_code": exc.status, "description": exc.description}
                if exc.retry_after is not None:
                    body["parameters"] = {"retry_after": exc.retry_after}
        finally:
            if not is_poll:
                self._inflight -= 1
                self._touch()
        call.duration = time.monotonic() - started
        self._record(call)
        return web.json_response(body, status=call.status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve ``/file/bot{token}/{path}`` downloads."""
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        stored = self._paths.get(request.match_info["path"])
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        self.files_in_flight += 1
        self.max_files_in_flight = max(self.max_files_in_flight, self.files_in_flight)
        self._touch()
        self._notify()
        try:
            released = self._files_released
            if released is not None:  # a slow download: nothing arrives until released
                await released.wait()
            return web.Response(body=stored.data, content_type="application/octet-stream")
        finally:
            self.files_in_flight -= 1
            self._touch()
            self._notify()

    def hold_file_downloads(self) -> None:
        """Make file downloads hang (a slow file server) until `release_file_downloads()`."""
        if self._files_released is None:
            self._files_released = asyncio.Event()

    def release_file_downloads(self) -> None:
        """Let held file downloads (and later ones) complete."""
        released, self._files_released = self._files_released, None
        if released is not None:
            released.set()

    async def _read_params(self, request: web.Request) -> _Params:
        """Decode query, urlencoded, multipart or JSON parameters of a request."""
        values: dict[str, Any] = {k: _decode_field(k, v) for k, v in request.query.items()}
        files: dict[str, bytes] = {}
        filenames: dict[str, str] = {}
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    files[part.name] = bytes(await part.read(decode=True))
                    filenames[part.name] = part.filename
                else:
                    values[part.name] = _decode_field(part.name, await part.text())
        elif request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            values.update({k: _decode_field(k, str(v)) for k, v in form.items()})
        elif request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
            if not isinstance(body, dict):
                raise _bad("request body must be a JSON object")
            values.update(body)
        return _Params(values, files, filenames)
