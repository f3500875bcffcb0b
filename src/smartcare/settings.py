"""Settings for smartcare.

Everything an operator changes comes from environment variables (see docs/operator-guide.md).
The embedded default needs no server: SQLite, local-memory cache, database task queue and an
in-memory channel layer. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from smartcare.core.config import env_bool, env_int, env_list, load_local_secrets

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("SMARTCARE_VAR_DIR", PROJECT_DIR / "var"))

DEBUG = env_bool("SMARTCARE_DEBUG", default=False)

_local = load_local_secrets(VAR_DIR)
SECRET_KEY = os.environ.get("SMARTCARE_SECRET_KEY") or _local["secret_key"]
# Field encryption keys: the current key first, retired keys (still readable) after it.
SMARTCARE_FIELD_KEY = os.environ.get("SMARTCARE_FIELD_KEY") or _local["field_key"]
SMARTCARE_FIELD_KEYS_RETIRED = env_list("SMARTCARE_FIELD_KEYS_RETIRED")

ALLOWED_HOSTS = env_list("SMARTCARE_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("SMARTCARE_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "django_htmx",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "django_tasks_rq",
    "django_rq",
    "smartcare.core",
    "smartcare.audit",
    "smartcare.accounts",
    "smartcare.notifications",
    "smartcare.organization",
    "smartcare.knowledge",
    "smartcare.patients",
    "smartcare.scheduling",
    "smartcare.visits",
    "smartcare.emr",
    "smartcare.cdss",
    "smartcare.triage",
    "smartcare.monitoring",
    "smartcare.followup",
    "smartcare.billing",
    "smartcare.workforce",
    "smartcare.equipment",
    "smartcare.health",
    "smartcare.telemedicine",
    "smartcare.interop",
    "smartcare.research",
    "smartcare.kpi",
    "smartcare.simulation",
    "smartcare.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "smartcare.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "smartcare.accounts.middleware.SessionPolicyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "smartcare.core.middleware.CodedErrorMiddleware",
    # AxesMiddleware must be last: it turns lockouts into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "smartcare.urls"
WSGI_APPLICATION = "smartcare.wsgi.application"
ASGI_APPLICATION = "smartcare.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "smartcare.web.context_processors.shell",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
_default_sqlite = f"sqlite:///{VAR_DIR / 'smartcare.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(os.environ.get("DATABASE_URL") or _default_sqlite, conn_max_age=0)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE transactions take the write lock at BEGIN, so two writers never deadlock
        # on lock upgrade; WAL lets readers run beside the writer.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    # A file, not memory, so that worker processes started by tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-smartcare.sqlite3")}
else:
    # 0 by default: under ASGI every thread of the sync-view pool would otherwise keep its own
    # connection open and a busy server runs PostgreSQL out of connections. Use a pooler to reuse.
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("SMARTCARE_DB_CONN_MAX_AGE", 0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # A pool per process (psycopg_pool, Django's OPTIONS["pool"]): a request borrows a connection
    # and gives it back at its end instead of starting a PostgreSQL backend each time, and the
    # pool's size bounds how many requests of one process work in the database at once (the
    # others wait their turn in order). 0 turns it off (e.g. behind PgBouncer).
    _pool_size = env_int("SMARTCARE_DB_POOL_SIZE", 8)
    if _pool_size > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, _pool_size),
            "max_size": _pool_size,
            "timeout": env_int("SMARTCARE_DB_POOL_TIMEOUT", 30),
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# Threads that serve HTTP requests in each web worker process (see smartcare.core.asgi): requests
# beyond that wait in order. Match the database pool (SMARTCARE_DB_POOL_SIZE).
SMARTCARE_WEB_THREADS = env_int("SMARTCARE_WEB_THREADS", 8)
# Cockpit: an exam repeated within this many days counts as a repeat exam.
SMARTCARE_KPI_REPEAT_EXAM_DAYS = env_int("SMARTCARE_KPI_REPEAT_EXAM_DAYS", 7)

# --- Cache, channel layer, tasks ------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "smartcare.core.cache.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    # The queue borrows the cache's Redis connections (see smartcare.core.cache).
    RQ_QUEUES = {"default": {"USE_REDIS_CACHE": "default", "DEFAULT_TIMEOUT": 600}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {}
if env_bool("SMARTCARE_TASKS_IMMEDIATE", default=False):
    TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}
    }

# --- Authentication and security -------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"

AXES_FAILURE_LIMIT = env_int("SMARTCARE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("SMARTCARE_LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
# Lock the account, not the address: a hospital's desks often share one NAT address, and
# locking that would lock every desk. Brute force is also slowed per user by Argon2.
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "smartcare.accounts.views.lockout_response"
AXES_VERBOSE = False
AXES_ENABLED = env_bool("SMARTCARE_AXES_ENABLED", default=True)

# Two-factor: "required" makes every staff member enrol a TOTP device before anything else;
# "optional" asks for the code only from staff who have enrolled one.
SMARTCARE_STAFF_2FA = os.environ.get("SMARTCARE_STAFF_2FA", "optional")
OTP_TOTP_ISSUER = "smartcare"

SESSION_COOKIE_AGE = env_int("SMARTCARE_SESSION_HOURS", 8) * 3600
SMARTCARE_SESSION_IDLE_MINUTES = env_int("SMARTCARE_SESSION_IDLE_MINUTES", 30)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Set by `smartcare serve --certfile/--keyfile` or behind a TLS proxy (SMARTCARE_HTTPS=1).
SMARTCARE_HTTPS = env_bool("SMARTCARE_HTTPS", default=False)
if SMARTCARE_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SMARTCARE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_SSL_REDIRECT = env_bool("SMARTCARE_SSL_REDIRECT", default=False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Break-the-glass grants last this long.
SMARTCARE_BREAK_GLASS_HOURS = env_int("SMARTCARE_BREAK_GLASS_HOURS", 4)
# Proxies whose X-Forwarded-For is believed for the client address in the audit trail.
SMARTCARE_TRUSTED_PROXIES = env_list("SMARTCARE_TRUSTED_PROXIES", default=["127.0.0.1", "::1"])

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("SMARTCARE_TIME_ZONE", "Asia/Shanghai")

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
WHITENOISE_USE_FINDERS = True

# --- Mail --------------------------------------------------------------------------------------
SMTP_URL = os.environ.get("SMTP_URL", "")
DEFAULT_FROM_EMAIL = os.environ.get("SMARTCARE_FROM_EMAIL", "smartcare@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SMARTCARE_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}, "django.request": {"level": "ERROR"}},
}

# Booking reminders: the evening before (hour, local time) and this many minutes before.
SMARTCARE_REMINDER_DAY_BEFORE_HOUR = env_int("SMARTCARE_REMINDER_DAY_BEFORE_HOUR", 18)
SMARTCARE_REMINDER_MINUTES_BEFORE = env_int("SMARTCARE_REMINDER_MINUTES_BEFORE", 120)

# Delivery of SMS: a dotted path to a class with send(phone, text) (see notifications/providers.py).
SMARTCARE_SMS_PROVIDER = os.environ.get(
    "SMARTCARE_SMS_PROVIDER", "smartcare.notifications.providers.LogSmsProvider"
)

# Waiting-room display links stay valid this many days.
SMARTCARE_DISPLAY_TOKEN_DAYS = env_int("SMARTCARE_DISPLAY_TOKEN_DAYS", 180)
# Largest knowledge file a curator may upload in the page or the API (the command has no limit).
SMARTCARE_KNOWLEDGE_MAX_UPLOAD_MB = env_int("SMARTCARE_KNOWLEDGE_MAX_UPLOAD_MB", 64)
# Triage requests per client address and minute (the public page and API).
SMARTCARE_TRIAGE_RATE_PER_MINUTE = env_int("SMARTCARE_TRIAGE_RATE_PER_MINUTE", 30)

# Home monitoring: the MQTT broker of `smartcare mqtt-bridge` (mqtt://host:port or mqtts://...),
# the topic prefix (devices publish to <prefix>/<device id>/readings), the bridge's fixed client id
# (its persistent session), and minutes before an unacknowledged critical alert escalates.
MQTT_URL = os.environ.get("MQTT_URL", "")
SMARTCARE_MQTT_TOPIC_PREFIX = os.environ.get("SMARTCARE_MQTT_TOPIC_PREFIX", "smartcare/devices")
SMARTCARE_MQTT_CLIENT_ID = os.environ.get("SMARTCARE_MQTT_CLIENT_ID", "smartcare-mqtt-bridge")
# Equipment telemetry on the same bridge: <prefix>/<asset uid>/telemetry (equipment app).
SMARTCARE_EQUIPMENT_TOPIC_PREFIX = os.environ.get("SMARTCARE_EQUIPMENT_TOPIC_PREFIX", "smartcare/equipment")
SMARTCARE_EQUIPMENT_RAW_DAYS = int(os.environ.get("SMARTCARE_EQUIPMENT_RAW_DAYS", "14"))
SMARTCARE_MONITORING_ESCALATE_MINUTES = env_int("SMARTCARE_MONITORING_ESCALATE_MINUTES", 15)

# Follow-up: days a missed task waits at level 1 before it goes to the department head; days a
# satisfaction survey stays open; the satisfaction indicator's target (percent); hosts (besides this
# server's own paths) that may serve education videos: the hospital's own file servers, never a CDN.
SMARTCARE_FOLLOWUP_ESCALATION_DAYS = env_int("SMARTCARE_FOLLOWUP_ESCALATION_DAYS", 2)
SMARTCARE_SURVEY_OPEN_DAYS = env_int("SMARTCARE_SURVEY_OPEN_DAYS", 14)
SMARTCARE_SATISFACTION_TARGET_PERCENT = env_int("SMARTCARE_SATISFACTION_TARGET_PERCENT", 90)
SMARTCARE_EDUCATION_VIDEO_HOSTS = env_list("SMARTCARE_EDUCATION_VIDEO_HOSTS")

SMARTCARE_HOSPITAL_NAME = os.environ.get("SMARTCARE_HOSPITAL_NAME", "")

# FHIR: the department (national code) that encounters imported from elsewhere are filed under when
# they name no smartcare department, and the largest request body the FHIR API reads.
SMARTCARE_FHIR_IMPORT_DEPARTMENT = os.environ.get("SMARTCARE_FHIR_IMPORT_DEPARTMENT", "02")
SMARTCARE_FHIR_MAX_BODY_MB = env_int("SMARTCARE_FHIR_MAX_BODY_MB", 50)

# HL7 v2 and DICOM: the facility named in our ACKs (MSH-4); where DICOM files are stored; the PACS
# read over DICOMweb when set (Orthanc: http://pacs:8042/dicom-web) with a bearer token or basic auth.
SMARTCARE_HL7_FACILITY = os.environ.get("SMARTCARE_HL7_FACILITY", "SMARTCARE")
SMARTCARE_DICOM_DIR = os.environ.get("SMARTCARE_DICOM_DIR", str(VAR_DIR / "dicom"))
SMARTCARE_DICOMWEB_URL = os.environ.get("SMARTCARE_DICOMWEB_URL", "")
SMARTCARE_DICOMWEB_TOKEN = os.environ.get("SMARTCARE_DICOMWEB_TOKEN", "")
SMARTCARE_DICOMWEB_USER = os.environ.get("SMARTCARE_DICOMWEB_USER", "")
SMARTCARE_DICOMWEB_PASSWORD = os.environ.get("SMARTCARE_DICOMWEB_PASSWORD", "")
SMARTCARE_DICOMWEB_TIMEOUT = env_int("SMARTCARE_DICOMWEB_TIMEOUT", 15)

# Workforce: threads the roster solver (CP-SAT) uses in the worker.
SMARTCARE_ROSTER_SOLVER_WORKERS = env_int("SMARTCARE_ROSTER_SOLVER_WORKERS", 2)

# Billing: payment providers (dotted paths), QR order expiry, the refund approval threshold
# (yuan of charges), the public base URL given to providers for their callbacks (empty: the
# request's own host), and the sandbox QR gateway's secret (empty: derived from SECRET_KEY).
SMARTCARE_PAYMENT_PROVIDERS = env_list(
    "SMARTCARE_PAYMENT_PROVIDERS",
    default=[
        "smartcare.billing.providers.cashier.CashierProvider",
        "smartcare.billing.providers.sandbox.SandboxQrProvider",
    ],
)
SMARTCARE_PAYMENT_EXPIRY_MINUTES = env_int("SMARTCARE_PAYMENT_EXPIRY_MINUTES", 15)
SMARTCARE_REFUND_APPROVAL_THRESHOLD = os.environ.get("SMARTCARE_REFUND_APPROVAL_THRESHOLD", "200.00")
SMARTCARE_PUBLIC_URL = os.environ.get("SMARTCARE_PUBLIC_URL", "")
SMARTCARE_SANDBOX_PAY_SECRET = os.environ.get("SMARTCARE_SANDBOX_PAY_SECRET", "")

# Telemedicine: STUN/TURN servers for WebRTC as JSON, e.g.
# [{"urls": "stun:stun.example.org:3478"}, {"urls": "turn:turn.example.org", "username": "u", "credential": "p"}]
# (default none: the browsers find each other on the same network or on localhost); answer windows
# per urgency (hours); the ICD-10 characters compared for concordance (3: the category); the
# expert's record access after accepting and after answering (days); room link lifetime (seconds).
TELEMEDICINE_ICE_SERVERS = json.loads(os.environ.get("SMARTCARE_TELEMEDICINE_ICE_SERVERS", "") or "[]")
TELEMEDICINE_RESPONSE_HOURS = {
    "routine": float(os.environ.get("SMARTCARE_TELEMEDICINE_ROUTINE_HOURS", "24")),
    "urgent": float(os.environ.get("SMARTCARE_TELEMEDICINE_URGENT_HOURS", "4")),
    "emergency": float(os.environ.get("SMARTCARE_TELEMEDICINE_EMERGENCY_HOURS", "1")),
}
TELEMEDICINE_CONCORDANCE_LEVEL = env_int("SMARTCARE_TELEMEDICINE_CONCORDANCE_LEVEL", 3)
TELEMEDICINE_ACCESS_DAYS = env_int("SMARTCARE_TELEMEDICINE_ACCESS_DAYS", 7)
TELEMEDICINE_ACCESS_AFTER_ANSWER_DAYS = env_int("SMARTCARE_TELEMEDICINE_ACCESS_AFTER_ANSWER_DAYS", 3)
TELEMEDICINE_ROOM_TOKEN_SECONDS = env_int("SMARTCARE_TELEMEDICINE_ROOM_TOKEN_SECONDS", 7200)
