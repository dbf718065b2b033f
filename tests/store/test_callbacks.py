"""bot/store/callbacks.py on real databases (SQLite and PostgreSQL): storing a request with its
alert in one transaction, the staff queue (listing, marking, exports), retention and deletion,
and the masking of callback details in the conversation log."""
from __future__ import annotations

import copy
import csv
import io
import json
from datetime import datetime, timezone
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa

from bot.store import audit, callbacks, conversations, engine
from bot.store.alerts import ALERTS, LATEST, Alert, AlertOutbox
from bot.store.callbacks import CALLBACKS, MASK
from bot.store.conversations import EVENTS, Batch, event_row
from bot.store.review import delete_conversation, purge, transcript

DAY = 86400.0
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp()

MARIA = dict(name="Maria Lopez", phone="(555) 234-5678", best_time="weekday mornings", about="someone_else")


def rows(url: str, table: sa.Table, **where: Any) -> List[dict]:
    query = sa.select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


# --- create -----------------------------------------------------------------------------------

def test_create_stores_the_request_and_its_alert(db_url):
    eng = engine(db_url)
    request_id = callbacks.create(eng, "conv-1", email="jo@example.org", message="ativan, 10 years", now=NOW,
                                  **MARIA)
    assert len(request_id) == 32
    [row] = rows(db_url, CALLBACKS)
    assert row == {"id": request_id, "conversation_id": "conv-1", "created_at": NOW, "name": "Maria Lopez",
                   "phone": "(555) 234-5678", "best_time": "weekday mornings", "email": "jo@example.org",
                   "message": "ativan, 10 years", "about": "someone_else", "status": "new", "note": None,
                   "updated_by": None, "updated_at": None}
    [alert] = rows(db_url, ALERTS)
    assert (alert["conversation_id"], alert["kind"], alert["flagged_at"], alert["status"]) == (
        "conv-1", "callback", NOW, "pending")
    [latest] = rows(db_url, LATEST)
    assert latest["alert_id"] == alert["id"] and latest["conversation_id"] == f"callback:{request_id}"
    payload = Alert(alert["id"], "conv-1", "callback", NOW, 0).payload()
    assert payload == {"event": "callback_requested", "alert_id": alert["id"], "conversation_id": "conv-1",
                       "kind": "callback", "time": NOW}


def test_empty_optional_answers_are_stored_as_null(db_url):
    callbacks.create(engine(db_url), "conv-1", email="", message="", now=NOW, **MARIA)
    callbacks.create(engine(db_url), "conv-2", now=NOW, **MARIA)
    for row in rows(db_url, CALLBACKS):
        assert row["email"] is None and row["message"] is None


def test_the_outbox_delivers_a_callback_alert_as_callback_requested(db_url):
    eng = engine(db_url)
    callbacks.create(eng, "conv-1", now=NOW, **MARIA)
    [alert] = AlertOutbox(eng, 3600).claim_due(lease_s=60, now=NOW + 1)
    assert alert.kind == "callback" and alert.conversation_id == "conv-1"
    assert alert.payload()["event"] == "callback_requested"
    assert "Maria" not in json.dumps(alert.payload())


def test_a_callback_alert_never_suppresses_a_crisis_alert_of_the_same_conversation(db_url):
    eng = engine(db_url)
    outbox = AlertOutbox(eng, 3600)
    callbacks.create(eng, "conv-1", now=NOW, **MARIA)
    assert outbox.record("conv-1", "overdose", now=NOW + 5) is True, "a crisis after a callback is alerted"
    callbacks.create(eng, "conv-1", now=NOW + 10, **MARIA)  # and a callback after a crisis is stored too
    kinds = sorted(a["kind"] for a in rows(db_url, ALERTS, conversation_id="conv-1"))
    assert kinds == ["callback", "callback", "overdose"]


