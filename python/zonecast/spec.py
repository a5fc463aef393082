"""Feature settings: which lags, same-hour weeks and trend features a model sees (the engine's
FeatureSpec)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_LAGS: tuple[int, ...] = tuple(range(1, 25)) + (168, 336, 504, 672)


@dataclass(frozen=True)
class FeatureSpec:
    """Lags in hours before the target hour (each >= 1), the weeks averaged for the same-hour
    mean, and whether the trend features follow (the mean pickups per hour over the last 3, 6
    and 24 hours and over the last ``same_hour_weeks`` weeks, and the last hour minus the same
    hour a week before). ``FeatureSpec()`` is the engine's default: lags 1-24, 168, 336, 504,
    672, a 4-week same-hour mean, no trends (they help on generated trips and hurt on the real
    January 2022 counts). Lags are sorted and deduplicated, as the engine does."""

    lags: tuple[int, ...] = field(default=DEFAULT_LAGS)
    same_hour_weeks: int = 4
    trends: bool = False

    def __init__(self, lags: Iterable[int] | None = None, same_hour_weeks: int = 4,
                 trends: bool = False) -> None:
        lags = DEFAULT_LAGS if lags is None else tuple(sorted({int(x) for x in lags}))
        if any(x < 1 for x in lags):
            raise ValueError(f"lags must be hours >= 1, got {lags}")
        if same_hour_weeks < 0:
            raise ValueError("same_hour_weeks must be >= 0")
        object.__setattr__(self, "lags", lags)
        object.__setattr__(self, "same_hour_weeks", int(same_hour_weeks))
        object.__setattr__(self, "trends", bool(trends))

    @property
    def names(self) -> list[str]:
        """The feature matrix's column names, in order."""
        names = [f"lag_{lag}h" for lag in self.lags]
        if self.same_hour_weeks > 0:
            names.append(f"same_hour_mean_{self.same_hour_weeks}w")
        names += ["hour_of_day", "day_of_week", "weekend"]
        if self.trends:
            windows = sorted({3, 6, 24} | ({168 * self.same_hour_weeks} if self.same_hour_weeks else set()))
            names += [f"level_{w // 168}w" if w % 168 == 0 else f"mean_{w}h" for w in windows]
            names.append("last_hour_minus_last_week")
        return names

    def __str__(self) -> str:
        trends = ", trends" if self.trends else ""
        return f"lags {list(self.lags)}, same-hour mean over {self.same_hour_weeks} weeks{trends}"
