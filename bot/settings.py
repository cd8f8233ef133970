"""Runtime settings: one pydantic-settings class, built at start-up and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the hotline reads from the environment (prefix HOTLINE_) or a .env file."""

    model_config = SettingsConfigDict(
        env_prefix="HOTLINE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    bot_token: SecretStr | None = Field(default=None, description="Telegram bot token")
    telegram_api_url: str = Field(
        default="https://api.telegram.org", description="Bot API base URL"
    )
    # The client library the Telegram channel runs on (bot/channels/telegram_aiogram/,
    # bot/channels/telegram_ptb/); everything else is the same on both.
    telegram_library: Literal["aiogram", "ptb"] = Field(
        default="aiogram", description="Telegram runtime: aiogram or ptb (python-telegram-bot)"
    )
    # Zalo Bot Platform (bot/channels/zalo/): a channel of its own beside Telegram.
    zalo_bot_token: SecretStr | None = Field(
        default=None, description="Zalo bot token ({bot_id}:{secret})"
    )
    zalo_api_url: str = Field(
        default="https://bot-api.zaloplatforms.com", description="Zalo Bot API base URL"
    )
    zalo_webhook_secret: SecretStr | None = Field(
        default=None, description="secret Zalo sends in X-Bot-Api-Secret-Token (8-256 chars)"
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./hotline.db", description="async SQLAlchemy URL"
    )
    province: str | None = Field(default=None, description="2-digit province code (2025 list)")
    media_dir: Path = Field(default=Path("./media"), description="where evidence is stored")
    # The agency in the heading of the province's reports (default: from the province).
    agency_name: str | None = Field(
        default=None, description="e.g. SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG TỈNH LẠNG SƠN"
    )
    verify_hours: float = Field(default=24.0, gt=0, description="verification deadline, hours")
    # The rest of the deadline policy (bot/deadlines.py); a TOML file may override it all.
    ack_hours: float = Field(default=2.0, gt=0, description="acknowledgement deadline, hours")
    verify_urgent_hours: float = Field(
        default=4.0, gt=0, description="verification deadline of urgent cases, hours"
    )
    result_days: float = Field(default=10.0, gt=0, description="result deadline, days")
    reminder_share: float = Field(
        default=0.75, gt=0, lt=1, description="reminder at this share of a deadline's length"
    )
    digest_time: str = Field(default="07:30", description="daily digest, HH:MM local time")
    deadlines_file: Path | None = Field(
        default=None, description="TOML file overriding the deadline settings"
    )
    max_photos: int = Field(default=5, ge=1, le=10, description="photos per report")
    max_file_mb: int = Field(default=20, ge=1, le=20, description="largest evidence file, MB")
    # Evidence downloads from the channel at once (on a connection pool of their own).
    download_concurrency: int = Field(
        default=4, ge=1, le=100, description="file downloads at once"
    )
    log_level: str = Field(default="INFO", description="logging level")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text lines, or JSON lines for log collectors"
    )
    # Per-user limits (citizens): a polite message when exceeded.
    user_messages_per_minute: int = Field(default=30, ge=1, description="messages per minute")
    user_cases_per_hour: int = Field(default=5, ge=1, description="filed cases per hour")
    # Officers: commands per member of a group per minute (buttons and replies are free).
    group_commands_per_minute: int = Field(
        default=20, ge=1, description="commands per group member per minute"
    )
    # Wrong /link codes from one chat before further attempts are refused for a while.
    link_max_failures: int = Field(default=5, ge=1, description="wrong link codes per window")
    link_failure_window_min: float = Field(
        default=15.0, gt=0, description="window for wrong link codes, minutes"
    )
    # Possible duplicates offered at Confirm: same category, this close, filed this recently.
    duplicate_radius_m: float = Field(
        default=500.0, ge=0, description="distance within which reports may be duplicates, m"
    )
    duplicate_hours: float = Field(
        default=48.0, ge=0, description="how recent an open case must be to be a duplicate, h"
    )
    # Messages held a moment so that the next ones join them (bot/services/notices.py).
    notice_hold_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="a reporter's progress notice waits this long for the next one, s",
    )
    evidence_ack_hold_s: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description="the evidence step's photo count waits this long for the next photo, s",
    )
    # Outbound rate limits, kept below Telegram's so it never has to enforce them.
    send_chat_interval_s: float = Field(
        default=1.0, ge=0, description="seconds between messages to one chat"
    )
    # Messages one chat may get back to back before the spacing applies. Telegram documents
    # a message a second per chat and no burst size: 1 by default; a 429 teaches the
    # limiter a chat's real limits either way (bot/ratelimit.py).
    send_chat_burst: int = Field(
        default=1, ge=1, le=20, description="messages to one chat back to back"
    )
    send_group_per_minute: int = Field(default=20, ge=1, description="messages per group/min")
    send_global_per_second: int = Field(default=30, ge=1, description="messages per second")
    # Chats the outbox sender serves at once (one row each, from its claim to its record).
    # Enough to keep the global budget full while each takes its time: 30 a second with
    # 1.5 s per row (a busy process: intake shares its event loop) needs 45.
    send_concurrency: int = Field(default=48, ge=1, le=256, description="chats sent to at once")
    # A sender holds a row it is delivering this long; after a crash the row is retried.
    outbox_claim_s: float = Field(default=60.0, gt=0, description="delivery claim, seconds")
    # The inbox queue (bot/inbox.py): chats handled at once, and the backlog of stored,
    # unhandled updates above which receivers stop fetching (resuming below half of it).
    inbox_concurrency: int = Field(default=64, ge=1, description="chats handled at once")
    inbox_max_pending: int = Field(
        default=1000, ge=2, description="stored but unhandled updates before fetching pauses"
    )

    # The public pages and Open311 (bot/web/public, bot/web/open311; docs/web.md).
    public_url: str | None = Field(
        default=None,
        description="where the public pages are served, e.g. https://duongdaynong.langson.gov.vn",
    )
    public_bot_username: str | None = Field(
        default=None, description="Telegram bot username for the t.me link on the home page"
    )
    public_zalo_url: str | None = Field(
        default=None, description="link to the Zalo channel, shown on the home page when set"
    )
    open311_posts_per_hour: int = Field(
        default=60, ge=1, description="Open311 requests filed per API key per hour"
    )

    # `hotline serve` (bot/web/server.py; docs/deploy.md): one aiohttp app with the webhooks,
    # /healthz, /readyz, /metrics, the public pages and Open311.
    serve_host: str = Field(default="127.0.0.1", description="address `hotline serve` binds")
    serve_port: int = Field(default=8080, ge=1, le=65535, description="port of `hotline serve`")
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="secret token of the Telegram webhook (1-256 of A-Z a-z 0-9 _ -)",
    )
    # How long a worker's claim on the updates in hand holds without being renewed: after a
    # worker dies, another takes its updates over once this has passed.
    inbox_lease_s: float = Field(
        default=30.0, ge=1, description="claim on updates in hand, seconds"
    )

    @field_validator("telegram_webhook_secret", mode="before")
    @classmethod
    def _no_empty_secret(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("province")
    @classmethod
    def _two_digits(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.strip()
        if not value.isdigit() or len(value) > 2:
            raise ValueError("HOTLINE_PROVINCE must be a 2-digit province code such as 20")
        return value.zfill(2)

    @field_validator("public_bot_username", mode="before")
    @classmethod
    def _bare_username(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().removeprefix("https://t.me/").lstrip("@")
            return value or None
        return value

    @field_validator("public_url", mode="before")
    @classmethod
    def _bare_url(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().rstrip("/") or None
        return value

    @field_validator("public_zalo_url", mode="before")
    @classmethod
    def _no_empty_url(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("agency_name", mode="before")
    @classmethod
    def _no_empty_agency(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("deadlines_file", mode="before")
    @classmethod
    def _no_empty_path(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_library", mode="before")
    @classmethod
    def _library_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("telegram_api_url", "zalo_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def require_province(self) -> str:
        """The province code, or a clear error when it is not configured."""
        if not self.province:
            raise SystemExit(
                "HOTLINE_PROVINCE is not set: give the 2-digit code of your province "
                "(for example HOTLINE_PROVINCE=20 for Lạng Sơn)."
            )
        return self.province

    def zalo_token(self) -> str | None:
        """The Zalo bot token, None when Zalo is not configured."""
        if self.zalo_bot_token is None or not self.zalo_bot_token.get_secret_value().strip():
            return None
        return self.zalo_bot_token.get_secret_value().strip()

    def telegram_token(self) -> str | None:
        """The Telegram bot token, None when Telegram is not configured."""
        if self.bot_token is None or not self.bot_token.get_secret_value():
            return None
        return self.bot_token.get_secret_value()

    def require_token(self) -> str:
        """The bot token, or a clear error when it is not configured."""
        if self.bot_token is None or not self.bot_token.get_secret_value():
            raise SystemExit("HOTLINE_BOT_TOKEN is not set: get a token from @BotFather.")
        return self.bot_token.get_secret_value()
