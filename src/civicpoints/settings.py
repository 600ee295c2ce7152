"""Django settings, read from the environment.

Development (the default) runs on SQLite in ``var/``; ``CIVICPOINTS_ENV=production`` turns on
every deploy check and refuses to start without a real secret key. ``DATABASE_URL`` selects
PostgreSQL. Nothing here holds business rules.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
REPO_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("CIVICPOINTS_VAR_DIR", REPO_DIR / "var"))

ENV = os.environ.get("CIVICPOINTS_ENV", "development")
PRODUCTION = ENV == "production"
TESTING = "pytest" in sys.modules or os.environ.get("CIVICPOINTS_TESTING") == "1"

_DEV_SECRET = "dev-only-insecure-key-civicpoints-0123456789-not-for-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", "" if PRODUCTION else _DEV_SECRET)
if PRODUCTION and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be set to 50+ random characters in production")

DEBUG = not PRODUCTION and os.environ.get("DEBUG", "1") == "1"
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get(
        "ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver"
    ).split(",")
    if h.strip()
]
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "civicpoints.schemes",
    "civicpoints.audit",
    "civicpoints.households",
    "civicpoints.ledger",
    "civicpoints.rules",
    "civicpoints.awards",
    "civicpoints.activities",
    "civicpoints.stores",
    "civicpoints.merchants",
    "civicpoints.notifications",
    "civicpoints.community",
    "civicpoints.risk",
    "civicpoints.reports",
    "civicpoints.honours",
    "civicpoints.credit",
    "civicpoints.ops",
    "civicpoints.demo",
    "civicpoints.backoffice",
    "civicpoints.portal",
    "civicpoints.counter",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # 503 + Retry-After instead of a 500 while the database is away (ops/unavailable.py).
    "civicpoints.ops.unavailable.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "civicpoints.backoffice.sessions.StaffSessionLimits",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A refusal (ApplicationError) out of a page view becomes its page (faces/errors.py).
    "civicpoints.faces.errors.PageErrors",
]

ROOT_URLCONF = "civicpoints.urls"
WSGI_APPLICATION = "civicpoints.wsgi.application"
AUTH_USER_MODEL = "schemes.User"
LOGIN_URL = "backoffice:login"
LOGIN_REDIRECT_URL = "backoffice:home"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "civicpoints.backoffice.navigation.context",
            ],
        },
    },
]


def db_pool_options() -> dict:
    """Django's psycopg pool. ``timeout``: how long a request waits for a connection before it
    is answered 503 (ops/unavailable.py). The pool checks each connection before handing it
    out because ``CONN_HEALTH_CHECKS`` is on (Django passes ``ConnectionPool.check_connection``
    as the pool's ``check``), so after a database restart a dead connection is replaced
    instead of failing the request."""
    return {
        "min_size": int(os.environ.get("CIVICPOINTS_DB_POOL_MIN", "2")),
        "max_size": int(os.environ.get("CIVICPOINTS_DB_POOL_MAX", "20")),
        "timeout": float(os.environ.get("CIVICPOINTS_DB_POOL_TIMEOUT", "10")),
    }


# Django's backends with our schema editors (civicpoints/db: one-to-one links unique with
# their scheme, docs/scaling.md).
POSTGRESQL = "civicpoints.db.postgresql"
_BACKENDS = {
    "django.db.backends.postgresql": POSTGRESQL,
    "django.db.backends.sqlite3": "civicpoints.db.sqlite3",
}


def _database() -> dict:
    url = os.environ.get("DATABASE_URL", "")
    if url:
        db: dict = dict(dj_database_url.parse(url))
        db["ENGINE"] = _BACKENDS.get(db["ENGINE"], db["ENGINE"])
        if db["ENGINE"] == POSTGRESQL:
            db["CONN_MAX_AGE"] = 0
            # With the pool: each pooled connection is checked before use (see db_pool_options).
            db["CONN_HEALTH_CHECKS"] = True
            options = db.setdefault("OPTIONS", {})
            if os.environ.get("CIVICPOINTS_DB_POOL", "1") == "1" and not TESTING:
                options["pool"] = db_pool_options()
            db["TEST"] = {
                "NAME": os.environ.get("CIVICPOINTS_TEST_DB", f"test_civicpoints_{os.getpid()}")
            }
        return db
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": _BACKENDS["django.db.backends.sqlite3"],
        "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "civicpoints.sqlite3")),
        "OPTIONS": {
            # IMMEDIATE: a writer takes the write lock at BEGIN, so two writers never
            # deadlock upgrading a read lock; WAL lets readers go on meanwhile.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        },
        # A file, not :memory:, so that tests with threads share one database.
        "TEST": {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")},
    }


def _replica(primary: dict) -> dict | None:
    """``DATABASE_REPLICA_URL``: a PostgreSQL streaming replica of the primary, which the
    dashboard's and the reports' reads may use (``civicpoints.replica``). Not under tests: the
    test runner cannot create its database on a read-only replica, and the suite's tests each
    hold their rows in a transaction of the primary. ``tests/reports/test_replica.py`` adds the
    real replica itself, where the primary's test database arrives by streaming replication."""
    url = os.environ.get("DATABASE_REPLICA_URL", "")
    if not url or primary["ENGINE"] != POSTGRESQL or TESTING:
        return None
    db: dict = dict(dj_database_url.parse(url))
    db["ENGINE"] = POSTGRESQL
    db["CONN_MAX_AGE"] = 0
    db["CONN_HEALTH_CHECKS"] = True
    if os.environ.get("CIVICPOINTS_DB_POOL", "1") == "1" and not TESTING:
        db.setdefault("OPTIONS", {})["pool"] = db_pool_options()
    return db


DATABASES = {"default": _database()}
if (_replica_db := _replica(DATABASES["default"])) is not None:
    DATABASES["replica"] = _replica_db
DATABASE_ROUTERS = ["civicpoints.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Staff passwords: Django's default (PBKDF2). Residents' PINs: a keyed HMAC (households/crypto.py).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "civicpoints.households.crypto.PinHasher",
]
if TESTING:
    # Hashing is deliberately slow in production; tests create many users.
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "civicpoints.households.crypto.PinHasher",
    ]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = VAR_DIR / "media"  # uploads live outside the web root and are served by views
