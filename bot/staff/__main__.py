"""``python -m bot.staff``: runs the staff site (:func:`bot.staff.app.main`)."""
from __future__ import annotations

from bot.staff.app import main

if __name__ == "__main__":
    main()
