"""A small PNG line chart of a job's metrics, one subplot per metric."""

from __future__ import annotations

import importlib.util
import io
import logging
import math

from tether.notifications.message import Series

MAX_PLOTS = 6
WIDTH_PX = 800
HEIGHT_PX_PER_PLOT = 200
_DPI = 100

CHARTS_HINT = "No chart: charts need matplotlib (pip install 'tether[charts]')."
"""The one line a notification carries instead of its chart when matplotlib is not installed."""

log = logging.getLogger(__name__)


def charts_available() -> bool:
    """Whether matplotlib (the optional `charts` extra) can be imported."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def safe_metrics_png(series: Series) -> tuple[bytes | None, str | None]:
    """(PNG or None, note or None): never raises, so a chart can't fail or delay a notification.

    Without matplotlib the note is `CHARTS_HINT`; any other drawing error is logged and the
    notification goes out without its chart.
    """
    if not charts_available():
        return None, CHARTS_HINT
    try:
        return metrics_png(series), None
    except ImportError:
        return None, CHARTS_HINT
    except Exception as exc:
        log.warning("metrics chart not drawn: %s: %s", type(exc).__name__, exc)
        return None, None


def metrics_png(series: Series, *, max_plots: int = MAX_PLOTS) -> bytes | None:
    """Render up to `max_plots` metrics as a PNG, 800 x 200·n px; None when nothing can be plotted.

    Metrics with no finite value are skipped. matplotlib is imported here, not at module load,
    and only through its object API with the Agg canvas, so no global backend is touched.
    """
    plotted: list[tuple[str, list[int], list[float]]] = []
    for name, points in series.items():
        finite = [(step, value) for step, value in points if math.isfinite(value)]
        if finite:
            plotted.append((name, [s for s, _ in finite], [v for _, v in finite]))
    if not plotted:
        return None
    hidden = len(plotted) - max_plots
    plotted = plotted[:max_plots]

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(plotted)
    fig = Figure(
        figsize=(WIDTH_PX / _DPI, HEIGHT_PX_PER_PLOT * n / _DPI), dpi=_DPI, layout="constrained"
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, (name, steps, values) in zip(axes, plotted, strict=True):
        marker = "o" if len(steps) <= 30 else None
        ax.plot(steps, values, marker=marker, markersize=3, linewidth=1.5, color="#1f77b4")
        ax.set_title(
            f"{name}   last {values[-1]:.4g}   min {min(values):.4g}   max {max(values):.4g}",
            fontsize=9,
            loc="left",
        )
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("step", fontsize=8)
    if hidden > 0:
        fig.suptitle(f"{hidden} more metric(s) not shown", fontsize=8, x=0.99, ha="right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()
