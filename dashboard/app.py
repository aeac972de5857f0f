"""The trader's page: header and six live tabs on the process's one engine.

`panel serve dashboard/app.py` (demo: `--args --demo` or ORDERFLOW_DEMO=1) and
`orderflow serve` serve the same `create_app`. Each browser session gets its own views; all of
them read the one engine of the process (dashboard.runtime).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import panel as pn

from dashboard import runtime, theme
from dashboard.bigorders import BigOrdersView
from dashboard.footprint import FootprintView
from dashboard.header import HeaderView
from dashboard.heatmap import HeatmapView
from dashboard.imbalance import ImbalanceView
from dashboard.liquidations import LiquidationsView
from dashboard.signals import SignalsView
from pipelines.engine.service import Engine

TAB_CSS = """
.bk-header { background: #181818; border-bottom: 1px solid #3a3a3a; }
.bk-tab { padding: 4px 14px; font-size: 12px; color: #9a9a9a; letter-spacing: .03em;
          border: none !important; background: transparent !important; }
.bk-tab.bk-active { color: #e0e0e0; border-bottom: 2px solid #ffaa00 !important; }
"""


def create_app(engine: Engine | None = None) -> pn.template.BaseTemplate:
    """One session's page; `engine` defaults to the process's shared engine."""
    theme.configure()
    rt = runtime.get_runtime() if engine is None else None
    engine = engine if engine is not None else rt.engine
    demo = bool(rt and rt.settings.demo)
    research_dir = rt.settings.research_dir if rt else None
    views = {
        "Screener": BigOrdersView(engine=engine),
        "Imbalance": ImbalanceView(engine=engine, active=False),
        "Signals": SignalsView(engine=engine, active=False, research_dir=research_dir),
        "Footprint": FootprintView(engine=engine, active=False),
        "Heatmap": HeatmapView(engine=engine, active=False),
        "Liquidations": LiquidationsView(engine=engine, active=False),
    }
    tabs = pn.Tabs(
        *views.items(), dynamic=True, stylesheets=[TAB_CSS], sizing_mode="stretch_both", margin=0
    )
    order = list(views.values())

    def show(event) -> None:
        for i, view in enumerate(order):
            view.active = i == event.new

    tabs.param.watch(show, "active")
    imbalance, footprint = views["Imbalance"], views["Footprint"]
    imbalance.param.watch(
        lambda e: setattr(footprint, "symbol", e.new) if e.new else None, "selected"
    )
    imbalance.param.watch(
        lambda e: setattr(tabs, "active", order.index(footprint)), "open_footprint"
    )
    link_heatmap(footprint, views["Heatmap"])
    signals = views["Signals"]

    def open_signal(event) -> None:
        shown = signals.selected
        if shown:
            label = f"{shown['kind'].replace('_', ' ')} {shown['side']}"
            footprint.show_signal(
                shown["symbol"], shown["timeframe"], shown["bar_time"], shown["price_low"],
                shown["price_high"], shown["bin_ticks"], label=label,
            )  # fmt: skip
            tabs.active = order.index(footprint)

    signals.param.watch(open_signal, "open_footprint")
    header = HeaderView(engine=engine, demo=demo)
    return pn.template.BootstrapTemplate(
        title="", theme="dark", header=[header], main=[tabs], header_background="#161616",
        collapsed_sidebar=True, main_max_width="", sidebar_width=0,
    )  # fmt: skip


def link_heatmap(footprint: FootprintView, heatmap: HeatmapView) -> None:
    """One contract on both: a contract picked on either moves the other; a click on the
    heatmap centres the footprint's bars on that time, and a click on the footprint centres
    the heatmap on it."""
    footprint.param.watch(lambda e: setattr(heatmap, "symbol", e.new) if e.new else None, "symbol")
    heatmap.param.watch(lambda e: setattr(footprint, "symbol", e.new) if e.new else None, "symbol")
    heatmap.param.watch(lambda e: footprint.goto(e.new[0]) if e.new else None, "clicked")
    footprint.param.watch(lambda e: heatmap.goto(e.new[0]) if e.new else None, "clicked")
    heatmap.symbol = footprint.symbol


def settings_from_args(argv: list[str]) -> runtime.RuntimeSettings:
    """Settings from `panel serve dashboard/app.py --args ...` on top of the environment."""
    parser = argparse.ArgumentParser(prog="dashboard/app.py")
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--db", default=None)
    parser.add_argument("--research", default=None)
    args, _ = parser.parse_known_args(argv)
    base = runtime.RuntimeSettings.from_env()
    return replace(
        base,
        demo=base.demo or args.demo,
        db_path=args.db or base.db_path,
        research_dir=args.research or base.research_dir,
    )


if pn.state.served:
    if runtime.configured() is None:
        runtime.configure(settings_from_args(sys.argv[1:]))
    create_app().servable(title="Order flow")
