"""Ingestion: the source files -> immutable raw partitions -> validated curated + quarantine."""
