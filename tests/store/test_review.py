"""The review library on real databases (SQLite and PostgreSQL): listing, filters, search,
transcripts, reviews, exports, purge, deletion, the overview and the audit trail."""
from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import datetime, timezone
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import sqlalchemy as sa

from bot import facts
from bot.names import EMERGENCY_INTENT, FAQ_INTENT, KIND_ENTITY
from bot.store import audit, conversations, engine
from bot.store.alerts import ALERTS, LATEST, AlertOutbox
from bot.store.conversations import EVENTS, Batch, event_row
from bot.store.review import (
    REVIEWS,
    Filter,
    count_conversations,
    delete_conversation,
    export,
    list_conversations,
    mark_reviewed,
    open_transcript,
    overview,
    parse_age,
    purge,
    transcript,
)

DAY = 86400.0
# 2024-03-10 12:00:00 UTC: "now" in these tests.
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp()
_batches = itertools.count()


# --- building conversations -------------------------------------------------------------------

def user(text: str, intent: str, confidence: float, ts: float, kind: str | None = None) -> Dict[str, Any]:
    """A Rasa UserUttered dict; ``faq/<topic>`` intents come from the response selector, as in Rasa."""
    parse: Dict[str, Any] = {"intent": {"name": intent, "confidence": confidence}, "entities": [], "text": text}
    if intent.startswith(FAQ_INTENT + "/"):
        parse["intent"]["name"] = FAQ_INTENT
        parse["response_selector"] = {FAQ_INTENT: {"response": {"intent_response_key": intent}}}
    if kind:
        parse["entities"].append({"entity": KIND_ENTITY, "value": kind})
    return {"event": "user", "timestamp": ts, "text": text, "parse_data": parse}


def bot(text: str, utter: str | None, ts: float) -> Dict[str, Any]:
    """A BotUttered dict; Rasa puts the response's action in ``metadata.utter_action``."""
    return {"event": "bot", "timestamp": ts, "text": text, "metadata": {"utter_action": utter} if utter else {}}


def action(name: str, ts: float) -> Dict[str, Any]:
    return {"event": "action", "timestamp": ts, "name": name}


Exchange = Tuple[str, str, float, str, str]  # visitor text, intent, confidence, reply, utter action


def store(url: str, conversation_id: str, start: float, exchanges: Sequence[Exchange],
          kind: str | None = None) -> None:
    """Writes a conversation one turn (batch) at a time, ten seconds apart, as the tracker store does."""
    eng = engine(url)
    for i, (text, intent, confidence, reply, utter) in enumerate(exchanges):
        ts = start + 10 * i
        events = [user(text, intent, confidence, ts, kind if intent == EMERGENCY_INTENT else None),
                  action(utter.split("/")[0], ts + 1), bot(reply, utter, ts + 1), action("action_listen", ts + 2)]
        batch_id = f"b{next(_batches)}"
        with eng.begin() as conn:
            conversations.write_batch(conn, Batch(batch_id, conversation_id,
                                                  [event_row(conversation_id, batch_id, e) for e in events]))


def center_reply() -> str:
    f = facts.load()
    return f"Call {f.emergency_number} now, or {f.crisis_line}. Our line: {f.center_phone}."


INSURANCE = ("do you take insurance?", "faq/insurance", 0.95, "We accept most plans. Source: ATMC",
             "utter_faq/insurance")
COST = ("how much does it cost", "faq/cost", 0.4, "Costs vary. Source: ATMC", "utter_faq/cost")
NOT_UNDERSTOOD = ("blorp wibble", "nlu_fallback", 0.3, "Sorry, I did not understand.", "utter_default")


@pytest.fixture
def seeded(db_url) -> str:
    """Six conversations: two flagged, one not understood, one low confidence, two ordinary."""
    store(db_url, "calm", NOW - 3 * DAY, [INSURANCE, COST[:2] + (0.9,) + COST[3:]])
    store(db_url, "danger", NOW - 2 * DAY,
          [("I took 40 pills, call me at (555) 123-4567", EMERGENCY_INTENT, 0.99, center_reply(), "utter_emergency")],
          kind="overdose")
    store(db_url, "confused", NOW - 1 * DAY, [NOT_UNDERSTOOD])
    store(db_url, "unsure", NOW - 4 * DAY, [COST])
    store(db_url, "old-danger", NOW - 5 * DAY,
          [INSURANCE, ("i want to end it all", EMERGENCY_INTENT, 0.97, center_reply(), "utter_emergency")],
          kind="suicide")
    store(db_url, "wild", NOW - 6 * DAY,
          [("I'm 100% sure my_dose is right, e-mail me at jo@example.org", "faq/tapering", 0.9,
            "We can't advise on doses. Source: CNT", "utter_faq/tapering")])
    return db_url


