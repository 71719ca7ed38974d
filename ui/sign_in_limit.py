"""One limit on team-password attempts for the whole server process, shared by every session.

A per-session delay does not stop guessing: each new browser tab is a new session, and 15 tabs
made 15 guesses in under 5 s. This token bucket is shared by all sessions of the process (a
module-level object is fine here: it holds a count and a clock, no user data). Each attempt
takes a token; tokens come back at a fixed rate up to a small burst, so a team signing in at
the start of a meeting gets through while a script gets a few guesses a minute at most.
"""

from __future__ import annotations

import threading
import time


class AttemptLimit:
    """A thread-safe token bucket: `burst` attempts at once, then one every `1 / per_second` seconds."""

    def __init__(self, burst: int, per_second: float, clock=time.monotonic) -> None:
        self._burst, self._rate, self._clock = float(burst), float(per_second), clock
        self._tokens, self._last = float(burst), clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def try_take(self) -> float:
        """Take one attempt: 0.0 if allowed, else how many seconds until the next one is."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._rate

    def give_back(self) -> None:
        """Return an attempt (a successful sign-in does not count against the others)."""
        with self._lock:
            self._refill()
            self._tokens = min(self._burst, self._tokens + 1)


# 5 attempts at once, then one every 3 s: at most 5 + t/3 guesses in t seconds, from any number
# of sessions together (7 in 5 s; about 1,200 an hour against a scrypt-hashed team password).
BURST = 5
PER_SECOND = 1 / 3
password_attempts = AttemptLimit(BURST, PER_SECOND)
