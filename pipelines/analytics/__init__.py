"""The analyses, exact on the integer grid, and the hub that feeds them one micro-batch at a time.

* `footprint`: footprint bars (levels, POC, value area, imbalances) from trades or profiles.
* `profile`: the 1-minute tick profile (`MinuteProfile`), the lossless form the store keeps.
* `bigorders`: taker orders (fills sharing T and side) and the big ones against ADV.
* `imbalance`: trade-flow and book imbalance, the symbols x minutes heatmap, CVD.
* `liquidations`: forced orders, totals, rankings, histograms.
* `tradeframe`: analyst DataFrames on the integer grid and back to floats.
* `ring`: the bounded, sequence-numbered history the live views stream from.
* `hub`: `OrderFlowAnalytics`, the one object the engine feeds.

Nothing here imports the engine, the store or the dashboard: analysts use it on their own data.
"""
