"""How much one cohort upload may hold, with defaults a deployment can change by environment variable.

    ICANS_MAX_UPLOAD_MB  total size of one upload, in MiB (default 200: Streamlit's own
                         `server.maxUploadSize` in .streamlit/config.toml; raise both together)
    ICANS_MAX_ROWS       rows per table (default 2,500,000)

The row default admits the 10,000-patient benchmark registry (`benchmarks/`, `sample.generate_cohort`),
whose largest table, labs, has 1.92 million rows, and refuses a table of several million: the
checks and the session database hold every row in memory, and each session has its own copy.

The limits are read when an upload is read, not at import, so a changed environment (or a test's
monkeypatch) takes effect at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

UPLOAD_ENV = "ICANS_MAX_UPLOAD_MB"
ROWS_ENV = "ICANS_MAX_ROWS"
DEFAULT_MAX_UPLOAD_MB = 200
DEFAULT_MAX_ROWS = 2_500_000
MIB = 1024 * 1024  # Streamlit counts server.maxUploadSize in MiB

# An archive (a .zip, or the zip inside an .xlsx) may expand to this many times the upload limit:
# CSV compresses about 6-fold (the benchmark registry's 70 MB of CSV zip to 11 MB), so a genuine
# cohort fits well inside, while a zip bomb is refused before anything is decompressed.
EXPANSION_FACTOR = 5
# ...and to no more than this many times its own size. Real tables compress well under 50-fold;
# bombs compress thousands-fold.
MAX_COMPRESSION_RATIO = 200
# A cohort is four tables: an archive of hundreds of files is not one, and each would add a message.
MAX_ARCHIVE_MEMBERS = 100
# The widest table of the format has 10 columns. Far wider rows are malformed (or a workbook whose
# dimensions claim 16,384 columns), and would multiply the cells held per row.
MAX_COLUMNS = 1_000


@dataclass(frozen=True)
class Limits:
    """Limits on one upload; `max_upload_bytes` is None for files already on the server's disk."""

    max_upload_bytes: int | None
    max_rows: int
    max_expanded_bytes: int

    @classmethod
    def from_environment(cls) -> Limits:
        """The limits in force: the defaults, or ICANS_MAX_UPLOAD_MB / ICANS_MAX_ROWS when set."""
        upload = _positive_int(UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB) * MIB
        return cls(max_upload_bytes=upload, max_rows=_positive_int(ROWS_ENV, DEFAULT_MAX_ROWS),
                   max_expanded_bytes=EXPANSION_FACTOR * upload)

    def for_files_on_disk(self) -> Limits:
        """The same limits without the upload size: the command line and the deployment cohort read
        files that never crossed the browser, and may be larger than an upload (rows still count)."""
        return replace(self, max_upload_bytes=None)


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "").replace(",", "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        # fail closed and say why: a typo must not silently lift (or zero) a limit
        raise ValueError(f"The environment variable {name} must be a whole number of 1 or more; "
                         f"it is {os.environ[name]!r}.")
    return value

