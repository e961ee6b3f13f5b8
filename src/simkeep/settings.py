"""Settings: one typed object, read once from the environment (prefix ``SIMKEEP_``).

Nothing else in simkeep reads the environment. ``load_settings()`` is called by the entry
points (CLI, ASGI factory, tests); domain code receives the object it needs.

``public_url`` is where payers and providers reach this server (notify and return URLs,
receipt links, the simulators' cashiers). Unset, it follows ``host`` and ``port`` — a
server started on another port names that port — with a wildcard host (``0.0.0.0``, ``::``)
read as this machine's loopback; behind a proxy, set it. Production refuses to start without
an ``https://`` public URL: providers would otherwise send notifications nowhere.
"""

from __future__ import annotations

from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from simkeep.payment_methods import ONLINE_PROVIDERS, Provider
from simkeep.refunds.model import AutoRule

DEV_SECRET = "dev-only-secret-change-me"  # noqa: S105 - refused outside development
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
TILES_URL_PATTERN = (  # http(s), with {z}, {x} and {y}, nothing that would break the CSP
    r"^$|^https?://[^\s\"'<>;,]*\{z\}[^\s\"'<>;,]*\{x\}[^\s\"'<>;,]*\{y\}[^\s\"'<>;,]*$"
)


PROVIDER_FIELDS = {
    "alipay": (
        "alipay_app_id",
        "alipay_seller_id",
        "alipay_private_key_file",
        "alipay_public_key_file",
    ),
    "wechatpay": (
        "wechatpay_mchid",
        "wechatpay_appid",
        "wechatpay_private_key_file",
        "wechatpay_serial_no",
        "wechatpay_apiv3_key",
        "wechatpay_public_key_file",
        "wechatpay_public_key_id",
    ),
    "unionpay": (
        "unionpay_mer_id",
        "unionpay_private_key_file",
        "unionpay_cert_id",
        "unionpay_root_cert_file",
        "unionpay_middle_cert_file",
    ),
    "fps": (
        "fps_proxy_id",
        "fps_merchant_name",
        "fps_bank_client_id",
        "fps_private_key_file",
        "fps_bank_public_key_file",
        "fps_bank_api_url",
    ),
    "alipayhk": (
        "alipayhk_client_id",
        "alipayhk_private_key_file",
        "alipayhk_public_key_file",
    ),
    "wechatpay_hk": (
        "wechatpay_hk_mchid",
        "wechatpay_hk_appid",
        "wechatpay_hk_private_key_file",
        "wechatpay_hk_serial_no",
        "wechatpay_hk_apiv3_key",
        "wechatpay_hk_public_key_file",
        "wechatpay_hk_public_key_id",
    ),
}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Everything simkeep can be told, validated at start."""

    model_config = SettingsConfigDict(env_prefix="SIMKEEP_", frozen=True, extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///var/simkeep.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str = DEV_SECRET
    log_json: bool = False
    log_level: str = "INFO"
    default_locale: str = "zh_Hant_HK"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_retry_attempts: int = Field(default=10, ge=1, le=100)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    ledger_hot_slots: int = Field(default=8, ge=2, le=64)
    public_url: str = ""  # unset: http://{host}:{port} (see above)
    simulators: bool = True  # the provider simulators and the SMS gateway, under /_sim
    # The provider simulators served by a process of their own (``simkeep simulators
    # serve``), e.g. http://127.0.0.1:9100; unset, they run inside the web process.
    simulators_url: str = ""
    # Where the provider simulators keep their records (trades, refunds, agreements …) so that
    # they remember them when started again, e.g. var/simulators (``simulators.records``; one
    # process writes it at a time); empty: in memory only.
    simulator_records: str = ""
    run_jobs: bool = True  # deliver SMS, poll providers, expire orders, in this process
    # Work on a queue (docs/scaling.md): a RabbitMQ URL, e.g. amqp://guest:guest@127.0.0.1:5672/
    # — the background work then goes to the broker and is run by `simkeep worker` processes,
    # not by the web processes; empty (the embedded default): the in-process worker loop.
    queue_url: str = Field(default="", pattern=r"^$|^amqps?://")
    queue_prefix: str = Field(default="simkeep", pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")
    worker_threads: int = Field(default=4, ge=1, le=64)  # tasks a queue worker runs at once
    # Reads off the primary (docs/scaling.md): PostgreSQL streaming replicas, comma-separated
    # URLs (each a replica, or a pgbouncer pool in front of one), for the pages and routes that
    # only read; a replica more than replica_max_lag_seconds behind is left out until it has
    # caught up. Empty (the default): every read on the primary.
    replica_urls: str = ""
    replica_max_lag_seconds: float = Field(default=2.0, ge=0.1, le=60.0)
    order_ttl_seconds: int = Field(default=15 * 60, ge=10, le=24 * 3600)  # an order's time to pay
    # The daily retention run (docs/retention.md), at this Hong Kong time (HH:MM) by the job
    # loop; empty: not by the job loop (run `simkeep retention run` from cron instead).
    retention_run_at: str = Field(default="", pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d$")
    # Auto keep-alive (docs/retention.md): the job loop looks the active rules over for the
    # notices (and the attempts they open) every this many seconds.
    keepalive_scan_seconds: int = Field(default=60, ge=1, le=3600)
    # The counter (docs/outlets.md, "ID check"): a top-up of at least this many minor units of
    # the sale's currency needs the holder's ID checked first (a suspended SIM always does).
    id_check_from: int = Field(default=50_000, ge=0, le=10**9)
    # Vouchers (docs/outlets.md, "Vouchers"): failed PINs allowed per number and per account
    # in 24 hours, and per address in an hour, before redemptions are refused for a while.
    voucher_failures_per_number: int = Field(default=5, ge=1, le=1_000)
    voucher_failures_per_account: int = Field(default=10, ge=1, le=10_000)
    voucher_failures_per_address: int = Field(default=20, ge=1, le=10_000_000)
    # Refunds (docs/refunds.md): a wrong-number top-up nobody used, of at most this many
    # minor units of the SIM's currency (0: never), asked within this many hours of its
    # credit, is approved without staff.
    refund_auto_max: int = Field(default=30_000, ge=0, le=10**9)
    refund_auto_hours: int = Field(default=24, ge=0, le=24 * 365)
    # Reconciliation (docs/reconciliation.md): what simkeep took within this many minutes of
    # a day's end that the day's bill lacks is looked for in the next day's bill before it is
    # flagged; the job loop reconciles yesterday of every online provider from this Hong
    # Kong time (HH:MM), once the providers' bills are out; empty: not by the job loop (run
    # `simkeep reconcile` from cron instead).
    reconcile_carry_minutes: int = Field(default=10, ge=0, le=12 * 60)
    reconcile_at: str = Field(default="10:00", pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d$")
    keys_dir: str = "var/keys"
    # The outlet finder's map (docs/outlets.md): a tile server's URL with {z}, {x}, {y} (and
    # {s}), whose host the pages' CSP lets images come from; empty: no tiles, the markers on
    # a plain background. Its attribution is HTML, shown on the map.
    map_tiles_url: str = Field(default=OSM_TILES, pattern=TILES_URL_PATTERN)
    map_attribution: str = Field(default=OSM_ATTRIBUTION, max_length=500)
    # Email (reminders to a verified address, docs/retention.md): through this mail server,
    # smtp://user:password@host:587 (STARTTLS) or smtps://…:465; unset, into the simulated
    # mailbox at /_sim/email while the simulators are on, else nowhere (emails wait queued).
    smtp_url: str = ""
    mail_from: str = ""  # the From of every email, e.g. "simkeep <noreply@example.hk>"
    # Request bodies are cut at these sizes before any handler reads them (docs/http-edge.md).
    # A provider's notification gets room for the largest the providers document (a few KiB);
    # every other body simkeep takes is a form or a small JSON object well under 2 KiB.
    notify_body_limit_bytes: int = Field(default=64 * 1024, ge=4 * 1024, le=1024 * 1024)
    body_limit_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    # Real merchant credentials, used when the simulators are off (docs/payments.md). Key
    # files are PEM; a provider is on when all of its fields are set.
    alipay_app_id: str = ""
    alipay_seller_id: str = ""
    alipay_private_key_file: str = ""
    alipay_public_key_file: str = ""  # Alipay's public key, from the open platform console
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_private_key_file: str = ""
    wechatpay_serial_no: str = ""
    wechatpay_apiv3_key: str = ""
    wechatpay_public_key_file: str = ""  # WeChat Pay's public key (public-key mode)
    wechatpay_public_key_id: str = ""  # PUB_KEY_ID_…
    wechatpay_base_url: str = "https://api.mch.weixin.qq.com"
    # UnionPay online gateway (ACP 5.1.0): the merchant's signing key and its certificate's
    # serial (certId), and UnionPay's root and intermediate certificates that a notification's
    # certificate must chain to. The currencies the acquirer settles, comma-separated.
    unionpay_mer_id: str = ""
    unionpay_private_key_file: str = ""
    unionpay_cert_id: str = ""
    unionpay_root_cert_file: str = ""
    unionpay_middle_cert_file: str = ""
    unionpay_gateway_url: str = "https://gateway.95516.com/gateway/api"
    unionpay_currencies: str = Field(default="CNY", pattern=r"^(CNY|HKD)(,(CNY|HKD))?$")
    # FPS through the receiving bank: the merchant's FPS ID (or proxy) and name on the QR
    # code, our client id and key at the bank's API, the bank's key for its notifications.
    fps_proxy_id: str = ""
    fps_merchant_name: str = ""
    fps_bank_client_id: str = ""
    fps_private_key_file: str = ""
    fps_bank_public_key_file: str = ""
    fps_bank_api_url: str = ""
    # AlipayHK through Alipay+ (Antom AMS): client id, our key and Alipay's, the key version.
    alipayhk_client_id: str = ""
    alipayhk_private_key_file: str = ""
    alipayhk_public_key_file: str = ""
    alipayhk_key_version: str = "1"
    alipayhk_gateway_url: str = "https://open-sea-global.alipay.com"
    # WeChat Pay HK: the v3 global API, with its own merchant (as WeChat Pay above).
    wechatpay_hk_mchid: str = ""
    wechatpay_hk_appid: str = ""
    wechatpay_hk_private_key_file: str = ""
    wechatpay_hk_serial_no: str = ""
    wechatpay_hk_apiv3_key: str = ""
    wechatpay_hk_public_key_file: str = ""
    wechatpay_hk_public_key_id: str = ""
    wechatpay_hk_base_url: str = "https://apihk.mch.weixin.qq.com"
    # Ways to pay switched off (comma-separated provider codes, e.g. "fps,alipayhk"): not
    # offered at checkout nor taken by the API, whatever is configured.
    payment_methods_off: str = Field(
        default="", pattern=r"^$|^[a-z_]{2,16}(,[a-z_]{2,16})*$", max_length=200
    )

    @model_validator(mode="before")
    @classmethod
    def _public_url_follows_the_port(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("public_url"):
            return data
        if str(data.get("environment", "")) == Environment.PRODUCTION.value:
            return data  # production names its public address itself (checked below)
        host = str(data.get("host") or cls.model_fields["host"].default)
        port = data.get("port") or cls.model_fields["port"].default
        return {**data, "public_url": f"http://{_reachable(host)}:{port}"}

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError("SIMKEEP_SECRET_KEY must be set (32+ characters) in production")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production runs on PostgreSQL: set SIMKEEP_DATABASE_URL")
            if self.simulators:
                raise ValueError("the simulators are off in production: SIMKEEP_SIMULATORS=false")
            if not self.public_url.startswith("https://"):
                raise ValueError(
                    "set SIMKEEP_PUBLIC_URL to the https:// address payers and providers reach"
                )
        return self

    @model_validator(mode="after")
    def _simulators_url_is_http(self) -> Settings:
        if self.simulators_url and not self.simulators_url.startswith(("http://", "https://")):
            raise ValueError("SIMKEEP_SIMULATORS_URL is an http:// or https:// address")
        return self

    @model_validator(mode="after")
    def _smtp_url_is_smtp(self) -> Settings:
        if self.smtp_url and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise ValueError("SIMKEEP_SMTP_URL is an smtp:// or smtps:// address")
        if self.smtp_url and not self.mail_from:
            raise ValueError("set SIMKEEP_MAIL_FROM, the address simkeep's emails come from")
        return self

    @model_validator(mode="after")
    def _providers_whole(self) -> Settings:
        for provider in PROVIDER_FIELDS:
            fields = {name: getattr(self, name) for name in PROVIDER_FIELDS[provider]}
            missing = [f"SIMKEEP_{name.upper()}" for name, value in fields.items() if not value]
            if missing and len(missing) < len(fields):
                raise ValueError(f"{provider} is half configured: set {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _methods_off_known(self) -> Settings:
        online = {provider.value for provider in ONLINE_PROVIDERS}
        if unknown := set(self.payment_methods_off.split(",")) - online - {""}:
            raise ValueError(
                f"SIMKEEP_PAYMENT_METHODS_OFF: no way to pay named {', '.join(sorted(unknown))}"
                f" (one of {', '.join(sorted(online))})"
            )
        return self

    @property
    def methods_off(self) -> frozenset[Provider]:
        """The ways to pay the operator switched off."""
        return frozenset(Provider(code) for code in self.payment_methods_off.split(",") if code)

    def provider_configured(self, provider: str) -> bool:
        """Whether real credentials for ``provider`` (a key of ``PROVIDER_FIELDS``) are set."""
        return all(getattr(self, name) for name in PROVIDER_FIELDS[provider])

    @property
    def refund_rule(self) -> AutoRule:
        return AutoRule(self.refund_auto_max, timedelta(hours=self.refund_auto_hours))

    @property
    def https_only(self) -> bool:
        """Whether browsers reach simkeep over HTTPS only: everywhere but on a developer's plain
        HTTP. Cookies are then ``Secure`` and responses carry ``Strict-Transport-Security``."""
        return self.environment is not Environment.DEVELOPMENT

    @property
    def retention_time(self) -> time | None:
        """The Hong Kong time of the daily retention run, if the job loop runs it."""
        return time.fromisoformat(self.retention_run_at) if self.retention_run_at else None

    @property
    def reconcile_time(self) -> time | None:
        """The Hong Kong time the job loop reconciles yesterday from, if it does."""
        return time.fromisoformat(self.reconcile_at) if self.reconcile_at else None

    @property
    def reconcile_carry(self) -> timedelta:
        return timedelta(minutes=self.reconcile_carry_minutes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The database file for a SQLite URL (None for PostgreSQL or in-memory)."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        return Path(path) if path and path != ":memory:" else None


def _reachable(host: str) -> str:
    """The host part of a URL that reaches a server listening on ``host``."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - read, not bound
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; explicit overrides win (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