def ids(rows) -> List[str]:
    return [r.id for r in rows]


# --- listing and filters ----------------------------------------------------------------------

def test_flagged_conversations_come_first_then_the_newest(seeded):
    rows = list_conversations(engine(seeded))
    assert ids(rows) == ["danger", "old-danger", "confused", "calm", "unsure", "wild"]
    danger = rows[0]
    assert danger.flagged and danger.danger_kind == "overdose"
    assert danger.turns == 1 and danger.started_at == NOW - 2 * DAY
    assert danger.reviewed is False and danger.review_note is None
    assert rows[1].danger_kind == "suicide" and rows[1].turns == 2
    assert not any(r.flagged for r in rows[2:])


def test_the_preview_is_the_first_visitor_message_redacted(seeded):
    rows = {r.id: r for r in list_conversations(engine(seeded))}
    assert rows["danger"].preview == "I took 40 pills, call me at [phone]"
    assert rows["old-danger"].preview == "do you take insurance?"
    assert "[email]" in rows["wild"].preview and "jo@example.org" not in rows["wild"].preview
    d = rows["danger"].as_dict()
    assert set(d) >= {"id", "started_at", "last_at", "turns", "flagged", "danger_kind", "fallbacks",
                      "low_confidence", "reviewed", "review_note", "preview"}
    json.dumps(d)


def test_a_long_preview_is_cut_to_120_characters(db_url):
    store(db_url, "long", NOW, [("why " * 100, "faq/cost", 0.9, "Costs vary.", "utter_faq/cost")])
    [row] = list_conversations(engine(db_url))
    assert len(row.preview) == 120 and row.preview.startswith("why why")


@pytest.mark.parametrize("flt, expected", [
    (Filter(flagged=True), ["danger", "old-danger"]),
    (Filter(fallback=True), ["confused"]),
    (Filter(low_confidence=True), ["unsure"]),
    (Filter(since=NOW - 3 * DAY), ["danger", "confused", "calm"]),  # last activity at or after
    (Filter(until=NOW - 4 * DAY), ["old-danger", "unsure", "wild"]),  # started at or before
    (Filter(since=NOW - 5 * DAY, until=NOW - 3 * DAY), ["old-danger", "calm", "unsure"]),
    (Filter(flagged=True, since=NOW - 3 * DAY), ["danger"]),
    (Filter(limit=2), ["danger", "old-danger"]),
    (Filter(limit=2, offset=2), ["confused", "calm"]),
    (Filter(offset=5), ["wild"]),
])
def test_filters(seeded, flt, expected):
    assert ids(list_conversations(engine(seeded), flt)) == expected
    if flt.limit is None and not flt.offset:
        assert count_conversations(engine(seeded), flt) == len(expected)


def test_count_ignores_limit_and_offset(seeded):
    assert count_conversations(engine(seeded)) == 6
    assert count_conversations(engine(seeded), Filter(limit=2, offset=1)) == 6


@pytest.mark.parametrize("text, expected", [
    ("INSURANCE", ["old-danger", "calm"]),  # case-insensitive, visitor words
    ("accept most plans", ["old-danger", "calm"]),  # the assistant's words
    ("100%", ["wild"]),
    ("%", ["wild"]),  # a literal percent sign, not "anything"
    ("my_dose", ["wild"]),
    ("_", ["wild"]),  # a literal underscore, not "any character"
    ("my%dose", []),
    ("y_d", ["wild"]),
    ("/", []),
    ("nobody wrote this", []),
])
def test_search_matches_text_literally(seeded, text, expected):
    store(seeded, "lookalike", NOW - 7 * DAY, [("my dose and myXdose, 100 pills", "faq/tapering", 0.9,
                                                "No doses here.", "utter_faq/tapering")])
    assert ids(list_conversations(engine(seeded), Filter(search=text))) == expected
    assert count_conversations(engine(seeded), Filter(search=text)) == len(expected)


