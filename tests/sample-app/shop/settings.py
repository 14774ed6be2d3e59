"""Settings for the shop: everything host-specific comes from the environment
or from the secrets env file that `slipway-agent step secrets` renders
(`NAME=value` lines, one per SSM parameter, e.g. DB_PASSWORD).

The release is the name of the directory this code was deployed to
(`<app_root>/releases/<deployment-id>/`), so the health view shows which
release answers once gunicorn moves to a new one.
"""
import os
from pathlib import Path

# resolve(): gunicorn runs from the `current` symlink; the release is its target.
BASE_DIR = Path(__file__).resolve().parent.parent
RELEASE = BASE_DIR.name
APP_ROOT = BASE_DIR.parent.parent


def _load_env_file(path):
    """Fills os.environ from the secrets env file; the process env wins."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value)


_load_env_file(os.environ.get("SHOP_ENV_FILE", APP_ROOT / "shop.env"))
env = os.environ.get

SECRET_KEY = env("DJANGO_SECRET_KEY", "insecure-sample-key-" + "x" * 40)
DEBUG = env("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = env("DJANGO_ALLOWED_HOSTS", "*").split(",")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
TEMPLATES = []

# MariaDB / MySQL (Aurora MySQL in production). A HOST starting with "/" is
# a unix socket.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": env("DB_NAME", "shop"),
        "USER": env("DB_USER", "shop"),
        "PASSWORD": env("DB_PASSWORD", ""),
        "HOST": env("DB_HOST", "127.0.0.1"),
        "PORT": env("DB_PORT", "3306"),
        "OPTIONS": {"charset": "utf8mb4"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
# Per release: nginx serves `current/staticfiles/`, so old pages keep their
# assets until the switch.
STATIC_ROOT = BASE_DIR / "staticfiles"

CELERY_BROKER_URL = env("BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env("RESULT_BACKEND", CELERY_BROKER_URL)
# Below the Supervisor program's stopwaitsecs, so a warm stop lets it finish.
CELERY_TASK_TIME_LIMIT = int(env("TASK_TIME_LIMIT", "300"))
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# TLS ends at the load balancer in front of nginx.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008", "security.W012", "security.W016"]
