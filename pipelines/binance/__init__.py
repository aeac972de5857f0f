"""Binance USD-M futures wire protocol: endpoints, contract specs, frame and REST parsers."""
