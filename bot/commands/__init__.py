"""bot/commands."""