EVIDENCE_ROOT = Path(os.environ.get("CIVICPOINTS_EVIDENCE_ROOT", VAR_DIR / "evidence"))
EVIDENCE_MAX_BYTES = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Keys for encrypting ID card numbers (Fernet, newest first) and for their lookup digests.
FIELD_ENCRYPTION_KEYS = [
    k for k in os.environ.get("FIELD_ENCRYPTION_KEYS", "").split(",") if k.strip()
]
if PRODUCTION and not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set in production")

# Credit statements (docs/credit.md): each scheme's Ed25519 signing key as a PKCS8 PEM named
# <kid>.pem in this directory (mode 0600, not in backups). Outside production the keys are
# derived from SECRET_KEY instead (households/crypto.py derived_key), unless
# CIVICPOINTS_STATEMENT_KEYS=files asks for files there too.
STATEMENT_KEY_DIR = Path(os.environ.get("STATEMENT_KEY_DIR", VAR_DIR / "keys" / "statements"))
STATEMENT_KEYS_DERIVED = (
    not PRODUCTION and os.environ.get("CIVICPOINTS_STATEMENT_KEYS", "derived") != "files"
)

SMS_BACKEND = os.environ.get("SMS_BACKEND", "civicpoints.households.sms.ConsoleBackend")
# Texts to residents go out from a background task (docs/operations.md "Background tasks"):
# the database backend, run by `civicpoints db_worker` (started by `civicpoints serve`). Tests
# run tasks at once on commit. A failing SMS backend is retried after these many seconds
# (attempt 2, 3, ...), then the text is given up (status "failed").
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if TESTING
            else "django_tasks_db.DatabaseBackend"
        ),
        "QUEUES": ["default"],
    }
}
SMS_RETRY_DELAYS = [30, 120, 600, 1800, 7200]
# Inbound SMS commands (docs/notifications.md): the gateway signs each request with this
# secret (HMAC-SHA256 of the body); empty turns the webhook off. Each phone may send
# SMS_INBOUND_LIMIT commands per SMS_INBOUND_WINDOW seconds.
SMS_WEBHOOK_SECRET = os.environ.get("SMS_WEBHOOK_SECRET", "")
SMS_INBOUND_LIMIT = 5
SMS_INBOUND_WINDOW = 10 * 60

