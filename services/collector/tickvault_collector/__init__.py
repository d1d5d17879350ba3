"""tickvault's collector: every Binance trade, exactly as sent, into the Redis Stream."""
