"""Persistent store: SQLite schema, the writer thread, retention, the read API and export.

The writer (`StoreWriter`) is the only process that writes; readers (`Store`) open their own
read-only connections. docs/storage.md describes the tables and the recovery contract.
"""
