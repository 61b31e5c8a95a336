"""Formats and the archive: Arrow schemas, WARC, the pages index, the articles dataset, snapshots."""