def test_reviewed_filter(seeded):
    eng = engine(seeded)
    mark_reviewed(eng, "danger", "nurse-a", "called back, safe")
    assert ids(list_conversations(eng, Filter(reviewed=True))) == ["danger"]
    assert ids(list_conversations(eng, Filter(reviewed=False))) == ["old-danger", "confused", "calm", "unsure", "wild"]
    assert ids(list_conversations(eng, Filter(flagged=True, reviewed=False))) == ["old-danger"]
    assert count_conversations(eng, Filter(reviewed=False)) == 5


# --- transcripts and reviews ------------------------------------------------------------------

def test_transcript_has_every_message_in_order(seeded):
    t = transcript(engine(seeded), "old-danger")
    assert t is not None and t.conversation.id == "old-danger" and t.conversation.flagged
    assert [(x.speaker, x.intent, x.action) for x in t.turns] == [
        ("visitor", "faq/insurance", None), ("assistant", None, "utter_faq/insurance"),
        ("visitor", "emergency", None), ("assistant", None, "utter_emergency")]
    assert [x.text for x in t.turns[::2]] == ["do you take insurance?", "i want to end it all"]
    assert t.turns[1].text == INSURANCE[3] and t.turns[3].text == center_reply()
    assert t.turns[0].confidence == pytest.approx(0.95) and t.turns[1].confidence is None
    assert [x.time for x in t.turns] == [NOW - 5 * DAY, NOW - 5 * DAY + 1, NOW - 5 * DAY + 10, NOW - 5 * DAY + 11]
    assert t.reviews == []
    json.dumps(t.as_dict())


def test_an_assistant_message_without_metadata_takes_the_last_action(db_url):
    eng = engine(db_url)
    events = [user("hi", "greet", 0.9, NOW), action("action_hello", NOW + 1), bot("Hello!", None, NOW + 1)]
    with eng.begin() as conn:
        conversations.write_batch(conn, Batch("x1", "c", [event_row("c", "x1", e) for e in events]))
    t = transcript(eng, "c")
    assert t is not None and t.turns[1].action == "action_hello"


def test_a_redacted_transcript_hides_the_visitor_details_not_the_center_line(seeded):
    plain = transcript(engine(seeded), "danger")
    redacted = transcript(engine(seeded), "danger", redact=True)
    assert plain is not None and redacted is not None
    assert plain.turns[0].text == "I took 40 pills, call me at (555) 123-4567"
    assert redacted.turns[0].text == "I took 40 pills, call me at [phone]"
    f = facts.load()
    assert redacted.turns[1].text == center_reply()
    assert f.center_phone in redacted.turns[1].text and "911" in redacted.turns[1].text


def test_unknown_conversation_has_no_transcript(seeded):
    assert transcript(engine(seeded), "nope") is None


def test_reviews_are_kept_in_order_and_the_latest_note_is_listed(seeded):
    eng = engine(seeded)
    mark_reviewed(eng, "danger", "nurse-a", "first look", now=NOW)
    mark_reviewed(eng, "danger", "dr-b", "called back, safe", now=NOW + 60)
    [row] = list_conversations(eng, Filter(flagged=True, reviewed=True))
    assert row.reviewed and row.review_note == "called back, safe"
    t = transcript(eng, "danger")
    assert t is not None
    assert [(r.reviewed_by, r.reviewed_at, r.note) for r in t.reviews] == [
        ("nurse-a", NOW, "first look"), ("dr-b", NOW + 60, "called back, safe")]
    marks = [e for e in audit.entries(eng) if e.action == "mark_reviewed"]
    assert [(e.actor, e.target) for e in marks] == [("dr-b", "danger"), ("nurse-a", "danger")]
    assert all("safe" not in e.detail for e in marks), "notes stay out of the audit log"


def test_marking_an_unknown_conversation_fails_and_leaves_nothing(seeded):
    eng = engine(seeded)
    with pytest.raises(KeyError):
        mark_reviewed(eng, "nope", "nurse-a", "?")
    with eng.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(REVIEWS)).scalar() == 0
    assert audit.entries(eng) == []


