"""Custom actions run by the action server (``python -m bot.action_server``), one module per concern.

``callback.py``: the callback form's validation, reset and submission (its field checks in
``callback_fields.py``). Emergency replies and answers are static domain responses, and staff
alerts are raised by the event broker (``bot/alerts/``), so nothing a visitor in danger needs
waits on this server.
"""
