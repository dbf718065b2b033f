"""Custom actions run by the action server (`rasa run actions`). Nothing here is needed for
an emergency reply: those are static domain responses, so they work with this server down."""
from actions.alert_staff import ActionAlertStaff

__all__ = ["ActionAlertStaff"]