def test_opening_a_transcript_is_audited(seeded):
    eng = engine(seeded)
    t = open_transcript(eng, "danger", "nurse-a", redact=True)
    assert t is not None and t.turns[0].text.endswith("[phone]")
    assert open_transcript(eng, "nope", "nurse-b") is None
    [missing, opened] = audit.entries(eng)
    assert (opened.actor, opened.action, opened.target, opened.detail) == (
        "nurse-a", "open_transcript", "danger", "redacted")
    assert (missing.actor, missing.target, missing.detail) == ("nurse-b", "nope", "not found")


# --- export -----------------------------------------------------------------------------------

def test_csv_export_is_one_redacted_row_per_message(seeded):
    out = io.StringIO()
    written = export(engine(seeded), Filter(flagged=True), "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == len(rows) == 6  # danger: 2 messages, old-danger: 4
    assert list(rows[0]) == ["conversation_id", "time", "speaker", "text", "intent", "confidence", "action", "flagged"]
    assert [r["conversation_id"] for r in rows] == ["danger"] * 2 + ["old-danger"] * 4
    first, reply = rows[0], rows[1]
    assert first["text"] == "I took 40 pills, call me at [phone]" and "123-4567" not in out.getvalue()
    assert first["speaker"] == "visitor" and first["intent"] == "emergency" and float(first["confidence"]) == 0.99
    assert first["time"] == "2024-03-08T12:00:00Z" and first["flagged"] == "True"
    assert reply["speaker"] == "assistant" and reply["action"] == "utter_emergency"
    assert facts.load().center_phone in reply["text"], "the assistant's reply is never redacted"


def test_jsonl_export_and_no_redaction(seeded):
    out = io.StringIO()
    written = export(engine(seeded), Filter(search="e-mail me"), "jsonl", out, redact=False)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == len(lines) == 2
    assert lines[0]["text"].endswith("jo@example.org") and lines[0]["conversation_id"] == "wild"
    assert lines[0]["flagged"] is False and lines[1]["action"] == "utter_faq/tapering"
    out = io.StringIO()
    export(engine(seeded), Filter(search="e-mail me"), "jsonl", out)
    assert "jo@example.org" not in out.getvalue() and "[email]" in out.getvalue()


def test_csv_export_defuses_spreadsheet_formulas(db_url):
    store(db_url, "f", NOW, [("=HYPERLINK(\"http://x\")", "faq/cost", 0.9, "Costs vary.", "utter_faq/cost")])
    out = io.StringIO()
    export(engine(db_url), Filter(), "csv", out)
    assert list(csv.DictReader(io.StringIO(out.getvalue())))[0]["text"].startswith("'=")


def test_export_rejects_an_unknown_format(seeded):
    out = io.StringIO()
    with pytest.raises(ValueError, match="xml"):
        export(engine(seeded), Filter(), "xml", out)
    assert out.getvalue() == ""


# --- purge and deletion -----------------------------------------------------------------------

def _count(url: str, table: sa.Table, conversation_id: str) -> int:
    with engine(url).connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.conversation_id == conversation_id)).scalar() or 0)


def test_purge_deletes_only_old_conversations_with_their_alerts_and_reviews(seeded):
    eng = engine(seeded)
    outbox = AlertOutbox(eng, 3600)
    outbox.record("old-danger", "suicide", now=NOW - 5 * DAY)
    outbox.record("danger", "overdose", now=NOW - 2 * DAY)
    mark_reviewed(eng, "old-danger", "nurse-a", "safe")
    # Last activity: old-danger NOW-5d+12s, wild NOW-6d+2s; unsure NOW-4d+2s is just newer than 4 days.
    assert purge(eng, 4 * DAY, "cron", now=NOW) == 2
    assert "unsure" in ids(list_conversations(eng))
    assert purge(eng, 4 * DAY - 10, "cron", now=NOW) == 1
    assert ids(list_conversations(eng)) == ["danger", "confused", "calm"]
    for gone in ("old-danger", "unsure", "wild"):
        assert _count(seeded, EVENTS, gone) == 0
    assert _count(seeded, ALERTS, "old-danger") == _count(seeded, LATEST, "old-danger") == 0
    assert _count(seeded, REVIEWS, "old-danger") == 0
    assert _count(seeded, ALERTS, "danger") == _count(seeded, LATEST, "danger") == 1
    assert _count(seeded, EVENTS, "danger") > 0
    [second, first] = [e for e in audit.entries(eng) if e.action == "purge"]
    assert first.actor == second.actor == "cron"
    assert first.detail.startswith("deleted 2 conversations with")
    assert second.detail.startswith("deleted 1 conversation with")
    assert purge(eng, 4 * DAY, "cron", now=NOW) == 0