def test_a_failed_alert_leaves_no_request(db_url, monkeypatch):
    eng = engine(db_url)

    def broken(conn, *args: Any, **kwargs: Any) -> str:
        raise sa.exc.OperationalError("INSERT INTO crisis_alerts", {}, Exception("disk full"))

    monkeypatch.setattr(AlertOutbox, "insert_alert", staticmethod(broken))
    with pytest.raises(sa.exc.OperationalError):
        callbacks.create(eng, "conv-1", now=NOW, **MARIA)
    assert rows(db_url, CALLBACKS) == [], "the request is rolled back with its alert"
    assert rows(db_url, ALERTS) == [] and rows(db_url, LATEST) == []


def test_an_alert_failing_after_its_first_insert_leaves_nothing(db_url, monkeypatch):
    """The alert's second statement fails (its LATEST row already written): all of it is rolled back."""
    eng = engine(db_url)
    real = AlertOutbox.insert_alert

    def half(conn, conversation_id, kind, now, dedup_key=None, alert_id=None):
        conn.execute(LATEST.insert().values(conversation_id=dedup_key, alert_id="x" * 32, flagged_at=now))
        raise sa.exc.OperationalError("INSERT INTO crisis_alerts", {}, Exception("connection lost"))

    monkeypatch.setattr(AlertOutbox, "insert_alert", staticmethod(half))
    with pytest.raises(sa.exc.OperationalError):
        callbacks.create(eng, "conv-1", now=NOW, **MARIA)
    assert rows(db_url, CALLBACKS) == [] and rows(db_url, LATEST) == []
    monkeypatch.setattr(AlertOutbox, "insert_alert", real)
    callbacks.create(eng, "conv-1", now=NOW, **MARIA)
    assert len(rows(db_url, CALLBACKS)) == len(rows(db_url, ALERTS)) == 1


def test_a_request_that_cannot_be_stored_raises_no_alert(db_url):
    with pytest.raises(sa.exc.IntegrityError):
        callbacks.create(engine(db_url), "conv-1", name=None, phone="(555) 234-5678",  # type: ignore[arg-type]
                         best_time="now", about="self", now=NOW)
    assert rows(db_url, CALLBACKS) == [] and rows(db_url, ALERTS) == [] and rows(db_url, LATEST) == []


# --- the queue --------------------------------------------------------------------------------

@pytest.fixture
def queue(db_url) -> Dict[str, str]:
    """Three requests, an hour apart (oldest first: ana, ben, cy)."""
    eng = engine(db_url)
    made = {}
    for i, who in enumerate(("Ana", "Ben", "Cy")):
        made[who] = callbacks.create(eng, f"conv-{who}", name=who, phone=f"(555) 234-000{i}", best_time="evenings",
                                     about="self", now=NOW + 3600 * i)
    return made


def test_listing_is_newest_first(db_url, queue):
    listed = callbacks.listing(engine(db_url))
    assert [c.name for c in listed] == ["Cy", "Ben", "Ana"]
    assert [c.id for c in listed] == [queue["Cy"], queue["Ben"], queue["Ana"]]
    assert all(isinstance(c, callbacks.Callback) and c.status == "new" for c in listed)
    assert [c.name for c in callbacks.listing(engine(db_url), limit=2)] == ["Cy", "Ben"]
    assert callbacks.listing(engine(db_url), status="done") == []


def test_listing_by_status(db_url, queue):
    eng = engine(db_url)
    callbacks.mark(eng, queue["Ben"], "called", "nurse-a", now=NOW + DAY)
    callbacks.mark(eng, queue["Ana"], "called", "nurse-a", now=NOW + DAY)
    assert [c.name for c in callbacks.listing(eng, status="called")] == ["Ben", "Ana"]
    assert [c.name for c in callbacks.listing(eng, status="called", limit=1)] == ["Ben"]
    assert [c.name for c in callbacks.listing(eng, status="new")] == ["Cy"]


