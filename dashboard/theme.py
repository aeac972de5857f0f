"""The terminal look: colours, local font stacks, page CSS, plot options and table formatters.

Everything here is presentation. Nothing is fetched from the internet: fonts are local stacks,
and Tabulator cells are coloured by small JavaScript formatters (a pandas Styler would restyle
the whole table on every streamed row).
"""

from __future__ import annotations

import holoviews as hv
import panel as pn
from bokeh.models import (
    CustomJSHover,
    CustomJSTickFormatter,
    DatetimeTicker,
    DatetimeTickFormatter,
    NumeralTickFormatter,
)
from bokeh.settings import settings as bokeh_settings
from panel.io.model import JSCode

BACKGROUND = "#1e1e1e"
SURFACE = "#252526"
GRID = "#333333"
BORDER = "#3a3a3a"
TEXT = "#e0e0e0"
MUTED = "#8c8c8c"
BUY = "#00ff88"
SELL = "#ff4444"
NEUTRAL = "#ffaa00"

SANS = "'Inter', 'Segoe UI', 'Roboto', 'Helvetica Neue', 'DejaVu Sans', Arial, sans-serif"
MONO = "'JetBrains Mono', 'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace"

# Diverging scale for imbalance (-1 sells ... +1 buys); the middle is the page background.
IMBALANCE_CMAP = [SELL, "#a02828", "#4a1f1f", "#262626", "#1f4a34", "#109a58", BUY]

PAGE_CSS = f"""
:root, body {{
  --panel-background-color: {BACKGROUND};
  --panel-surface-color: {SURFACE};
  --panel-on-background-color: {TEXT};
  --panel-on-surface-color: {TEXT};
  --design-background-color: {BACKGROUND};
  --design-surface-color: {SURFACE};
  --design-background-text-color: {TEXT};
  --design-surface-text-color: {TEXT};
  --design-primary-color: {NEUTRAL};
  --design-primary-text-color: #111;
  --bs-body-bg: {BACKGROUND};
  --bs-body-color: {TEXT};
  --bs-body-font-family: {SANS};
  --bs-body-font-size: 13px;
}}
body {{ background: {BACKGROUND}; color: {TEXT}; font-family: {SANS}; font-size: 13px; }}
#header {{ min-height: 34px; height: 34px; padding: 0 10px; background: #161616 !important;
          border-bottom: 1px solid {BORDER}; box-shadow: none; }}
#header .title, #header .app-header {{ display: none; }}
#main {{ background: {BACKGROUND}; }}
.main .card-margin, #main .container-fluid, #main > .card {{ padding: 0; margin: 0; }}
"""

# Applied to every Tabulator: dense rows, dark surface, monospace right-aligned numbers.
TABLE_CSS = f"""
.tabulator {{ background-color: {BACKGROUND} !important; border: 1px solid {BORDER} !important;
              font-size: 12px !important; font-family: {SANS}; }}
.tabulator .tabulator-header {{ background-color: #191919 !important; color: {MUTED} !important;
                               border-bottom: 1px solid {BORDER} !important; font-weight: 500; }}
.tabulator .tabulator-header .tabulator-col {{ background-color: #191919 !important;
                                              border-right: none !important; }}
.tabulator .tabulator-header .tabulator-col .tabulator-col-content {{ padding: 3px 6px !important; }}
.tabulator .tabulator-tableholder {{ background-color: {BACKGROUND} !important; }}
.tabulator-row {{ background-color: {BACKGROUND} !important; color: {TEXT} !important;
                 min-height: 20px !important; border-bottom: 1px solid #262626 !important; }}
.tabulator-row .tabulator-cell {{ padding: 2px 6px !important; border-right: none !important;
                                 height: 21px !important; line-height: 17px; }}
.tabulator-row.tabulator-selectable:hover {{ filter: brightness(1.25); cursor: pointer; }}
"""

# Button groups whose buttons are toggled on and off (a set of filters): the ones on stand out.
TOGGLE_CSS = f"""
.bk-btn {{ color: {MUTED} !important; }}
.bk-btn.bk-active {{ color: {TEXT} !important; box-shadow: inset 0 -2px 0 {NEUTRAL} !important; }}
"""

WIDGET_CSS = f"""
:host {{ --surface-color: {SURFACE}; }}
label {{ color: {MUTED}; font-size: 11px; }}
"""


def configure() -> None:
    """Process-wide Panel settings for the dark, offline page (call before building views)."""
    # Every JS/CSS asset from this server's /static, never a CDN (pn.serve defaults to the CDN).
    bokeh_settings.resources.set_value("server")
    pn.extension("tabulator", design="bootstrap", theme="dark", notifications=False)
    pn.config.raw_css = [*[c for c in pn.config.raw_css if c != PAGE_CSS], PAGE_CSS]
    pn.config.throttled = True
    hv.extension("bokeh", logo=False)


def plot_opts(**extra: object) -> dict:
    """Common Bokeh options of every chart: dark canvas, quiet grid, no logo, responsive."""
    opts = dict(
        bgcolor=BACKGROUND,
        toolbar="right",
        default_tools=["pan", "wheel_zoom", "box_zoom", "reset"],
        active_tools=["pan", "wheel_zoom"],
        responsive=True,
        show_grid=True,
        gridstyle={"grid_line_color": GRID, "grid_line_alpha": 0.6},
        fontsize={"labels": "9pt", "xticks": "8pt", "yticks": "8pt"},
        backend_opts={
            "plot.border_fill_color": BACKGROUND,
            "plot.outline_line_color": BORDER,
            "plot.toolbar.logo": None,
            "plot.min_border_left": 64,  # stacked charts keep their plot areas aligned
            # HTML canvas, not HoloViews' default WebGL: without a GPU (a desk server's remote
            # session, a VM, a headless browser) WebGL is drawn in software and copied to the
            # canvas on every repaint, a fifth of a footprint page's CPU. Charts stay small in
            # glyphs (datashader draws the big ones as one image), where canvas is enough.
            "plot.output_backend": "canvas",
        },
    )
    opts.update(extra)
    return opts


