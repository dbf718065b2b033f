"""actions/callback.py with real rasa_sdk objects: a Tracker built from slots and events, the
CollectingDispatcher, and a real SQLite database (DATABASE_URL) for the submit action.

The last tests (marked ``model``) read realistic answers to the form's questions with the trained
NLU: an answer classified ``emergency`` or ``cancel`` is not taken by the form (the slots'
from_text mappings exclude those intents), so a plain answer must not get one of them; and a
question typed mid-form must be read as one (intent ``faq``), to be answered.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import callback as callback_actions
from actions import callback_fields as fields
from actions.callback import SKIPPED, SLOTS, ActionResetCallback, ActionSubmitCallback, ValidateCallbackForm
from bot import facts
from bot.settings import ROOT
from bot.store import callbacks, create_tables, engine
from bot.store.alerts import ALERTS, LATEST, Alert, AlertOutbox

DOMAIN: Dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
OWN_LINE = DOMAIN["slots"]["center_phone_dial"]["initial_value"]
CONVERSATION = "conv-callback-1"


def make_tracker(slots: Dict[str, Any] | None = None, events: List[Dict[str, Any]] | None = None,
                 sender: str = CONVERSATION, latest: Dict[str, Any] | None = None) -> Tracker:
    """A rasa_sdk Tracker as the action server receives it, with the center's facts as slots."""
    all_slots = {"center_phone_dial": OWN_LINE, "requested_slot": None, **{s: None for s in SLOTS}}
    all_slots.update(slots or {})
    if latest is None:
        text = next((str(v) for v in (slots or {}).values() if v is not None), "")
        latest = {"text": text, "intent": {"name": "out_of_scope", "confidence": 0.8}, "entities": []}
    return Tracker(sender, all_slots, latest, events or [], False, None, {"name": "callback_form"}, "action_listen")


def faq_message(text: str, topic: str | None = "program_length") -> Dict[str, Any]:
    """The latest message as Rasa's NLU gives it for a question it can answer (response selector)."""
    message: Dict[str, Any] = {"text": text, "intent": {"name": "faq", "confidence": 0.95}, "entities": []}
    if topic is not None:
        message["response_selector"] = {"faq": {"response": {
            "intent_response_key": f"faq/{topic}", "utter_action": f"utter_faq/{topic}", "confidence": 0.9,
            "responses": [{"text": "..."}]}, "ranking": []}}
    return message


def responses(dispatcher: CollectingDispatcher) -> List[str]:
    return [m["response"] for m in dispatcher.messages]


def cleared() -> List[Dict[str, Any]]:
    return [SlotSet(slot, None) for slot in SLOTS]


# --- the validators, one by one ---------------------------------------------------------------

GOOD = [
    ("callback_name", "my name is Maria Lopez", "Maria Lopez"),
    ("callback_name", "José", "José"),
    ("callback_phone", "555.234.5678", "(555) 234-5678"),
    ("callback_phone", "+1 555 234 5678 ext 12", "(555) 234-5678"),
    ("callback_phone", "(555) 234-5678", "(555) 234-5678"),  # already shown as such: unchanged
    ("callback_phone", "+44 20 7946 0958", "+442079460958"),
    ("callback_time", "  weekday   mornings ", "weekday mornings"),
    ("callback_email", "Jo@Example.ORG", "Jo@example.org"),
    ("callback_email", "skip", SKIPPED),
    ("callback_email", "No thanks.", SKIPPED),
    ("callback_message", "she has been on ativan for 10 years", "she has been on ativan for 10 years"),
    ("callback_message", "x" * 800, "x" * 500),
    ("callback_message", "skip", SKIPPED),
    ("callback_message", "none", SKIPPED),
    ("callback_about", "about me", "self"),
    ("callback_about", "my son", "someone_else"),
    ("callback_about", "about someone else", "someone_else"),
    ("callback_confirm", "send it", "yes"),
    ("callback_confirm", "Yes please", "yes"),
    ("callback_confirm", "no", "no"),
]