def test_get(db_url, queue):
    got = callbacks.get(engine(db_url), queue["Ben"])
    assert got is not None and got.name == "Ben" and got.conversation_id == "conv-Ben"
    assert got.created_at == NOW + 3600
    assert callbacks.get(engine(db_url), "0" * 32) is None
    d = got.as_dict()
    assert d["created"] == "2024-03-10T13:00:00+00:00"
    json.dumps(d)


def test_mark_sets_status_note_and_who(db_url, queue):
    eng = engine(db_url)
    callbacks.mark(eng, queue["Ana"], "no_answer", "nurse-a", "voicemail left", now=NOW + DAY)
    got = callbacks.get(eng, queue["Ana"])
    assert (got.status, got.note, got.updated_by, got.updated_at) == ("no_answer", "voicemail left", "nurse-a",
                                                                      NOW + DAY)
    callbacks.mark(eng, queue["Ana"], "done", "nurse-b", now=NOW + 2 * DAY)  # no note: the old one stays
    got = callbacks.get(eng, queue["Ana"])
    assert (got.status, got.note, got.updated_by) == ("done", "voicemail left", "nurse-b")
    assert callbacks.get(eng, queue["Ben"]).status == "new", "only that request"
    entries = audit.entries(eng, target=queue["Ana"])
    assert [(e.actor, e.action, e.detail) for e in entries] == [("nurse-b", "mark_callback", "done"),
                                                                ("nurse-a", "mark_callback", "no_answer")]
    assert not any("voicemail" in e.detail or "Ana" in e.detail for e in entries), "the audit has no details"


def test_mark_rejects_a_bad_status_and_an_unknown_id(db_url, queue):
    eng = engine(db_url)
    with pytest.raises(ValueError):
        callbacks.mark(eng, queue["Ana"], "deleted", "nurse-a")
    with pytest.raises(KeyError):
        callbacks.mark(eng, "0" * 32, "done", "nurse-a")
    assert callbacks.get(eng, queue["Ana"]).status == "new"
    assert [e for e in audit.entries(eng) if e.action == "mark_callback"] == [], "nothing audited for a failure"


def test_export_csv(db_url, queue):
    eng = engine(db_url)
    callbacks.mark(eng, queue["Ben"], "called", "nurse-a", 'said "call =later", ok', now=NOW + DAY)
    out = io.StringIO()
    assert callbacks.export(eng, "csv", out) == 3
    read = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["name"] for r in read] == ["Cy", "Ben", "Ana"]
    assert list(read[0]) == list(callbacks.Callback.__dataclass_fields__) + ["created"]
    ben = read[1]
    assert (ben["id"], ben["phone"], ben["status"], ben["note"], ben["created"]) == (
        queue["Ben"], "(555) 234-0001", "called", 'said "call =later", ok', "2024-03-10T13:00:00+00:00")
    out = io.StringIO()
    assert callbacks.export(eng, "csv", out, status="called") == 1
    assert [r["name"] for r in csv.DictReader(io.StringIO(out.getvalue()))] == ["Ben"]


def test_export_jsonl(db_url, queue):
    eng = engine(db_url)
    out = io.StringIO()
    assert callbacks.export(eng, "jsonl", out) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["name"] for r in lines] == ["Cy", "Ben", "Ana"]
    assert lines[2] == {**callbacks.get(eng, queue["Ana"]).as_dict()}
    assert lines[2]["email"] is None and lines[2]["created"] == "2024-03-10T12:00:00+00:00"
    out = io.StringIO()
    assert callbacks.export(eng, "jsonl", out, status="done") == 0 and out.getvalue() == ""


def test_export_rejects_an_unknown_format(db_url, queue):
    with pytest.raises(ValueError):
        callbacks.export(engine(db_url), "xml", io.StringIO())


# --- retention and deletion -------------------------------------------------------------------

