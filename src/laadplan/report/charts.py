"""Charts and maps for the progress report, drawn with matplotlib (Agg) and embedded inline: charts as SVG,
maps (many points) as base64 PNG. No web tiles: maps draw the municipality outlines from the store.
Pure functions: frames in, markup out."""

from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from markupsafe import Markup  # noqa: E402

BLUE, ORANGE, RED, GREEN, GREY = "#1f5f8b", "#e08a1e", "#c0392b", "#2e8b57", "#9aa5b1"
plt.rcParams.update({
    "font.family": "DejaVu Sans", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
    "axes.edgecolor": "#555", "axes.grid": True, "grid.color": "#e3e6ea", "grid.linewidth": 0.6,
    "axes.axisbelow": True, "svg.fonttype": "none", "svg.hashsalt": "laadplan",
})


def nl_number(x: float, decimals: int = 0) -> str:
    """A number the Dutch way: 1.234,5 (thousands dot, decimal comma)."""
    return f"{x:,.{decimals}f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def _nl_tick(x: float, _pos=None) -> str:
    """Axis tick label in Dutch; whole numbers without decimals, others with at most two."""
    if abs(x - round(x)) < 1e-9:
        return nl_number(round(x))
    text = nl_number(x, 2).rstrip("0")
    return text.rstrip(",")


def _nl_pct_tick(decimals: int):
    return matplotlib.ticker.FuncFormatter(lambda x, _pos=None: nl_number(x * 100, decimals) + " %")


def dutch_axis(axis, pct: bool = False, decimals: int = 0) -> None:
    """Dutch tick labels on a numeric matplotlib axis (``ax.xaxis`` / ``ax.yaxis``): 1.000, 99,5 %."""
    axis.set_major_formatter(_nl_pct_tick(decimals) if pct else matplotlib.ticker.FuncFormatter(_nl_tick))


def to_svg(fig) -> Markup:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r'<svg ', '<svg role="img" ', s, count=1)
    return Markup(s)