UTC_TIME = "utc-time"  # the name of the formatter `utc_time_formatter` makes


def utc_time_formatter() -> DatetimeTickFormatter:
    """Time ticks in UTC (a new model each time: a Bokeh model belongs to one document)."""
    return DatetimeTickFormatter(
        seconds="%H:%M:%S", minsec="%H:%M:%S", minutes="%H:%M", hourmin="%H:%M", hours="%H:%M",
        days="%d %b", months="%b %Y", name=UTC_TIME,
    )  # fmt: skip


def utc_time_axis(fig) -> None:
    """UTC time ticks on a figure's x axis, set once per figure: a hook runs on every redraw,
    and a new model each time is sent to the browser and makes Bokeh re-walk the document."""
    if fig.xaxis[0].formatter.name == UTC_TIME:
        return
    fig.xaxis.ticker = DatetimeTicker(desired_num_ticks=8)
    fig.xaxis.formatter = utc_time_formatter()


def utc_time_hook(plot, element) -> None:
    """`utc_time_axis` as a HoloViews plot hook."""
    utc_time_axis(plot.state)


def thousands_formatter() -> NumeralTickFormatter:
    return NumeralTickFormatter(format="0,0.[00]")


def show_row_names(model: CustomJSTickFormatter | CustomJSHover, symbols: list[str]) -> None:
    """Point a formatter made by `symbol_tick_formatter` or `symbol_hover` at new rows, in
    place (the names go to the browser only when they changed)."""
    if model.args.get("names") != symbols:
        model.args = {"names": list(symbols)}


def symbol_tick_formatter(symbols: list[str]) -> CustomJSTickFormatter:
    """Integer row positions on an axis shown as the symbol of that row."""
    return CustomJSTickFormatter(
        args={"names": list(symbols)},
        code="const i = Math.round(tick); return (i === tick && names[i]) ? names[i] : '';",
    )


def symbol_hover(symbols: list[str]) -> CustomJSHover:
    """A hover field shown as the symbol of the nearest row (for `$y` on a contracts axis)."""
    return CustomJSHover(
        args={"names": list(symbols)},
        code="const i = Math.round(value); return names[i] !== undefined ? names[i] : '';",
    )


def as_float(frame, columns: tuple[str, ...]):
    """Integer columns of a table as float64 (exact below 2**53): the browser then gets plain
    Float64 arrays, which every Tabulator update path handles alike."""
    return frame.astype(dict.fromkeys(columns, "float64"))


# ------------------------------------------------------------------ table cell formatters

_TINT_JS = """
function(cell, params) {
  const row = cell.getRow().getData();
  const value = cell.getValue();
  const el = cell.getElement();
  const side = row[params.side];
  const buy = side === 'buy' || side === 'short' || side === true;
  // 'neutral': a row that says nothing of direction (grey).
  const colour = buy ? params.buy : side === 'neutral' ? params.neutral : params.sell;
  let alpha = params.base;
  if (params.scale) {
    const x = Math.abs(Number(row[params.scale]) || 0) / params.full;
    alpha = params.base + Math.min(1, x) * (params.top - params.base);
  }
  el.style.backgroundColor = colour + Math.round(alpha * 255).toString(16).padStart(2, '0');
  if (params.kind === 'side') { el.style.color = colour; el.style.fontWeight = 600; }
  if (value === null || value === undefined || Number.isNaN(value)) return '';
  if (params.kind === 'num') {
    el.style.textAlign = 'right';
    el.style.fontFamily = params.mono;
    const d = params.decimals;
    const opts = d < 0 ? {maximumSignificantDigits: 8} :
      {minimumFractionDigits: d, maximumFractionDigits: d};
    return Number(value).toLocaleString('en-US', opts) + (params.suffix || '');
  }
  if (params.kind === 'time') {
    el.style.fontFamily = params.mono;
    const t = new Date(Number(value));
    return t.toISOString().substring(11, params.millis ? 23 : 19);
  }
  // Text cells (contract names come from the exchange) as text nodes: a returned string
  // would be set as HTML.
  if (params.kind === 'side') return document.createTextNode(String(value).toUpperCase());
  return document.createTextNode(String(value));
}
"""


def tint_formatter(
    kind: str,
    *,
    side_field: str = "side",
    scale_field: str | None = None,
    full_scale: float = 1.0,
    decimals: int = -1,
    suffix: str = "",
    millis: bool = False,
    base_alpha: float = 0.06,
    top_alpha: float = 0.45,
) -> dict:
    """A Tabulator formatter colouring the cell by its row's side (buy green, 'neutral' grey,
    anything else red), stronger as `scale_field` approaches `full_scale`; `kind` is 'num'
    (right-aligned, thousands separators, `decimals` or -1 for as-is), 'time' (UTC HH:MM:SS),
    'side' or 'text'."""
    return {
        "type": JSCode(_TINT_JS),
        "kind": kind,
        "side": side_field,
        "scale": scale_field,
        "full": float(full_scale),
        "decimals": int(decimals),
        "suffix": suffix,
        "millis": millis,
        "base": base_alpha,
        "top": top_alpha,
        "buy": BUY,
        "sell": SELL,
        "neutral": MUTED,
        "mono": MONO,
    }
