"""Data layer of the order-flow screener: exchange protocol, stand-in exchange, engine, analytics, storage.

Nothing in this package imports the UI; the dashboard and analysts' notebooks both read from it.
"""
