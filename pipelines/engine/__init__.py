"""The ingestion engine: one process-wide service watching every USD-M contract."""
