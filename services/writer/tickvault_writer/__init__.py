"""tickvault-writer: stream entries to PostgreSQL and the latest-price cache, exactly once."""
