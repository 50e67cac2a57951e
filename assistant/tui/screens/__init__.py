"""The chat app's dialogs (modal screens), one per module."""
