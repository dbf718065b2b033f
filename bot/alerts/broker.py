"""Rasa event broker that raises a staff alert when a conversation is flagged.

Configured in ``endpoints.yml`` (``event_broker: type: bot.alerts.broker.CrisisAlertBroker``);
compare ``rasa/core/brokers/broker.py``. Rasa's tracker store publishes every new event of a
turn to the broker when it saves the tracker. On a user message whose intent is
``emergency`` the broker logs a WARNING line with the conversation id and kind, and hands the
alert to :class:`bot.alerts.sender.AlertSender`, which stores it durably and delivers it in
the background. Nothing here waits on the action server, the webhook or the database, so the
visitor's reply never does either.
"""
from __future__ import annotations

import logging
from asyncio import AbstractEventLoop
from typing import Any, Dict

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from bot import settings as settings_module
from bot.alerts.sender import AlertSender
from bot.names import EMERGENCY_INTENT, GENERAL_KIND, KIND_ENTITY
from bot.store import engine
from bot.store.alerts import AlertOutbox
from bot.store.spool import Spool

logger = logging.getLogger(__name__)


def flagged(event: Dict[str, Any]) -> tuple[str, str] | None:
    """(conversation id, kind) when ``event`` is a visitor message the assistant escalated, else None."""
    if event.get("event") != "user":
        return None
    parse = event.get("parse_data") or {}
    if (parse.get("intent") or {}).get("name") != EMERGENCY_INTENT:
        return None
    kind = next((str(e.get("value")) for e in parse.get("entities") or []
                 if e.get("entity") == KIND_ENTITY and e.get("value")), GENERAL_KIND)
    return str(event.get("sender_id") or ""), kind


class CrisisAlertBroker(EventBroker):
    """Turns escalated messages into stored, delivered staff alerts."""

    def __init__(self, sender: AlertSender) -> None:
        self.sender = sender

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig | None = None,
                                   event_loop: AbstractEventLoop | None = None) -> "CrisisAlertBroker":
        """Reads the alert settings (invalid ones stop the server's start), opens the outbox, starts the sender."""
        config = settings_module.load()
        # No connection here: with the database down at start the server must still start and
        # answer; alerts wait in the spool, and the tables are made on first use.
        outbox = AlertOutbox(engine(config.database), config.alert_dedup_window_s)
        sender = AlertSender(outbox, config.alert_webhook_url, config.alert_timeout_s, config.alert_retry_max_s,
                             spool=Spool(config.var_dir / "alerts.spool"))
        sender.start()
        logger.info("crisis alerts: stored in the project database, sent to %s",
                    "the webhook" if config.alert_webhook_url else "the log (no ALERT_WEBHOOK_URL)")
        return cls(sender)

    def publish(self, event: Dict[str, Any]) -> None:
        """Called by the tracker store for every new event; never raises, never blocks."""
        try:
            found = flagged(event)
            if found is None:
                return
            conversation_id, kind = found
            logger.warning("CRISIS FLAGGED: conversation %s, kind %s", conversation_id, kind)
            self.sender.flag(conversation_id, kind)
        except Exception as e:  # an alert problem must never break the conversation
            logger.error("crisis alert broker: %s", type(e).__name__)

    async def close(self) -> None:
        """Stops the sender when the server stops."""
        await self.sender.stop()