BAD = [
    ("callback_name", "what do you need it for?", "utter_callback_bad_name"),
    ("callback_name", "R2D2", "utter_callback_bad_name"),
    ("callback_name", "", "utter_callback_bad_name"),
    ("callback_phone", "555-1234", "utter_callback_bad_phone"),
    ("callback_phone", "911", "utter_callback_bad_phone"),
    ("callback_phone", "988", "utter_callback_bad_phone"),
    ("callback_phone", "call me", "utter_callback_bad_phone"),
    ("callback_phone", facts.load().center_phone, "utter_callback_bad_phone"),  # the center's own line
    ("callback_time", "...", "utter_callback_bad_time"),
    ("callback_time", "x" * 121, "utter_callback_bad_time"),
    ("callback_email", "jo at example dot org", "utter_callback_bad_email"),
    ("callback_about", "banana", "utter_callback_bad_about"),
    ("callback_confirm", "maybe", "utter_callback_bad_confirm"),
]


def validate(slot: str, value: Any, tracker: Tracker | None = None) -> tuple:
    dispatcher = CollectingDispatcher()
    method = getattr(ValidateCallbackForm(), f"validate_{slot}")
    result = method(value, dispatcher, tracker or make_tracker({slot: value}), DOMAIN)
    return result, dispatcher


def test_every_form_slot_has_a_validator_and_a_domain_entry():
    assert ValidateCallbackForm().name() == "validate_callback_form"
    assert DOMAIN["forms"]["callback_form"]["required_slots"] == list(SLOTS)
    for slot in SLOTS:
        assert callable(getattr(ValidateCallbackForm(), f"validate_{slot}")), slot
        assert slot in DOMAIN["slots"], slot
        assert f"utter_ask_{slot}" in DOMAIN["responses"], slot
    for _, _, response in BAD:
        assert response in DOMAIN["responses"], response


@pytest.mark.parametrize("slot, typed, kept", GOOD)
def test_a_good_answer_is_normalised_silently(slot, typed, kept):
    result, dispatcher = validate(slot, typed)
    assert result == {slot: kept}
    assert dispatcher.messages == []


@pytest.mark.parametrize("slot, typed, response", BAD)
def test_a_bad_answer_is_cleared_with_the_reason(slot, typed, response):
    result, dispatcher = validate(slot, typed)
    assert result == {slot: None}, "a None slot makes the form ask again"
    assert responses(dispatcher) == [response]


@pytest.mark.parametrize("slot", SLOTS)
def test_a_cleared_slot_is_not_checked(slot):
    result, dispatcher = validate(slot, None)
    assert result == {slot: None}
    assert dispatcher.messages == [], "slots cleared by a new request are not a bad answer"


@pytest.mark.parametrize("slot", SLOTS)
@pytest.mark.parametrize("question", ["how long is the program?", "do you take insurance?", "Is it covered?"])
def test_a_question_instead_of_an_answer_is_answered_and_asked_again(slot, question):
    tracker = make_tracker({slot: question}, latest=faq_message(question))
    result, dispatcher = validate(slot, question, tracker)
    assert result == {slot: None}, "the form asks its question again"
    assert responses(dispatcher) == ["utter_faq/program_length"], "the FAQ's answer, and no 'bad answer' reply"
    assert "utter_faq/program_length" in DOMAIN["responses"]


@pytest.mark.parametrize("slot", ["callback_phone", "callback_email"])
def test_where_no_answer_starts_like_a_question_a_question_word_is_enough(slot):
    question = "do you take insurance"
    result, dispatcher = validate(slot, question, make_tracker({slot: question}, latest=faq_message(question)))
    assert result == {slot: None}
    assert responses(dispatcher) == ["utter_faq/program_length"]


