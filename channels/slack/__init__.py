"""channels/slack."""