# Staff login (docs/security.md): after LOGIN_FAILURE_LIMIT failures within
# LOGIN_FAILURE_WINDOW_SECONDS of each other the account waits LOGIN_LOCKOUT_SECONDS.
LOGIN_FAILURE_LIMIT = 5
LOGIN_LOCKOUT_SECONDS = 15 * 60
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
# In front of it, django-axes throttles client addresses (schemes/throttle.py): one address
# gets 3 failures per account and 20 in all per 30 quiet minutes; a throttled address's
# tries never reach the account, so no one address can keep an account locked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "civicpoints.schemes.throttle.LoginThrottle"
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"], "ip_address"]
LOGIN_THROTTLE_LIMITS = [3, 20]  # one per entry of AXES_LOCKOUT_PARAMETERS
AXES_FAILURE_LIMIT = 1  # LoginThrottle counts in "limits reached"
AXES_COOLOFF_TIME = timedelta(minutes=30)  # longer than the account's failure window
AXES_RESET_ON_SUCCESS = False  # staff_login forgets only the (address, account) pair
AXES_DISABLE_ACCESS_LOG = True  # logins are audit rows already
AXES_ENABLE_ADMIN = False  # English-only screens; unlock and `axes_reset_ip` cover the need
AXES_CLIENT_IP_CALLABLE = "civicpoints.schemes.throttle.client_address"
AXES_USERNAME_FORM_FIELD = "username"
# Reverse proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
# The faces answer a throttled login themselves (429 JSON, the login page's message).
SILENCED_SYSTEM_CHECKS = ["axes.W002"]
# Staff page sessions (backoffice/sessions.py): 12 hours at most, 30 idle minutes. Residents'
# phone sessions keep Django's cookie age.
STAFF_SESSION_MAX_SECONDS = 12 * 3600
STAFF_SESSION_IDLE_SECONDS = 30 * 60
API_TOKEN_TTL_SECONDS = 12 * 3600
# How long a keyed request that died mid-way (a killed worker) blocks retries with 409.
IDEMPOTENCY_LEASE_SECONDS = int(os.environ.get("IDEMPOTENCY_LEASE_SECONDS", "30"))

# Django's database sessions, their read prepared on PostgreSQL (schemes/session_store.py).
SESSION_ENGINE = "civicpoints.schemes.session_store"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
# Cookies only over HTTPS whenever DEBUG is off (COOKIES_SECURE=0 for a plain-HTTP test rig).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = (
    os.environ.get("COOKIES_SECURE", "0" if DEBUG else "1") == "1"
)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp) on every response: scripts and styles only from our own
# static files, no inline script or style, no framing. The camera QR scanner decodes in a worker
# made from a blob: URL. Swagger UI at /api/docs adds its own allowances (api/main.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1") == "1"
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = [
        o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
    ]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

NINJA_PAGINATION_MAX_LIMIT = 200

# `civicpoints bench pages` measures pages against a minimal logged-in page (ops/views.py),
# served only when the server runs with CIVICPOINTS_BENCH=1.
BENCH_FLOOR = os.environ.get("CIVICPOINTS_BENCH") == "1"

# /healthz answers 503 when the scheduler's last heartbeat is older than this (seconds; 0: not
# checked, for web-only nodes whose scheduler is watched elsewhere).
HEALTH_SCHEDULER_MAX_AGE = int(os.environ.get("CIVICPOINTS_HEALTH_SCHEDULER_MAX_AGE", "120"))