@pytest.mark.parametrize("slot, typed, kept", [
    ("callback_about", "about my mother", "someone_else"),
    ("callback_about", "my father", "someone_else"),
    ("callback_message", "my mother has taken ativan for 20 years", "my mother has taken ativan for 20 years"),
    ("callback_time", "after my son's appointment", "after my son's appointment"),
    ("callback_name", "Faith", "Faith"),
])
def test_an_answer_the_nlu_reads_as_a_question_topic_is_still_an_answer(slot, typed, kept):
    """The faq intent alone is not a question: only words written as one are answered."""
    result, dispatcher = validate(slot, typed, make_tracker({slot: typed}, latest=faq_message(typed, "loved_one")))
    assert result == {slot: kept}
    assert dispatcher.messages == []


@pytest.mark.parametrize("slot, typed, topic", [
    ("callback_name", "Will Smith", "symptoms_permanent"),  # what the trained NLU gives these two
    ("callback_time", "when I'm off work, after 6", "success_rate"),
])
def test_bug_an_answer_that_starts_like_a_question_is_answered_as_an_faq(slot, typed, topic):
    result, dispatcher = validate(slot, typed, make_tracker({slot: typed}, latest=faq_message(typed, topic)))
    assert result == {slot: typed} and dispatcher.messages == [], (
        f"BUG actions/callback.py answered_question(): the answer {typed!r} (NLU intent faq, first word a "
        f"question word for callback_fields.is_question) is discarded and utter_faq/{topic} is uttered instead "
        f"(got {result}, {responses(dispatcher)})")


def test_a_question_without_a_selected_answer_is_checked_as_an_answer():
    tracker = make_tracker({"callback_name": "who are you?"}, latest=faq_message("who are you?", topic=None))
    result, dispatcher = validate("callback_name", "who are you?", tracker)
    assert result == {"callback_name": None}
    assert responses(dispatcher) == ["utter_callback_bad_name"]


@pytest.mark.parametrize("intent", ["out_of_scope", "nlu_fallback", "request_callback"])
def test_a_question_with_another_intent_is_checked_as_an_answer(intent):
    latest = {**faq_message("can you call after 5?"), "intent": {"name": intent, "confidence": 0.6}}
    result, dispatcher = validate("callback_time", "can you call after 5?", make_tracker(latest=latest))
    assert result == {"callback_time": "can you call after 5?"}
    assert dispatcher.messages == []


def test_the_centers_own_line_comes_from_the_tracker():
    d = facts.load().phone_digits[-10:]
    typed = f"({d[:3]}) {d[3:6]}-{d[6:]}"
    result, dispatcher = validate("callback_phone", typed)
    assert result == {"callback_phone": None} and responses(dispatcher) == ["utter_callback_bad_phone"]
    without = make_tracker({"center_phone_dial": None})
    result, dispatcher = validate("callback_phone", typed, without)
    assert result == {"callback_phone": typed} and dispatcher.messages == []


def test_non_string_values_are_read_as_text():
    assert validate("callback_phone", 5552345678)[0] == {"callback_phone": "(555) 234-5678"}
    assert validate("callback_time", 9)[0] == {"callback_time": "9"}


# --- the validation action as Rasa runs it -----------------------------------------------------

def run_validation(latest_slots: Dict[str, Any], slots: Dict[str, Any] | None = None) -> tuple:
    """Runs validate_callback_form after a turn that set ``latest_slots`` (the slot candidates)."""
    events = [{"event": "user", "text": "x"}]
    events += [{"event": "slot", "name": k, "value": v} for k, v in latest_slots.items()]
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({**(slots or {}), **latest_slots}, events)
    result = asyncio.run(ValidateCallbackForm().run(dispatcher, tracker, DOMAIN))
    return result, dispatcher


def test_the_form_validation_action_validates_the_slot_set_this_turn():
    result, dispatcher = run_validation({"callback_phone": "555.234.5678"}, {"callback_name": "Maria"})
    assert result == [SlotSet("callback_phone", "(555) 234-5678")]
    assert dispatcher.messages == []


