"""tickvault: capture every Binance trade exactly once and answer price questions.

The ``tickvault`` package holds what every service shares: configuration, the tick schema
and its stream codec, Redis names, the database models and migrations, and the CLI.
Services (``tickvault_collector``, ``tickvault_writer``, ``tickvault_api``,
``tickvault_replay``) depend on it; it depends on none of them.
"""

__version__ = "0.1.0"
