"""The HMAC secret: from settings, or generated once into data_dir and reused by every process."""

from __future__ import annotations

import os
import secrets

from core.errors import ConfigError
from core.settings import Settings

SECRET_FILE = "secret_key"


def resolve_secret(settings: Settings) -> str:
    """`settings.secret_key` if set; otherwise the content of data_dir/secret_key, created if missing."""
    if settings.secret_key:
        return settings.secret_key
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        # Write a complete file, then link it into place: link() fails if another process won the race,
        # so every process ends up reading the same, fully written secret.
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    value = path.read_text().strip()
    if len(value) < 32:
        raise ConfigError(f"{path}: the secret is shorter than 32 characters; delete the file to generate a new one")
    return value
