"""The cold tier: trades past retention as Parquet files in a directory or an S3 bucket.

Public parts:

- :mod:`~tickvault.cold.location`: ``TICKVAULT_COLD_URL`` as a pyarrow filesystem and the
  Hive layout (``open_location``, ``ColdLocation``).
- :mod:`~tickvault.cold.parquet`: the file format and its content checksum.
- :mod:`~tickvault.cold.storage`: writing durably, reading, deleting; ``ColdUnavailable``.
- :mod:`~tickvault.cold.manifest`: the ``cold_files`` and ``cold_orphans`` tables.
- :mod:`~tickvault.cold.store`: ``store_trades``, trades of a symbol's day stored exactly once.
- :mod:`~tickvault.cold.move`: ``move_expired``, whole days from PostgreSQL to the cold tier.
- :mod:`~tickvault.cold.read`: the trades of a symbol in a time range, from listed files.
"""