def to_png(fig, dpi: int = 110) -> Markup:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return Markup('<img alt="kaart" src="data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode() + '">')


def bar_chart(labels, values, *, title: str = "", ylabel: str = "", norm: float | None = None,
              pct: bool = False, color: str = BLUE, highlight=None, horizontal: bool = False) -> Markup:
    labels = [str(x) for x in labels]
    vals = np.asarray(values, dtype=float)
    n = len(labels)
    if horizontal:
        fig, ax = plt.subplots(figsize=(6.6, max(1.6, 0.26 * n + 0.6)))
    else:
        fig, ax = plt.subplots(figsize=(6.6, 2.6))
    colors = [RED if (highlight is not None and h) else color for h in (highlight if highlight is not None else [False] * n)]
    if horizontal:
        ax.barh(labels[::-1], vals[::-1], color=colors[::-1])
        if norm is not None:
            ax.axvline(norm, color=ORANGE, linestyle="--", linewidth=1.2, label="norm")
        ax.set_xlabel(ylabel)
        ax.grid(axis="y", visible=False)
    else:
        ax.bar(labels, vals, color=colors)
        if norm is not None:
            ax.axhline(norm, color=ORANGE, linestyle="--", linewidth=1.2, label="norm")
        ax.set_ylabel(ylabel)
        ax.grid(axis="x", visible=False)
        if n > 8:
            plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    dutch_axis(ax.xaxis if horizontal else ax.yaxis, pct=pct,
               decimals=1 if pct and (np.nanmin(vals) if n else 0) > 0.9 else 0)
    if norm is not None:
        ax.legend(frameon=False, loc="lower right")
    if title:
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    return to_svg(fig)


def line_chart(x, series: dict[str, list], *, title: str = "", ylabel: str = "", norm: float | None = None,
               pct: bool = False, ylim=None) -> Markup:
    fig, ax = plt.subplots(figsize=(6.6, 2.6))
    palette = [BLUE, ORANGE, GREEN, RED, GREY]
    for i, (name, ys) in enumerate(series.items()):
        ax.plot([str(v) for v in x], ys, marker="o", markersize=3, linewidth=1.6, color=palette[i % 5], label=name)
    if norm is not None:
        ax.axhline(norm, color=RED, linestyle="--", linewidth=1, label="norm")
    dutch_axis(ax.yaxis, pct=pct, decimals=1)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    if len(x) > 8:
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    return to_svg(fig)


def budget_chart(years, actual, budget) -> Markup:
    fig, ax = plt.subplots(figsize=(6.6, 2.6))
    x = np.arange(len(years))
    ax.bar(x - 0.2, np.asarray(budget, float) / 1000, width=0.4, color=GREY, label="budget")
    ax.bar(x + 0.2, np.asarray(actual, float) / 1000, width=0.4, color=BLUE, label="werkelijk")
    ax.set_xticks(x, [str(y) for y in years])
    ax.set_ylabel("duizend euro")
    dutch_axis(ax.yaxis)
    ax.grid(axis="x", visible=False)
    ax.legend(frameon=False)
    return to_svg(fig)


def _outlines(ax, areas: pd.DataFrame | None, values: pd.Series | None = None, cmap: str = "Blues",
              vmin=None, vmax=None, label: str = "", pct: bool = False):
    """Municipality polygons (``areas`` with area_code, geometry_wkb), optionally coloured by ``values``."""
    if areas is None or areas.empty:
        return
    import geopandas as gpd
    import shapely

    geoms = shapely.from_wkb(areas["geometry_wkb"].map(lambda b: bytes(b) if b is not None else None))
    g = gpd.GeoDataFrame({"area_code": areas["area_code"].values}, geometry=geoms, crs=4326).to_crs(28992)
    if values is not None:
        g["v"] = g["area_code"].map(values).astype(float)
        g.plot(ax=ax, column="v", cmap=cmap, vmin=vmin, vmax=vmax, edgecolor="white", linewidth=0.4,
               missing_kwds={"color": "#eceff1", "edgecolor": "white"}, legend=True,
               legend_kwds={"shrink": 0.6, "label": label})
        n_na = int(g["v"].isna().sum())
        if n_na:  # missing is not zero: say what the grey areas are
            ax.text(0.0, 0.0, f"grijs: geen gegevens ({n_na} gebieden)", transform=ax.transAxes, fontsize=8,
                    color="#546e7a")
        cbar = ax.figure.axes[-1]  # the colour bar geopandas just added
        if cbar is not ax:
            dutch_axis(cbar.yaxis, pct=pct)
    else:
        g.plot(ax=ax, color="#eef1f4", edgecolor="#b7c0c9", linewidth=0.4)


def _map_axes():
    fig, ax = plt.subplots(figsize=(6.6, 5.2))
    ax.set_axis_off()
    ax.set_aspect("equal")
    return fig, ax


def points_map(areas: pd.DataFrame | None, points: pd.DataFrame, *, color_col: str | None = None,
               categories: dict | None = None, size_col: str | None = None, title: str = "",
               legend_title: str = "") -> Markup:
    """Points (lat, lon) over municipality outlines; colour by a category column when given."""
    from laadplan.geo import to_rd

    fig, ax = _map_axes()
    _outlines(ax, areas)
    bounds = ax.dataLim.frozen() if areas is not None and len(areas) else None  # the areas' extent
    if len(points):
        x, y = to_rd(points["lon"].to_numpy(float), points["lat"].to_numpy(float))
        sizes = 4 if size_col is None else 2 + 3 * np.sqrt(points[size_col].to_numpy(float))
        if color_col and categories:
            for cat, (col, lab) in categories.items():
                m = (points[color_col] == cat).to_numpy()
                if m.any():
                    ax.scatter(x[m], y[m], s=sizes if np.isscalar(sizes) else sizes[m], c=col, label=lab,
                               linewidths=0, alpha=0.7)
            ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
                      title=legend_title or None, markerscale=1.5)
        else:
            ax.scatter(x, y, s=sizes, c=BLUE, linewidths=0, alpha=0.6)
    if bounds is not None:  # a point outside the areas (a misfiled record) must not zoom the map out
        pad = 0.03 * max(bounds.width, bounds.height)
        ax.set_xlim(bounds.x0 - pad, bounds.x1 + pad)
        ax.set_ylim(bounds.y0 - pad, bounds.y1 + pad)
    if title:
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    return to_png(fig)


def choropleth(areas: pd.DataFrame | None, values: pd.Series, *, title: str = "", label: str = "",
               cmap: str = "YlOrRd", vmin=None, vmax=None, pct: bool = False) -> Markup:
    """Areas coloured by ``values`` (indexed by area_code); ``pct``: values are shares 0..1 (shown in %)."""
    fig, ax = _map_axes()
    _outlines(ax, areas, values, cmap=cmap, vmin=vmin, vmax=vmax, label=label, pct=pct)
    if title:
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    return to_png(fig)
