"""Lira's chat app (Textual): chat, documents and poem modes, history, commands.

``assistant.tui.app.LiraApp`` is the app; it talks to the models only through
``assistant.chat.backend``.  Nothing heavy is imported here, so the first
paint does not wait for torch.
"""
