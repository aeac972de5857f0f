"""A loopback Binance USD-M exchange stand-in: generated market, REST, websocket streams, faults."""
