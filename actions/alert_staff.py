"""Tells staff in real time that a conversation was flagged as an emergency."""
from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import settings

logger = logging.getLogger(__name__)


def alert_payload(tracker: Tracker) -> Dict[str, Any]:
    """What staff are told: the conversation and the kind of danger, never the message text."""
    return {
        "event": "crisis_flagged",
        "conversation_id": tracker.sender_id,
        "kind": tracker.get_slot("emergency_kind") or "general",
        "time": time.time(),
    }


def send_alert(payload: Dict[str, Any], url: str, timeout: float) -> None:
    """POSTs the alert as JSON; raises on network errors or a non-2xx answer."""
    req = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (operator-configured URL)
        if not 200 <= resp.status < 300:
            raise OSError(f"alert webhook answered {resp.status}")


class ActionAlertStaff(Action):
    """Runs after every emergency reply: webhook if configured, else a WARNING log line."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_alert_staff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Alerts staff; the visitor sees nothing from this action."""
        payload = alert_payload(tracker)
        config = settings.load()
        if config.alert_webhook_url:
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None, send_alert, payload, config.alert_webhook_url, config.alert_timeout_s)
                logger.info("crisis alert sent for conversation %s", payload["conversation_id"])
                return []
            except Exception as e:  # the alert must never break the conversation
                logger.warning("crisis alert webhook failed (%s) for conversation %s", e, payload["conversation_id"])
        logger.warning("CRISIS FLAGGED: conversation %s, kind %s", payload["conversation_id"], payload["kind"])
        return []
