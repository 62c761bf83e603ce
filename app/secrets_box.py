"""Secrets at rest: Fernet encryption of config fields marked secret, with key rotation (MultiFernet)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import marshmallow
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask

from app.contract.schema import secret_fields
from app.services import services

PREFIX = "fernet:"
OPENED_KEPT = 4096  # decrypted tokens kept per process


def configured_keys(config: dict[str, Any]) -> list[str]:
    """ENCRYPTION_KEYS, newest first."""
    return [k.strip() for k in config.get("ENCRYPTION_KEYS", "").split(",") if k.strip()]


def default_key(secret_key: str) -> str:
    """The key derived from SECRET_KEY, used while ENCRYPTION_KEYS is empty."""
    digest = hashlib.sha256(b"formhooks-secrets:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


class SecretBox:
    """Encrypts with the first key, decrypts with any (so keys can be rotated)."""

    def __init__(self, keys: list[str]):
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        # Every attempt opens its config: the plaintext of recent tokens is kept (memory is not "at rest").
        self._opened: dict[str, str] = {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SecretBox:
        return cls(configured_keys(config) or [default_key(config["SECRET_KEY"])])

    def encrypt(self, value: str) -> str:
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return value
        opened = self._opened.get(value)
        if opened is not None:
            return opened
        try:
            opened = self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with the configured keys") from None
        if len(self._opened) >= OPENED_KEPT:
            self._opened.clear()
        self._opened[value] = opened
        return opened

    def rotate(self, value: str) -> str:
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return value
        return PREFIX + self._fernet.rotate(value[len(PREFIX) :].encode()).decode()

    def seal(self, schema: marshmallow.Schema, config: dict[str, Any]) -> dict[str, Any]:
        """Encrypt every secret field of a plaintext config."""
        sealed = dict(config)
        for name in secret_fields(schema):
            if sealed.get(name):
                sealed[name] = self.encrypt(sealed[name])
        return sealed

    def open(self, schema: marshmallow.Schema, config: dict[str, Any]) -> dict[str, Any]:
        """Decrypt every secret field of a stored config."""
        opened = dict(config)
        for name in secret_fields(schema):
            if opened.get(name):
                opened[name] = self.decrypt(opened[name])
        return opened


def init_app(app: Flask) -> None:
    from app.secret_scrub import install_log_filter  # noqa: PLC0415

    services(app).secrets = SecretBox.from_config(app.config)
    install_log_filter()