def test_purge_deletes_requests_created_before_the_cutoff(db_url, queue):
    eng = engine(db_url)
    with eng.begin() as conn:
        assert callbacks.purge(conn, NOW + 3600) == 1  # Ana (NOW); Ben at exactly the cutoff stays
    assert [c.name for c in callbacks.listing(eng)] == ["Cy", "Ben"]
    with eng.begin() as conn:
        assert callbacks.purge(conn, NOW) == 0
        assert callbacks.purge(conn, NOW + DAY) == 2
    assert callbacks.listing(eng) == []


def test_purge_in_a_rolled_back_transaction_deletes_nothing(db_url, queue):
    eng = engine(db_url)
    with pytest.raises(RuntimeError):
        with eng.begin() as conn:
            callbacks.purge(conn, NOW + DAY)
            raise RuntimeError("the caller's transaction fails")
    assert len(callbacks.listing(eng)) == 3


def test_delete_for_conversations(db_url, queue):
    eng = engine(db_url)
    callbacks.create(eng, "conv-Ben", name="Ben", phone="(555) 234-0009", best_time="now", about="self", now=NOW)
    with eng.begin() as conn:
        assert callbacks.delete_for(conn, []) == 0
        assert callbacks.delete_for(conn, ["conv-Ben", "conv-nobody"]) == 2
    assert [c.name for c in callbacks.listing(eng)] == ["Cy", "Ana"]
    with eng.begin() as conn:
        assert callbacks.delete_for(conn, ["conv-Ben"]) == 0


# --- review.purge and review.delete_conversation ----------------------------------------------

def store_turn(url: str, conversation_id: str, events: List[Dict[str, Any]], batch: str) -> None:
    with engine(url).begin() as conn:
        conversations.write_batch(conn, Batch(batch, conversation_id,
                                              [event_row(conversation_id, batch, e) for e in events]))


def plain_turn(ts: float) -> List[Dict[str, Any]]:
    return [user("do you take insurance?", "faq", ts), bot("We accept most plans.", "utter_faq/insurance", ts + 1)]


def test_review_purge_removes_old_callback_requests(db_url):
    eng = engine(db_url)
    store_turn(db_url, "old", plain_turn(NOW - 10 * DAY), "b1")
    store_turn(db_url, "new", plain_turn(NOW - DAY), "b2")
    callbacks.create(eng, "old", now=NOW - 10 * DAY, **MARIA)
    callbacks.create(eng, "new", now=NOW - DAY, **MARIA)
    callbacks.create(eng, "new", now=NOW - 8 * DAY, **MARIA)  # a request older than its conversation's activity
    assert purge(eng, 5 * DAY, "cron", now=NOW) == 1
    assert [(c.conversation_id, c.created_at) for c in callbacks.listing(eng)] == [("new", NOW - DAY)]
    assert rows(db_url, ALERTS, conversation_id="old") == []
    [entry] = [e for e in audit.entries(eng) if e.action == "purge"]
    # the request of the deleted conversation goes with it; the detail counts the others
    assert entry.detail.startswith("deleted 1 conversation with") and entry.detail.endswith(
        "and 1 older callback request")


def test_review_purge_without_old_requests_says_nothing_of_them(db_url):
    eng = engine(db_url)
    store_turn(db_url, "old", plain_turn(NOW - 10 * DAY), "b1")
    callbacks.create(eng, "recent", now=NOW - DAY, **MARIA)
    assert purge(eng, 5 * DAY, "cron", now=NOW) == 1
    assert len(callbacks.listing(eng)) == 1
    [entry] = [e for e in audit.entries(eng) if e.action == "purge"]
    assert "callback" not in entry.detail


