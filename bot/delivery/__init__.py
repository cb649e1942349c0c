"""bot/delivery."""
