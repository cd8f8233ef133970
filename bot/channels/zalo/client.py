"""A thin async client of the Zalo Bot API over aiohttp (no third-party Zalo SDK).

Every call is a JSON POST to `{api_url}/bot{token}/{method}`; the answer is the envelope
`{"ok", "result", "error_code", "description"}`. A refusal raises the `ZaloApiError`
subclass of its code; no answer (network, timeout, a body that is not the envelope)
raises `ZaloNetworkError`. The published SDKs are synchronous, call asyncio.run() inside
handlers, point at a retired host or relabel LGPL code as MIT: this is the part we need.
"""

from __future__ import annotations

from typing import Any

import aiohttp

REQUEST_TIMEOUT_S = 15.0


class ZaloError(Exception):
    """Anything that went wrong calling the Zalo Bot API."""


class ZaloNetworkError(ZaloError):
    """No usable answer: connection refused or dropped, timeout, not the envelope."""


class ZaloApiError(ZaloError):
    """The API answered `ok: false` (or an HTTP error) with this code and description."""

    def __init__(self, method: str, error_code: int, description: str) -> None:
        super().__init__(f"{method}: {error_code} {description}".strip())
        self.method = method
        self.error_code = error_code
        self.description = description


class ZaloBadRequest(ZaloApiError):
    """400: the call itself is wrong (too long a text, missing parameter)."""


class ZaloUnauthorized(ZaloApiError):
    """401: the token is wrong or revoked; nothing will work until it is fixed."""


class ZaloForbidden(ZaloApiError):
    """403: not allowed to write to this chat (the person blocked or left the bot)."""


class ZaloNotFound(ZaloApiError):
    """404: no such chat (or method)."""


class ZaloTimeout(ZaloApiError):
    """408: a poll with nothing to give (getUpdates answers this when it is empty)."""


class ZaloRateLimited(ZaloApiError):
    """429: quota exceeded."""


class ZaloServerError(ZaloApiError):
    """5xx: the platform failed; try again later."""


class ZaloTokenRejected(RuntimeError):
    """Zalo refused the bot token at start (401). Its message names the setting to fix and
    never the token (a secret)."""

    def __init__(self, code: int) -> None:
        super().__init__(
            f"Zalo rejected the bot token ({code}): check HOTLINE_ZALO_BOT_TOKEN (the token "
            "of your bot on the Zalo Bot Platform) and HOTLINE_ZALO_API_URL."
        )
        self.code = code


_BY_CODE: dict[int, type[ZaloApiError]] = {
    400: ZaloBadRequest,
    401: ZaloUnauthorized,
    403: ZaloForbidden,
    404: ZaloNotFound,
    408: ZaloTimeout,
    429: ZaloRateLimited,
}


def api_error(method: str, error_code: int, description: str) -> ZaloApiError:
    """The exception of an error code."""
    cls = _BY_CODE.get(error_code)
    if cls is None:
        cls = ZaloServerError if error_code >= 500 else ZaloApiError
    return cls(method, error_code, description)


def unwrap(method: str, status: int, body: Any) -> Any:
    """The `result` of an envelope, or the error it carries."""
    if not isinstance(body, dict) or "ok" not in body:
        if status >= 400:
            raise api_error(method, status, f"HTTP {status}")
        raise ZaloNetworkError(f"{method}: an answer that is not the Zalo envelope")
    if body.get("ok") is True:
        return body.get("result")
    code = body.get("error_code")
    if not isinstance(code, int) or isinstance(code, bool):
        code = status if status >= 400 else 400
    return _raise(method, code, str(body.get("description") or ""))


def _raise(method: str, code: int, description: str) -> Any:
    raise api_error(method, code, description)


class ZaloClient:
    """The calls the hotline makes, on one aiohttp session (opened on first use)."""

    def __init__(self, token: str, api_url: str = "https://bot-api.zaloplatforms.com") -> None:
        self.token = token
        self.api_url = api_url.rstrip("/")
        self._http: aiohttp.ClientSession | None = None

    def url(self, method: str) -> str:
        """Where a method is called (the token is in the path: never log this)."""
        return f"{self.api_url}/bot{self.token}/{method}"

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout_s: float = 0
    ) -> Any:
        """Call a method with JSON parameters; its `result`."""
        timeout = aiohttp.ClientTimeout(total=timeout_s or REQUEST_TIMEOUT_S)
        try:
            async with self._session().post(
                self.url(method), json=params or {}, timeout=timeout
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ZaloNetworkError(f"{method}: {type(exc).__name__}") from exc
        return unwrap(method, status, body)

    async def get_me(self) -> dict[str, Any]:
        """The bot's own account (id, account_name, display_name...)."""
        result = await self.call("getMe")
        return result if isinstance(result, dict) else {}

    async def get_updates(self, poll_s: int) -> Any:
        """One long poll of `poll_s` seconds: one update (ZaloTimeout, 408, when none)."""
        return await self.call("getUpdates", {"timeout": poll_s}, timeout_s=poll_s + 15)

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        """Send a text of 1 to 2,000 characters."""
        result = await self.call("sendMessage", {"chat_id": chat_id, "text": text})
        return result if isinstance(result, dict) else {}

    async def send_photo(
        self, chat_id: str, photo_url: str, caption: str | None
    ) -> dict[str, Any]:
        """Send an image by its URL, with an optional caption."""
        params: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            params["caption"] = caption
        result = await self.call("sendPhoto", params)
        return result if isinstance(result, dict) else {}

    async def send_sticker(self, chat_id: str, sticker: str) -> dict[str, Any]:
        """Send a sticker by its id."""
        result = await self.call("sendSticker", {"chat_id": chat_id, "sticker": sticker})
        return result if isinstance(result, dict) else {}

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        """Show "typing..." in the chat."""
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})

    async def set_webhook(self, url: str, secret_token: str) -> Any:
        """Have updates POSTed to `url` with `secret_token` in X-Bot-Api-Secret-Token."""
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        """Back to getUpdates."""
        return await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        """The webhook's URL and state."""
        result = await self.call("getWebhookInfo")
        return result if isinstance(result, dict) else {}

    async def close(self) -> None:
        """Release the connections."""
        if self._http is not None and not self._http.closed:
            await self._http.close()
