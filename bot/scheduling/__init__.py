"""bot/scheduling."""
