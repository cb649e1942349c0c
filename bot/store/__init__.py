"""bot/store."""
