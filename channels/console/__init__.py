"""channels/console."""
