"""R as a test oracle: run one R script over a CSV the test wrote, read back the long CSV R wrote.

R (r-base-core with r-cran-survival and r-cran-cmprsk, from Debian) is installed by `make test`.
Each test module makes ONE Rscript call for all its cases (R starts in about a second).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

RSCRIPT = shutil.which("Rscript")


def run_r(script: str, inputs: dict[str, pd.DataFrame], folder: Path, timeout: int = 300) -> pd.DataFrame:
    """Write each input as <name>.csv in folder, run `script` there, return R's out.csv.

    The script reads its inputs by name and writes out.csv with numbers as sprintf("%.17g").
    """
    if RSCRIPT is None:
        pytest.skip("Rscript is not installed (make test installs r-base-core, r-cran-survival, r-cran-cmprsk)")
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in inputs.items():
        frame.to_csv(folder / f"{name}.csv", index=False, float_format="%.17g")
    (folder / "oracle.R").write_text(script)
    done = subprocess.run([RSCRIPT, "--vanilla", "oracle.R"], cwd=folder, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return pd.read_csv(folder / "out.csv", keep_default_na=True, na_values=["NA", "NaN"])
