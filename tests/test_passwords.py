"""The team-password hash: checked against scrypt's published test vector, not only against itself."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from icans_core import passwords


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_verify_agrees_with_the_rfc_7914_test_vector():
    # RFC 7914 section 12: scrypt(P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64); its first
    # 32 bytes are the 32-byte key (scrypt's output is a PBKDF2 stream, so shorter keys are prefixes).
    expected = bytes.fromhex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")
    stored = f"scrypt$1024$8$16${_b64(b'NaCl')}${_b64(expected)}"
    assert passwords.verify("password", stored)
    assert not passwords.verify("Password", stored)


def test_a_new_hash_verifies_its_password_only_and_is_salted():
    first, second = passwords.hash_password("correct horse"), passwords.hash_password("correct horse")
    assert first != second  # a fresh salt each time
    assert first.startswith("scrypt$16384$8$1$")
    assert passwords.verify("correct horse", first) and passwords.verify("correct horse", second)
    assert not passwords.verify("correct horsE", first)
    assert not passwords.verify("", first)
    assert "correct horse" not in first


def test_a_short_password_is_refused():
    with pytest.raises(ValueError, match="at least 8 characters"):
        passwords.hash_password("short")


@pytest.mark.parametrize("stored, problem", [
    ("", "not a scrypt hash"),
    ("correct horse", "not a scrypt hash"),
    ("bcrypt$16384$8$1$c2FsdA$aGFzaA", "not a scrypt hash"),
    ("scrypt$16384$8$1$c2FsdA", "not a scrypt hash"),
    ("scrypt$lots$8$1$c2FsdA$aGFzaA", "damaged"),
    ("scrypt$16384$8$1$c2FsdA$aGFzaA", "out-of-range"),  # a 4-byte hash, not 32
    (f"scrypt$1000$8$1$c2FsdA${_b64(bytes(32))}", "out-of-range"),  # n not a power of two
    (f"scrypt$16384$8$99$c2FsdA${_b64(bytes(32))}", "out-of-range"),
])
def test_a_damaged_hash_is_named_not_treated_as_a_mismatch(stored, problem):
    with pytest.raises(passwords.PasswordHashError, match=problem):
        passwords.verify("anything", stored)


def test_the_cli_prints_a_hash_that_verifies():
    done = subprocess.run([sys.executable, "-m", "icans_core", "hash-password"], input="team password 1\n",
                          capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[1] == "[access]"
    stored = lines[2].removeprefix('password_hash = "').removesuffix('"')
    assert passwords.verify("team password 1", stored)


def test_the_cli_refuses_a_short_password_and_prints_no_hash():
    done = subprocess.run([sys.executable, "-m", "icans_core", "hash-password"], input="short\n",
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "at least 8 characters" in done.stderr and "password_hash" not in done.stdout
