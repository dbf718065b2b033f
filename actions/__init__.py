"""Custom actions run by the action server (``python -m bot.action_server``), one module per concern.

None today: emergency replies and answers are static domain responses, and staff alerts are
raised by the event broker (``bot/alerts/``), so nothing a visitor needs waits on this server.
The callback form's validation (next) will live here.
"""
