"""The callback form's actions: validate each answer, start afresh, and store a confirmed request.

The form itself (``callback_form`` in ``domain.yml``) is Rasa's: it asks the ``utter_ask_*``
questions. These run on the action server: ``validate_callback_form`` checks and normalises
each answer (``actions/callback_fields.py``) and re-asks with the reason; ``action_reset_callback``
clears earlier answers when a new request starts; ``action_submit_callback`` stores the request
and its staff alert in one transaction (``bot/store/callbacks.py``), or, if that fails, tells the
visitor plainly that nothing was sent and to call. No answer is ever logged.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import callback_fields as fields

logger = logging.getLogger(__name__)

FORM = "callback_form"
SLOTS = ("callback_name", "callback_phone", "callback_time", "callback_email", "callback_message",
         "callback_about", "callback_confirm")
SKIPPED = "-"  # an optional answer the visitor skipped


def _clear() -> List[EventType]:
    return [SlotSet(slot, None) for slot in SLOTS]


LENIENT = ("callback_phone", "callback_email")  # no valid answer here starts with a question word


def answered_question(dispatcher: CollectingDispatcher, tracker: Tracker, slot: str = "") -> bool:
    """If the visitor asked one of the FAQs instead of answering, answers it (the form then asks again).

    Only a message written as a question counts ("how long is the program?"), so that an
    answer such as "about my mother" is never mistaken for the question about loved ones.
    """
    message = tracker.latest_message or {}
    text = str(message.get("text") or "")
    if (message.get("intent") or {}).get("name") != "faq" or not fields.is_question(text, strict=slot not in LENIENT):
        return False
    selected = ((message.get("response_selector") or {}).get("faq") or {}).get("response") or {}
    answer = selected.get("utter_action")
    if not answer:
        return False
    dispatcher.utter_message(response=str(answer))
    return True


class ValidateCallbackForm(FormValidationAction):
    """Checks each answer; a bad one is cleared (the form asks again) with a reason."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "validate_callback_form"

    def validate_callback_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[str, Any]:
        """A name (letters, no digits or questions)."""
        if value is None:
            return {"callback_name": None}  # cleared (a new request): nothing to check
        if answered_question(dispatcher, tracker, "callback_name"):
            return {"callback_name": None}
        cleaned = fields.name(str(value or ""))
        if cleaned is None:
            dispatcher.utter_message(response="utter_callback_bad_name")
        return {"callback_name": cleaned}

    def validate_callback_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[str, Any]:
        """A callable number, normalised (+15551234567)."""
        if value is None:
            return {"callback_phone": None}  # cleared (a new request): nothing to check
        if answered_question(dispatcher, tracker, "callback_phone"):
            return {"callback_phone": None}
        own = str(tracker.get_slot("center_phone_dial") or "")
        cleaned = fields.phone(str(value or ""), own_line=own)
        if cleaned is None:
            dispatcher.utter_message(response="utter_callback_bad_phone")
            return {"callback_phone": None}
        return {"callback_phone": fields.display_phone(cleaned)}

    def validate_callback_time(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[str, Any]:
        """When to call: any short text."""
        if value is None:
            return {"callback_time": None}  # cleared (a new request): nothing to check
        if answered_question(dispatcher, tracker, "callback_time"):
            return {"callback_time": None}
        cleaned = fields.best_time(str(value or ""))
        if cleaned is None:
            dispatcher.utter_message(response="utter_callback_bad_time")
        return {"callback_time": cleaned}

    def validate_callback_email(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[str, Any]:
        """An e-mail address, or skipped."""
        if value is None:
            return {"callback_email": None}  # cleared (a new request): nothing to check
        if answered_question(dispatcher, tracker, "callback_email"):
            return {"callback_email": None}
        text = str(value or "")
        if fields.is_skip(text):
            return {"callback_email": SKIPPED}
        cleaned = fields.email(text)
        if cleaned is None:
            dispatcher.utter_message(response="utter_callback_bad_email")
        return {"callback_email": cleaned}

    def validate_callback_message(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Dict[str, Any]:
        """A short message, or skipped."""
        if value is None:
            return {"callback_message": None}  # cleared (a new request): nothing to check
        if answered_question(dispatcher, tracker, "callback_message"):
            return {"callback_message": None}
        text = str(value or "")
        if fields.is_skip(text):
            return {"callback_message": SKIPPED}
        return {"callback_message": fields.message(text)}

    def validate_callback_about(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[str, Any]:
        """Whether the call is about the visitor or someone else."""
        if value is None:
            return {"callback_about": None}  # cleared (a new request): nothing to check
        if answered_question(dispatcher, tracker, "callback_about"):
            return {"callback_about": None}
        cleaned = fields.about(str(value or ""))
        if cleaned is None:
            dispatcher.utter_message(response="utter_callback_bad_about")
        return {"callback_about": cleaned}

    def validate_callback_confirm(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Dict[str, Any]:
        """Send (yes) or not (no)."""
        if value is None:
            return {"callback_confirm": None}  # cleared (a new request): nothing to check
        if answered_question(dispatcher, tracker, "callback_confirm"):
            return {"callback_confirm": None}
        cleaned = fields.confirmation(str(value or ""))
        if cleaned is None:
            dispatcher.utter_message(response="utter_callback_bad_confirm")
        return {"callback_confirm": cleaned}


class ActionResetCallback(Action):
    """Clears the answers of an earlier request, so that a new one asks every question."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_reset_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        """Sets every callback slot to None."""
        return _clear()


class ActionSubmitCallback(Action):
    """Stores a confirmed request for staff (with its alert), then clears the answers."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_submit_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        """Stores the request if the visitor confirmed it; says what happened either way."""
        if tracker.get_slot("callback_confirm") != "yes":
            dispatcher.utter_message(response="utter_callback_cancelled")
            return _clear()
        slot = tracker.get_slot
        try:
            from bot import settings as settings_module
            from bot.store import callbacks, engine

            callbacks.create(
                engine(settings_module.load().database), tracker.sender_id,
                name=str(slot("callback_name")), phone=str(slot("callback_phone")),
                best_time=str(slot("callback_time")), about=str(slot("callback_about")),
                email=None if slot("callback_email") in (None, SKIPPED) else str(slot("callback_email")),
                message=None if slot("callback_message") in (None, SKIPPED) else str(slot("callback_message")))
        except Exception as e:  # noqa: BLE001 - the visitor must hear that nothing was sent
            logger.error("callback request of conversation %s could not be stored (%s)", tracker.sender_id,
                         type(e).__name__)
            dispatcher.utter_message(response="utter_callback_failed")
            return _clear()
        logger.info("callback request stored for conversation %s", tracker.sender_id)
        dispatcher.utter_message(response="utter_callback_done", request_name=str(slot("callback_name")),
                                 request_phone=str(slot("callback_phone")), request_time=str(slot("callback_time")))
        return _clear()