def test_purge_needs_a_positive_age(seeded):
    with pytest.raises(ValueError):
        purge(engine(seeded), 0, "cron", now=NOW)
    assert count_conversations(engine(seeded)) == 6


def test_delete_removes_one_conversation_and_is_audited(seeded):
    eng = engine(seeded)
    AlertOutbox(eng, 3600).record("danger", "overdose", now=NOW)
    assert delete_conversation(eng, "danger", "nurse-a") is True
    assert transcript(eng, "danger") is None
    assert _count(seeded, EVENTS, "danger") == _count(seeded, ALERTS, "danger") == 0
    assert count_conversations(eng) == 5
    assert delete_conversation(eng, "danger", "nurse-a") is False
    entries = audit.entries(eng, target="danger")
    assert [(e.action, e.detail) for e in entries] == [("delete_conversation", "not found"),
                                                       ("delete_conversation", "deleted")]


# --- overview ---------------------------------------------------------------------------------

def test_overview_counts_per_day_with_zero_days(seeded):
    eng = engine(seeded)
    mark_reviewed(eng, "old-danger", "nurse-a", "ok")
    o = overview(eng, days=7, now=NOW)
    assert [d.date for d in o.days] == [f"2024-03-{d:02d}" for d in range(4, 11)]
    by_date = {d.date: (d.conversations, d.emergencies, d.not_understood) for d in o.days}
    assert by_date == {
        "2024-03-04": (1, 0, 0),  # wild
        "2024-03-05": (1, 1, 0),  # old-danger
        "2024-03-06": (1, 0, 0),  # unsure
        "2024-03-07": (1, 0, 0),  # calm
        "2024-03-08": (1, 1, 0),  # danger
        "2024-03-09": (1, 0, 1),  # confused
        "2024-03-10": (0, 0, 0),
    }
    assert o.top_topics == [("cost", 2), ("insurance", 2), ("tapering", 1)]  # ties by name
    assert ids(o.emergency_queue) == ["danger"], "reviewed emergencies leave the queue"


def test_overview_period_bounds_and_topic_order(seeded):
    store(seeded, "busy", NOW - 60, [INSURANCE, INSURANCE, COST])
    o = overview(engine(seeded), days=2, now=NOW)
    assert [d.date for d in o.days] == ["2024-03-09", "2024-03-10"]
    assert [d.conversations for d in o.days] == [1, 1]
    assert o.top_topics == [("insurance", 2), ("cost", 1)]  # only the period's messages
    assert ids(o.emergency_queue) == ["danger", "old-danger"]
    assert overview(engine(seeded), days=1, now=NOW).days[0].date == "2024-03-10"
    with pytest.raises(ValueError):
        overview(engine(seeded), days=0)


def test_an_empty_database(db_url):
    eng = engine(db_url)
    assert list_conversations(eng) == [] and count_conversations(eng) == 0
    o = overview(eng, days=3, now=NOW)
    assert [d.conversations for d in o.days] == [0, 0, 0] and o.top_topics == [] and o.emergency_queue == []
    assert purge(eng, DAY, "cron", now=NOW) == 0
    assert export(eng, Filter(), "jsonl", io.StringIO()) == 0


# --- ages -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("90d", 90 * DAY), ("12h", 12 * 3600), ("30m", 1800), ("2w", 14 * DAY), ("45s", 45), (" 90 days ", 90 * DAY),
    ("1.5h", 5400),
])
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "90", "d", "-5d", "0d", "90x", "90dd", "ninety days", "90M"])
def test_parse_age_rejects(text):
    with pytest.raises(ValueError, match="e.g. 90d"):
        parse_age(text)