def test_the_form_validation_action_clears_a_bad_answer_with_its_reason():
    result, dispatcher = run_validation({"callback_email": "not an address"})
    assert result == [SlotSet("callback_email", None)]
    assert responses(dispatcher) == ["utter_callback_bad_email"]


def test_the_form_validation_action_after_a_reset_is_silent():
    result, dispatcher = run_validation({slot: None for slot in SLOTS})
    assert sorted(result, key=lambda e: e["name"]) == sorted(cleared(), key=lambda e: e["name"])
    assert dispatcher.messages == []


# --- reset ------------------------------------------------------------------------------------

def test_reset_clears_every_callback_slot_and_says_nothing():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"callback_name": "Maria", "callback_phone": "(555) 234-5678", "callback_confirm": "yes"})
    action = ActionResetCallback()
    assert action.name() == "action_reset_callback"
    assert asyncio.run(action.run(dispatcher, tracker, DOMAIN)) == cleared()
    assert dispatcher.messages == []


# --- submit -----------------------------------------------------------------------------------

ANSWERS = {
    "callback_name": "Maria Lopez", "callback_phone": "(555) 234-5678", "callback_time": "weekday mornings",
    "callback_email": SKIPPED, "callback_message": SKIPPED, "callback_about": "someone_else",
    "callback_confirm": "yes",
}
SECRETS = ("Maria", "Lopez", "(555) 234-5678", "234-5678", "5552345678", "+15552345678", "jo@example.org",
           "ativan for ten years")