def test_review_delete_conversation_removes_its_callback_requests(db_url):
    eng = engine(db_url)
    store_turn(db_url, "visitor", plain_turn(NOW), "b1")
    store_turn(db_url, "other", plain_turn(NOW), "b2")
    callbacks.create(eng, "visitor", now=NOW, **MARIA)
    callbacks.create(eng, "visitor", now=NOW + 60, **MARIA)
    kept = callbacks.create(eng, "other", now=NOW, **MARIA)
    assert delete_conversation(eng, "visitor", "nurse-a") is True
    assert [c.id for c in callbacks.listing(eng)] == [kept]
    assert rows(db_url, ALERTS, conversation_id="visitor") == []
    assert len(rows(db_url, ALERTS, conversation_id="other")) == 1


def test_review_delete_of_a_conversation_never_stored_still_removes_its_requests(db_url):
    """A request whose conversation was not stored (e.g. spooled) is deleted on the visitor's request too."""
    eng = engine(db_url)
    callbacks.create(eng, "unsaved", now=NOW, **MARIA)
    assert delete_conversation(eng, "unsaved", "nurse-a") is False
    assert callbacks.listing(eng) == []


# --- masking callback details in the conversation log -----------------------------------------

def user(text: str, intent: str, ts: float = NOW) -> Dict[str, Any]:
    return {"event": "user", "timestamp": ts, "text": text,
            "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}}


def bot(text: str, utter: str | None, ts: float = NOW) -> Dict[str, Any]:
    return {"event": "bot", "timestamp": ts, "text": text, "metadata": {"utter_action": utter} if utter else {}}


def action(name: str, ts: float = NOW) -> Dict[str, Any]:
    return {"event": "action", "timestamp": ts, "name": name}


def slot(name: str, value: Any, ts: float = NOW) -> Dict[str, Any]:
    return {"event": "slot", "timestamp": ts, "name": name, "value": value}


def loop(name: str | None, ts: float = NOW) -> Dict[str, Any]:
    return {"event": "active_loop", "timestamp": ts, "name": name}


def start_turn() -> List[Dict[str, Any]]:
    """"Can someone call me back?": the reset clears the callback slots, the form asks the name."""
    return ([user("Can someone call me back?", "request_callback"), action("action_reset_callback")]
            + [slot(s, None) for s in ("callback_name", "callback_phone", "callback_time", "callback_email",
                                       "callback_message", "callback_about", "callback_confirm")]
            + [action("callback_form"), loop("callback_form"), slot("requested_slot", "callback_name"),
               bot("I can ask the team to call you back... what name should the team ask for?",
                   "utter_ask_callback_name"), action("action_listen")])


def answer_turn(text: str, slot_name: str, value: Any, next_slot: str, question: str) -> List[Dict[str, Any]]:
    return [user(text, "out_of_scope"), slot(slot_name, text), action("callback_form"), slot(slot_name, value),
            slot("requested_slot", next_slot), bot(question, f"utter_ask_{next_slot}"), action("action_listen")]


def masked(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    events = copy.deepcopy(events)
    callbacks.mask_details(events)
    return events


def texts(events: List[Dict[str, Any]]) -> List[tuple]:
    return [(e["event"], e.get("text")) for e in events if e["event"] in ("user", "bot")]


def test_a_form_answer_is_masked_with_its_parse_data():
    turn = answer_turn("Maria Lopez", "callback_name", "Maria Lopez", "callback_phone", "What phone number...?")
    out = masked(turn)
    [answer] = [e for e in out if e["event"] == "user"]
    assert answer["text"] == MASK and answer["parse_data"]["text"] == MASK
    assert answer["parse_data"]["intent"]["name"] == "out_of_scope", "only the words are replaced"
    assert texts(out)[1] == ("bot", "What phone number...?"), "the next question is not a detail"
    assert [e for e in out if e["event"] == "slot"] == [e for e in turn if e["event"] == "slot"], (
        "slot events are left as they are (the tracker store keeps them out of exports itself)")


def test_a_rejected_answer_is_masked_too():
    turn = [user("call me at 555 1234", "out_of_scope"), slot("callback_phone", "call me at 555 1234"),
            action("callback_form"), bot("That doesn't look like a phone number...", "utter_callback_bad_phone"),
            slot("callback_phone", None), slot("requested_slot", "callback_phone"),
            bot("What phone number should the team call?", "utter_ask_callback_phone"), action("action_listen")]
    out = masked(turn)
    assert texts(out) == [("user", MASK), ("bot", "That doesn't look like a phone number..."),
                          ("bot", "What phone number should the team call?")]


def test_the_request_that_starts_the_form_is_not_masked():
    turn = start_turn()
    out = masked(turn)
    assert out == turn, "the reset sets callback_* slots, but the request itself carries no details"


def test_a_request_without_parse_data_in_a_detail_turn_is_masked():
    turn = [{"event": "user", "timestamp": NOW, "text": "Maria"}, slot("callback_name", "Maria")]
    out = masked(turn)
    assert out[0]["text"] == MASK and "parse_data" not in out[0]


def test_a_question_asked_mid_form_is_not_masked():
    turn = [user("wait, do you take aetna insurance?", "faq"), action("utter_faq"),
            bot("We accept most plans.", "utter_faq/insurance"), action("callback_form"),
            slot("requested_slot", "callback_phone"),
            bot("What phone number should the team call?", "utter_ask_callback_phone"), action("action_listen")]
    assert masked(turn) == turn


def test_a_question_the_validation_action_answered_is_masked_with_the_answers():
    """The form takes the question's text into the slot, then its validation action answers the FAQ
    and clears the slot: the turn sets a callback slot, so the question is masked (its intent stays)."""
    turn = [user("how long is the program?", "faq"), slot("callback_phone", "how long is the program?"),
            action("callback_form"), bot("Most clients need about 8 weeks.", "utter_faq/program_length"),
            slot("callback_phone", None), slot("requested_slot", "callback_phone"),
            bot("What phone number should the team call?", "utter_ask_callback_phone"), action("action_listen")]
    out = masked(turn)
    assert texts(out) == [("user", MASK), ("bot", "Most clients need about 8 weeks."),
                          ("bot", "What phone number should the team call?")]
    assert out[0]["parse_data"]["intent"]["name"] == "faq"


def test_an_emergency_mid_form_is_not_masked():
    turn = [user("i just took all my pills", "emergency"), slot("crisis_flagged", True),
            slot("emergency_kind", "overdose"), action("utter_emergency"), bot("Call 911 now.", "utter_emergency"),
            action("action_deactivate_loop"), loop(None), slot("requested_slot", None), action("action_listen")]
    assert masked(turn) == turn, "staff must read an emergency as written"


def test_cancelling_mid_form_is_not_masked():
    turn = [user("cancel", "cancel"), action("action_deactivate_loop"), loop(None), slot("requested_slot", None),
            action("utter_callback_cancelled"), bot("Okay, I've cancelled that...", "utter_callback_cancelled"),
            action("action_listen")]
    assert masked(turn) == turn


def test_the_confirmation_question_and_the_thank_you_are_masked():
    confirm = answer_turn("somebody else", "callback_about", "someone_else", "callback_confirm",
                          "Please check your request:\n- Name: Maria Lopez\n- Phone: (555) 234-5678 ...")
    assert texts(masked(confirm)) == [("user", MASK), ("bot", MASK)]
    done = [user("send it", "affirm"), slot("callback_confirm", "send it"), action("callback_form"),
            slot("callback_confirm", "yes"), loop(None), slot("requested_slot", None),
            action("action_submit_callback"),
            bot("Thank you, Maria Lopez. ... will call (555) 234-5678 (weekday mornings).", "utter_callback_done"),
            *[slot(s, None) for s in ("callback_name", "callback_phone")], action("action_listen")]
    assert texts(masked(done)) == [("user", MASK), ("bot", MASK)]


def test_the_detail_replies_are_masked_in_any_turn():
    """Even in a turn without callback slot events (e.g. a reply replayed alone)."""
    turn = [bot("Please check your request: Maria...", "utter_ask_callback_confirm"),
            bot("Thank you, Maria...", "utter_callback_done")]
    assert texts(masked(turn)) == [("bot", MASK), ("bot", MASK)]


def test_other_replies_of_the_form_are_not_masked():
    turn = [user("no", "out_of_scope"), slot("callback_confirm", "no"), action("callback_form"),
            slot("callback_confirm", "no"), loop(None), slot("requested_slot", None),
            action("action_submit_callback"),
            bot("Okay, I've cancelled that; nothing was sent.", "utter_callback_cancelled"),
            bot("Sorry, I couldn't take your request just now", "utter_callback_failed"),
            bot("Unrelated", None), action("action_listen")]
    assert texts(masked(turn)) == [("user", MASK), ("bot", "Okay, I've cancelled that; nothing was sent."),
                                   ("bot", "Sorry, I couldn't take your request just now"), ("bot", "Unrelated")]


def test_turns_without_callbacks_are_untouched():
    turn = plain_turn(NOW) + [slot("crisis_flagged", False), slot("requested_slot", None),
                              slot("suggestion_1", "How long is the program?")]
    assert masked(turn) == turn
    assert masked([]) == []


def test_masked_turns_as_stored_have_no_details(db_url):
    """A whole callback conversation stored turn by turn: the transcript shows no name or number."""
    turns = [start_turn(),
             answer_turn("Maria Lopez", "callback_name", "Maria Lopez", "callback_phone", "What phone number?"),
             answer_turn("555.234.5678", "callback_phone", "(555) 234-5678", "callback_time", "When?"),
             [user("wait, do you take aetna insurance?", "faq"),
              bot("We accept most plans.", "utter_faq/insurance"), action("callback_form"),
              slot("requested_slot", "callback_time"), bot("When?", "utter_ask_callback_time")],
             answer_turn("weekday mornings", "callback_time", "weekday mornings", "callback_confirm",
                         "Please check your request: Maria Lopez, (555) 234-5678, weekday mornings")]
    for i, turn in enumerate(turns):
        turn = copy.deepcopy(turn)
        callbacks.mask_details(turn)
        store_turn(db_url, "visitor", turn, f"b{i}")
    t = transcript(engine(db_url), "visitor", redact=False)
    shown = " ".join(x.text or "" for x in t.turns)
    for secret in ("Maria", "Lopez", "555", "234", "weekday"):
        assert secret not in shown, secret
    assert "Can someone call me back?" in shown and "do you take aetna insurance?" in shown
    with engine(db_url).connect() as conn:
        column = " ".join(t or "" for t in conn.execute(sa.select(EVENTS.c.text)).scalars())
    assert "Maria" not in column and "555" not in column


def test_bug_an_answer_the_nlu_reads_as_request_callback_is_not_masked():
    """"call me Maria" answers the name question (fields.name strips "call me"); the trained NLU
    classifies it request_callback (1.00), as it does "please call me in the evening" for the best
    time. The form takes it (its from_text mappings only exclude emergency, cancel and faq), but
    mask_details exempts every request_callback message, not only the one that started the form."""
    turn = [user("call me Maria", "request_callback"), slot("callback_name", "call me Maria"),
            action("callback_form"), slot("callback_name", "Maria"), slot("requested_slot", "callback_phone"),
            bot("What phone number should the team call?", "utter_ask_callback_phone"), action("action_listen")]
    out = masked(turn)
    assert out[0]["text"] == MASK and out[0]["parse_data"]["text"] == MASK, (
        "BUG bot/store/callbacks.py mask_details(): a form answer classified request_callback ('call me Maria') "
        "is stored unmasked in the conversation log - the exemption should apply only to the turn that starts "
        "the form (the one with action_reset_callback), not to every request_callback message")
