"""Charts (PNG, matplotlib Agg) for the forecast and grid-usage outputs. Pure drawing: frames in, file out."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {"low": "#4c9f70", "middle": "#1f5f99", "high": "#c0392b"}


def stock_paths_chart(paths: pd.DataFrame, path: Path) -> Path:
    """National BEV passenger-car stock per scenario, observed years marked."""
    cars = paths[paths["vehicle"] == "car"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for sc, g in cars.groupby("scenario"):
        ax.plot(g["year"], g["national_ev_stock"] / 1e6, label=sc, color=COLORS.get(sc))
    obs = cars[cars["observed"]].drop_duplicates("year")
    ax.scatter(obs["year"], obs["national_ev_stock"] / 1e6, color="black", zorder=3, s=18, label="CBS observed")
    ax.set_ylabel("battery-electric cars (million)")
    ax.set_title("National BEV stock per scenario")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def need_chart_title(shown: int, total: int) -> str:
    """Title of the need chart; says when it shows only the areas with the largest need."""
    base = "Public charging need vs existing EVSEs"
    return base if shown >= total else f"{base}: the {shown} of {total} areas with the largest need"


def need_chart(need: pd.DataFrame, path: Path, *, year: int, scenario: str, names: dict | None = None,
               top: int = 30) -> Path:
    """EVSEs needed vs existing per area (largest need first) for one year and scenario."""
    sel = need[(need["year"] == year) & (need["scenario"] == scenario)]
    d = sel.nlargest(top, "evses_needed")
    labels = [(names or {}).get(c, c) for c in d["area_code"]]
    fig, ax = plt.subplots(figsize=(9, max(3.5, 0.28 * len(d) + 1)))
    y = np.arange(len(d))
    ax.barh(y + 0.2, d["evses_needed"], height=0.4, label=f"needed {year} ({scenario})", color="#1f5f99")
    ax.barh(y - 0.2, d["evses_existing"], height=0.4, label="existing now", color="#aaaaaa")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("public EVSEs")
    ax.set_title(need_chart_title(len(d), sel["area_code"].nunique()))
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _shade(ax, times_local: pd.DatetimeIndex, h0: int, h1: int) -> None:
    days = pd.DatetimeIndex(times_local.normalize().unique())
    for i, d in enumerate(days):
        ax.axvspan(d + pd.Timedelta(hours=h0), d + pd.Timedelta(hours=h1), color="orange", alpha=0.15,
                   label="evening window" if i == 0 else None)


def load_profile_chart(profile: pd.DataFrame, path: Path, *, tz: str, window: tuple[int, int],
                       title: str) -> Path:
    """Left: mean load by local time of day; right: the week with the highest peak (window shaded)."""
    p = profile.copy()
    local = pd.DatetimeIndex(p["slot_utc"]).tz_localize("UTC").tz_convert(tz)
    p["tod"] = local.hour + local.minute / 60
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 2]})
    tod = p.groupby("tod")["power_kw"].mean()
    a1.plot(tod.index, tod.values, color="#1f5f99")
    a1.axvspan(window[0], window[1], color="orange", alpha=0.15, label="evening window")
    a1.set_xlabel("local time of day (h)")
    a1.set_ylabel("mean load (kW)")
    a1.set_title("mean day")
    a1.legend()
    a1.grid(alpha=0.3)
    k = int(np.argmax(p["power_kw"].to_numpy()))
    centre = local[k]
    sel = (local >= centre - pd.Timedelta(days=3.5)) & (local < centre + pd.Timedelta(days=3.5))
    a2.plot(local[sel].tz_localize(None), p.loc[sel, "power_kw"], color="#1f5f99", lw=0.9)
    _shade(a2, local[sel].tz_localize(None), *window)
    a2.set_title("week around the peak")
    a2.set_ylabel("load (kW)")
    a2.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def smart_chart(profile: pd.DataFrame, path: Path, *, tz: str, window: tuple[int, int], title: str,
                days: float = 3.0) -> Path:
    """Uncontrolled vs smart load around the uncontrolled peak."""
    local = pd.DatetimeIndex(profile["slot_utc"]).tz_localize("UTC").tz_convert(tz).tz_localize(None)
    k = int(np.argmax(profile["uncontrolled_kw"].to_numpy()))
    sel = (local >= local[k] - pd.Timedelta(days=days / 2)) & (local < local[k] + pd.Timedelta(days=days / 2))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(local[sel], profile.loc[sel, "uncontrolled_kw"], label="uncontrolled", color="#c0392b")
    ax.plot(local[sel], profile.loc[sel, "smart_kw"], label="smart", color="#1f5f99")
    _shade(ax, local[sel], *window)
    ax.set_ylabel("load (kW)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def smart_comparison_chart(profiles: dict[str, pd.DataFrame], path: Path, *, tz: str, window: tuple[int, int],
                           title: str, days: float = 3.0) -> Path:
    """One panel per strategy: uncontrolled vs smart around the uncontrolled peak."""
    fig, axes = plt.subplots(len(profiles), 1, figsize=(10, 2.8 * len(profiles)), sharex=True, squeeze=False)
    for ax, (name, prof) in zip(axes[:, 0], profiles.items()):
        local = pd.DatetimeIndex(prof["slot_utc"]).tz_localize("UTC").tz_convert(tz).tz_localize(None)
        k = int(np.argmax(prof["uncontrolled_kw"].to_numpy()))
        sel = (local >= local[k] - pd.Timedelta(days=days / 2)) & (local < local[k] + pd.Timedelta(days=days / 2))
        ax.plot(local[sel], prof.loc[sel, "uncontrolled_kw"], label="uncontrolled", color="#c0392b")
        ax.plot(local[sel], prof.loc[sel, "smart_kw"], label=name, color="#1f5f99")
        _shade(ax, local[sel], *window)
        ax.set_ylabel("kW")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
