"""The analysis options as one object, so pages, the report and the export agree on them."""

from __future__ import annotations

from dataclasses import dataclass, field

from icans_core.episodes import EpisodeOptions
from icans_core.store import GROUPINGS
from icans_core.survival import CI_LOG, CI_TRANSFORMS


@dataclass(frozen=True)
class AnalysisOptions:
    """Episode definition, grouping and confidence-interval transform (each a visible option)."""

    episodes: EpisodeOptions = field(default_factory=EpisodeOptions)
    group_by: str = "group"
    ci: str = CI_LOG

    def __post_init__(self) -> None:
        if self.group_by not in GROUPINGS:
            raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
        if self.ci not in CI_TRANSFORMS:
            raise ValueError(f"ci must be one of {', '.join(CI_TRANSFORMS)}")
