"""The shared team password: stored only as a salted scrypt hash, checked in constant time.

The deployment's secrets hold `password_hash`, never the password, so a leaked secrets file or
a screen-shared settings page does not give the password away. scrypt (hashlib, backed by
OpenSSL) is memory-hard, which makes guessing a leaked hash slow; its cost is part of the
stored string so it can be raised later without breaking existing hashes.

Format: ``scrypt$<n>$<r>$<p>$<salt, urlsafe base64>$<hash, urlsafe base64>``.
Make one with ``python -m icans_core hash-password``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1  # about 16 MiB and a few tens of milliseconds per check
_LENGTH = 32
MIN_LENGTH = 8


class PasswordHashError(ValueError):
    """The configured password_hash is not one this module wrote."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * 1024 * 1024, dklen=_LENGTH)


def hash_password(password: str) -> str:
    """A new salted hash of `password` for the secrets file."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a team password needs at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    return "$".join([SCHEME, str(N), str(R), str(P), _b64(salt), _b64(_derive(password, salt, N, R, P))])


def parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, hash) of a stored hash; PasswordHashError names what is wrong."""
    parts = str(stored).strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise PasswordHashError("password_hash is not a scrypt hash from `python -m icans_core hash-password`")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as exc:
        raise PasswordHashError(f"password_hash is damaged ({exc})") from None
    if n < 2**10 or n & (n - 1) or not (1 <= r <= 64) or not (1 <= p <= 16) or len(digest) != _LENGTH:
        raise PasswordHashError("password_hash has out-of-range scrypt parameters")
    return n, r, p, salt, digest


def verify(password: str, stored: str) -> bool:
    """True if `password` matches the stored hash (compared in constant time)."""
    n, r, p, salt, digest = parse(stored)
    return hmac.compare_digest(_derive(password, salt, n, r, p), digest)
