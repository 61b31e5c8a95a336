"""Formats and the archive: Arrow schemas, WARC, pages index, articles dataset, snapshots."""
