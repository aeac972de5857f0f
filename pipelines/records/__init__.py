"""The bottom layer: record layouts, batch types and time units that cross module boundaries.

Every layer above reads and writes these shapes; nothing here imports anything else of the
project, so a change to any other layer can never break them.

* `dtypes`: numpy structured layouts of trades, liquidations, tickers, klines, book tickers,
  and the 1-minute tick profile's level and minute rows.
* `batch`: `EngineBatch` (one micro-batch of the engine) and `BookTop` (a partial book).
* `timeunits`: milliseconds per second, minute, hour and day.
"""
