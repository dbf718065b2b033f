"""The staff site: review of conversation logs behind a login (``python -m bot.staff``, STAFF_PORT)."""
