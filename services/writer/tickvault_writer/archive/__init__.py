"""``tickvault import``: Binance's public trade archive into the store, exactly and completely.

- :mod:`.periods`: which files cover a range (monthly for whole past months, daily otherwise).
- :mod:`.rows`: a file's CSV lines into :class:`~tickvault.tick.Tick` values (unit and header
  detected per file, every row held to the live trade's rules).
- :mod:`.chunks`: a file's rows in blocks of whole lines, each made ready for the store by
  :mod:`.columns` (whole Arrow columns) or, for a block with any anomaly, by :mod:`.rows` and
  :func:`~tickvault_writer.prepare.prepare` (row by row); the same bytes either way.
- :mod:`.columns`: a block read and checked on columns, then encoded by :mod:`.column_copy`
  (its binary ``COPY`` streams) and folded by :mod:`.column_fold` (candles and price levels);
  :mod:`.arrow_cache` keeps the Arrow constants the three share.
- :mod:`.download`: a zip streamed to disk with its sha256 checked against ``.CHECKSUM``.
- :mod:`.continuity`: the id holes of a range, from the ids the files held (pure).
- :mod:`.bounds`: a symbol's first trade (the month it was listed) and the first and last id
  of a range, over REST (:mod:`tickvault.rest`, the collector's client and budget); holes are
  repaired by the page loop every repair shares (:mod:`tickvault.rest.pages`).
- :mod:`.ledger`: ``archive_files`` and the open ``archive`` gaps in PostgreSQL.
- :mod:`.importer`: one symbol's range, file by file, then its holes.
- :mod:`.progress`: a progress bar on a terminal, a line per file otherwise, the summary.
- :mod:`.metrics`: the Prometheus metrics, served while it runs when
  ``TICKVAULT_IMPORT_METRICS_PORT`` is set (the repair backlog among them).

Trades are stored by the writer's own :class:`~tickvault_writer.store.PgStore` (binary COPY
into the partitions, ``ON CONFLICT DO NOTHING`` when some are stored already, candles and
price levels folded in the same transaction), so an archive trade, a live one and a backfilled
one are one row per ``(symbol, trade_id)`` whatever the order they arrive in.
"""