@pytest.fixture
def database(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    yield url
    engine(url).dispose()


def submit(slots: Dict[str, Any], sender: str = CONVERSATION) -> tuple:
    dispatcher = CollectingDispatcher()
    action = ActionSubmitCallback()
    assert action.name() == "action_submit_callback"
    events = asyncio.run(action.run(dispatcher, make_tracker(slots, sender=sender), DOMAIN))
    return events, dispatcher


def table_rows(url: str, table: sa.Table) -> List[dict]:
    with engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def test_submit_stores_one_request_and_its_alert(database):
    events, dispatcher = submit(ANSWERS)
    assert events == cleared()
    [request] = table_rows(database, callbacks.CALLBACKS)
    assert request["conversation_id"] == CONVERSATION
    assert (request["name"], request["phone"], request["best_time"], request["about"]) == (
        "Maria Lopez", "(555) 234-5678", "weekday mornings", "someone_else")
    assert request["email"] is None and request["message"] is None, "a skipped answer is stored as NULL"
    assert request["status"] == callbacks.NEW and request["note"] is None
    [alert] = table_rows(database, ALERTS)
    assert alert["conversation_id"] == CONVERSATION and alert["kind"] == "callback"
    assert alert["status"] == "pending" and alert["flagged_at"] == request["created_at"]
    [latest] = table_rows(database, LATEST)
    assert latest["alert_id"] == alert["id"]
    payload = Alert(alert["id"], alert["conversation_id"], alert["kind"], alert["flagged_at"], 0).payload()
    assert payload["event"] == "callback_requested"
    assert not any(secret in str(payload) for secret in SECRETS), "the alert never carries the details"
    [message] = dispatcher.messages
    assert message["response"] == "utter_callback_done"
    assert (message["request_name"], message["request_phone"], message["request_time"]) == (
        "Maria Lopez", "(555) 234-5678", "weekday mornings")


def test_submit_stores_the_optional_answers_when_given(database):
    answers = {**ANSWERS, "callback_email": "jo@example.org", "callback_message": "ativan for ten years",
               "callback_about": "self", "callback_phone": "+442079460958"}
    events, dispatcher = submit(answers)
    assert events == cleared()
    [request] = table_rows(database, callbacks.CALLBACKS)
    assert (request["email"], request["message"], request["about"], request["phone"]) == (
        "jo@example.org", "ativan for ten years", "self", "+442079460958")
    assert responses(dispatcher) == ["utter_callback_done"]


def test_two_requests_of_one_conversation_are_two_requests_with_two_alerts(database):
    submit(ANSWERS)
    submit({**ANSWERS, "callback_time": "evenings"})
    assert len(table_rows(database, callbacks.CALLBACKS)) == 2
    assert [a["kind"] for a in table_rows(database, ALERTS)] == ["callback", "callback"]


@pytest.mark.parametrize("confirm", ["no", None, "maybe"])
def test_submit_without_a_yes_stores_nothing(database, confirm):
    create_tables(database)
    events, dispatcher = submit({**ANSWERS, "callback_confirm": confirm})
    assert events == cleared()
    assert responses(dispatcher) == ["utter_callback_cancelled"]
    assert table_rows(database, callbacks.CALLBACKS) == []
    assert table_rows(database, ALERTS) == []


def test_submit_on_an_unusable_database_says_so_and_stores_nothing(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{blocker / 'db' / 'assistant.db'}")
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    events, dispatcher = submit(ANSWERS)
    assert events == cleared(), "the answers are cleared even when storing fails"
    assert responses(dispatcher) == ["utter_callback_failed"]
    assert blocker.read_text() == "a regular file"
    assert not (tmp_path / "var").exists(), "nothing went to the default database instead"
    errors = [r for r in caplog.records if r.name == callback_actions.__name__ and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and CONVERSATION in errors[0].getMessage()
    assert_no_secrets(caplog)


def test_submit_stores_nothing_when_the_alert_cannot_be_written(database, monkeypatch, caplog):
    create_tables(database)

    def broken(*args: Any, **kwargs: Any) -> str:
        raise sa.exc.OperationalError("INSERT INTO crisis_alerts", {}, Exception("disk I/O error"))

    monkeypatch.setattr(AlertOutbox, "insert_alert", staticmethod(broken))
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    events, dispatcher = submit(ANSWERS)
    assert events == cleared()
    assert responses(dispatcher) == ["utter_callback_failed"]
    assert table_rows(database, callbacks.CALLBACKS) == [], "a request is never stored without its alert"
    assert table_rows(database, ALERTS) == []
    assert_no_secrets(caplog)


def assert_no_secrets(caplog) -> None:
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for secret in SECRETS:
            assert secret not in text, f"log record {record.name}:{record.levelname} carries {secret!r}: {text[:300]}"


def test_submit_never_logs_the_details(database, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy's statements too (WARN by default)
    answers = {**ANSWERS, "callback_email": "jo@example.org", "callback_message": "ativan for ten years"}
    submit(answers)
    submit({**answers, "callback_confirm": "no"})
    assert any(r.name == callback_actions.__name__ for r in caplog.records), "the action logs what it did"
    assert any(CONVERSATION in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy.engine") and "INSERT INTO callback_requests" in r.getMessage()
               for r in caplog.records), "the statements were logged, so their parameters were looked at"
    assert_no_secrets(caplog)


def test_the_validators_never_log_the_answers(caplog):
    caplog.set_level(logging.DEBUG)
    for slot, typed, _ in GOOD + BAD:
        validate(slot, typed)
    run_validation({"callback_name": "Maria Lopez"})
    run_validation({"callback_phone": "(555) 234-5678"})
    assert_no_secrets(caplog)


# --- the trained NLU on realistic answers (needs models/current.tar.gz) ------------------------

MODEL = ROOT / "models" / "current.tar.gz"
NOT_TAKEN = {"emergency", "cancel"}  # domain.yml: the slots' from_text mappings exclude these
ANSWERS_BY_STEP = {
    "callback_name": ["Maria Lopez", "Sam", "my name is Sam", "José", "Anne-Marie", "Will Smith"],
    "callback_phone": ["(555) 234-5678", "555.234.5678", "+1 555 234 5678", "+44 20 7946 0958"],
    "callback_time": ["weekday mornings", "tomorrow after 5 pm", "evenings", "any time", "when I'm off work, after 6"],
    "callback_email": ["jo@example.org", "skip", "no"],
    "callback_message": ["skip", "I'd like to ask about admissions"],
    "callback_about": ["about me", "about someone else", "me", "my son", "my daughter", "someone else", "myself",
                       "my mom", "my husband", "my wife", "my father", "my friend"],
    "callback_confirm": ["send it", "yes", "yes please"],
}
# A question asked mid-form right after an answer; the channels pass that answer as previous_text.
AFTER_AN_ANSWER = [("555.234.5678", "is it covered by insurance?"), ("555.234.5678", "how much does it cost?"),
                   ("Maria Lopez", "do you take insurance?")]
CONTROLS = {"cancel": "cancel", "never mind": "cancel", "i just swallowed all my pills": "emergency",
            "do you take cigna insurance?": "faq"}


@pytest.fixture(scope="module")
def nlu_intents() -> Dict[str, str]:
    """The intent the trained model gives each answer (one model load for the module)."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    texts = [t for answers in ANSWERS_BY_STEP.values() for t in answers] + list(CONTROLS)
    texts += [t for _, t in AFTER_AN_ANSWER]

    async def parse_all() -> Dict[str, str]:
        from rasa.core.agent import load_agent
        from rasa.core.channels import UserMessage

        from bot.channels.context import PREVIOUS_TEXT

        agent = await load_agent(model_path=str(MODEL))
        intents = {t: (await agent.parse_message(t))["intent"]["name"] for t in texts}
        for previous, text in AFTER_AN_ANSWER:  # as the channels send it: with the previous message
            parsed = await agent.processor.parse_message(UserMessage(text, metadata={PREVIOUS_TEXT: previous}))
            intents[f"{previous} >> {text}"] = parsed["intent"]["name"]
        return intents

    return asyncio.run(parse_all())


@pytest.mark.model
@pytest.mark.parametrize("text, intent", sorted(CONTROLS.items()))
def test_nlu_controls_leave_the_form(nlu_intents, text, intent):
    assert nlu_intents[text] == intent


@pytest.mark.model
@pytest.mark.parametrize("slot, text", [(s, t) for s, answers in ANSWERS_BY_STEP.items() for t in answers])
def test_a_plain_answer_is_taken_by_the_form(nlu_intents, slot, text):
    intent = nlu_intents[text]
    assert not (intent == "faq" and fields.is_question(text)), (
        f"BUG (actions/callback.py answered_question + callback_fields.is_question): the answer {text!r} to "
        f"utter_ask_{slot} is classified 'faq' and starts with a question word, so the validation action answers "
        f"an FAQ instead and asks the same question again (a visitor named Will cannot give his name)")
    assert intent not in NOT_TAKEN, (
        f"BUG (NLU, data/nlu/*.yml + bot/nlu/crisis_detector.py): the answer {text!r} to utter_ask_{slot} is "
        f"classified {intent!r}, so the form does not take it: "
        + {"emergency": "the rule 'an emergency stops the form' replies utter_emergency, ends the form and the "
                        "conversation is flagged as a crisis (crisis_flagged, a staff alert)",
           "cancel": "the request is cancelled"}[intent])


@pytest.mark.model
@pytest.mark.parametrize("previous, text", AFTER_AN_ANSWER)
def test_a_question_right_after_an_answer_is_still_a_question(nlu_intents, previous, text):
    assert nlu_intents[text] == "faq"  # on its own, the model answers it
    intent = nlu_intents[f"{previous} >> {text}"]
    assert intent == "faq", (
        f"BUG (bot/nlu/followup.py with the callback form): {text!r}, asked after the form answer {previous!r}, "
        f"is a follow-up (it has a pronoun), so the NLU reads {previous + ' ' + text!r} and classifies it "
        f"{intent!r}: the form takes the question as the answer to its next question (fields.best_time accepts "
        f"any text, so the request is stored with best_time {text!r}) instead of answering it")
