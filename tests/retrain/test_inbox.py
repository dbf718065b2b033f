"""The training inbox: marking, exporting (SQLite and PostgreSQL) and applying a labelled file to a
copy of the project's training data (never the real ``data/`` or ``domain.yml``)."""
from __future__ import annotations

import itertools
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import yaml

from bot.nlu.answer_fallback import load_suggestions
from bot.retrain import approvals, inbox
from bot.retrain.inbox_apply import InboxError, apply, describe, next_steps, read_entries
from bot.retrain.training_data import DataError, NluFile, Project, TrainingData, domain_intents, load_yaml, norm
from bot.settings import ROOT
from bot.store import audit, conversations, engine
from bot.store.callbacks import MASK
from bot.store.conversations import EVENTS, Batch, event_row
from bot.store.review import delete_conversation

NOW = time.time()
DAY = 86400.0
_batches = itertools.count()


# --- conversations ----------------------------------------------------------------------------

def user(text: str, intent: str, confidence: float, ranking: Sequence[Tuple[str, float]] = (),
         answers: Sequence[Tuple[str, float]] = (), kind: str | None = None) -> Dict[str, Any]:
    """A visitor message as Rasa stores it: ``faq/<topic>`` through the response selector, as the
    classifier writes it; ``ranking`` and ``answers`` are the intent and FAQ-answer rankings."""
    parse: Dict[str, Any] = {"intent": {"name": intent, "confidence": confidence}, "entities": [], "text": text,
                             "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking]}
    if intent.startswith("faq/"):
        parse["intent"]["name"] = "faq"
        answers = answers or ((intent, confidence),)
    if answers:
        parse["response_selector"] = {"faq": {
            "response": {"intent_response_key": answers[0][0]},
            "ranking": [{"intent_response_key": k, "confidence": c} for k, c in answers]}}
    if kind:
        parse["entities"].append({"entity": "emergency_kind", "value": kind})
    return {"event": "user", "text": text, "parse_data": parse}


def missed(text: str, guess: str = "faq", answers: Sequence[Tuple[str, float]] = (("faq/insurance", 0.35),),
           confidence: float = 0.4) -> Dict[str, Any]:
    """A message the fallback answered: nlu_fallback on top, the model's guess second."""
    return user(text, "nlu_fallback", 1.0, [("nlu_fallback", 1.0), (guess, confidence), ("greet", 0.1)],
                answers if guess == "faq" else ())


def store(url: str, conversation_id: str, messages: Sequence[Dict[str, Any]], start: float = NOW - 3600) -> List[int]:
    """Writes each message (and a reply) as one turn; returns the visitor messages' event ids."""
    eng = engine(url)
    for i, message in enumerate(messages):
        ts = start + 10 * i
        events = [{**message, "timestamp": ts}, {"event": "action", "timestamp": ts + 1, "name": "utter_x"},
                  {"event": "bot", "timestamp": ts + 1, "text": "a reply", "metadata": {"utter_action": "utter_x"}}]
        batch = f"b{next(_batches)}"
        with eng.begin() as conn:
            conversations.write_batch(conn, Batch(batch, conversation_id,
                                                  [event_row(conversation_id, batch, e) for e in events]))
    with eng.connect() as conn:
        rows = conn.execute(EVENTS.select().where(EVENTS.c.conversation_id == conversation_id,
                                                  EVENTS.c.type_name == "user").order_by(EVENTS.c.id))
        return [int(r.id) for r in rows][-len(messages):]


def export_entries(url: str, **kwargs: Any) -> Tuple[List[dict], inbox.Collected, str]:
    """Exports into a string; (its entries, what was collected, the text)."""
    import io

    out = io.StringIO()
    found = inbox.export(engine(url), out, kwargs.pop("intents", ["greet", "faq/insurance"]), "tester",
                         "inbox.yml", **kwargs)
    text = out.getvalue()
    return (yaml.safe_load(text) or {}).get("entries") or [], found, text


# --- the project's copy -----------------------------------------------------------------------

@pytest.fixture
def project(tmp_path) -> Project:
    """A copy of the project's training data, domain and approvals."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "data", root / "data")
    shutil.copy(ROOT / "domain.yml", root / "domain.yml")
    return Project(root)


def snapshot(project: Project) -> Dict[str, str]:
    return {str(p.relative_to(project.root)): p.read_text(encoding="utf-8")
            for p in sorted(project.root.rglob("*.yml"))}


def write_inbox(tmp_path: Path, entries: str) -> Path:
    path = tmp_path / "inbox.yml"
    path.write_text("# labelled by hand\nentries:\n" + entries, encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    """The 1-based line of the first line containing ``fragment``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in {path}")


def examples_of(project: Project, intent: str) -> List[str]:
    return [e.text for e in TrainingData.read(project).examples() if e.intent == intent]


def never_crisis(text: str) -> bool:
    return False


# --- marks ------------------------------------------------------------------------------------

def test_marking_a_message_is_idempotent_and_audited(db_url):
    ids = store(db_url, "c1", [user("where do i park", "out_of_scope", 0.95)])
    eng = engine(db_url)
    assert inbox.mark_event(eng, "c1", ids[0], "alice") is True
    assert inbox.mark_event(eng, "c1", ids[0], "bob") is False, "marked once"
    [entry] = [e for e in audit.entries(eng, target="c1") if e.action == "inbox_mark"]
    assert entry.actor == "alice" and str(ids[0]) in entry.detail and "park" not in entry.detail


def test_only_a_visitor_message_of_that_conversation_can_be_marked(db_url):
    ids = store(db_url, "c1", [user("where do i park", "out_of_scope", 0.95)])
    store(db_url, "c2", [user("hello", "greet", 0.99)])
    eng = engine(db_url)
    with pytest.raises(KeyError):
        inbox.mark_event(eng, "c2", ids[0], "alice")
    with pytest.raises(KeyError):
        inbox.mark_event(eng, "c1", ids[0] + 1, "alice")  # the assistant's action after it
    with pytest.raises(KeyError):
        inbox.mark_text(eng, "c1", "where do i", "alice")


@pytest.mark.parametrize("message", [
    user("i took all my pills", "emergency", 0.99, kind="overdose"),
    user("he is shaking all over", "faq/common_symptoms", 0.7, kind="seizure"),  # flagged by the rules
    user(MASK, "inform", 0.9),
])
def test_emergencies_and_callback_details_are_never_marked(db_url, message):
    [event_id] = store(db_url, "c1", [message])
    with pytest.raises(inbox.MarkRefused):
        inbox.mark_event(engine(db_url), "c1", event_id, "alice")
    with pytest.raises(inbox.MarkRefused):
        inbox.mark_text(engine(db_url), "c1", message["text"], "alice")
    assert export_entries(db_url)[0] == []


def test_mark_text_marks_the_exact_message(db_url):
    ids = store(db_url, "c1", [user("parking?", "out_of_scope", 0.9), user("where do i park", "out_of_scope", 0.9),
                               user("where do i park", "out_of_scope", 0.9)])
    added, before = inbox.mark_text(engine(db_url), "c1", "  where do i park ", "alice")
    assert added == ids[1:] and before == []
    assert inbox.mark_text(engine(db_url), "c1", "where do i park", "alice") == ([], ids[1:])


def test_marks_go_with_their_conversation(db_url):
    [event_id] = store(db_url, "c1", [user("where do i park", "out_of_scope", 0.95)])
    eng = engine(db_url)
    inbox.mark_event(eng, "c1", event_id, "alice")
    assert delete_conversation(eng, "c1", "admin")  # deletes its marks too (bot/store/review.py)
    assert inbox.prune_marks(eng) == 0


# --- export -----------------------------------------------------------------------------------

def test_the_inbox_has_missed_low_confidence_and_marked_messages_only(db_url):
    ids = store(db_url, "c1", [
        missed("do you take medicare?"),
        user("how much is it", "faq/cost", 0.41),
        user("do you take insurance", "faq/insurance", 0.97),  # understood: not in the inbox
        user("where do i park", "out_of_scope", 0.93),  # marked below
        user("i took all my pills", "emergency", 0.99, kind="overdose"),
        user(MASK, "inform", 0.2),
    ])
    inbox.mark_event(engine(db_url), "c1", ids[3], "alice")
    entries, found, text = export_entries(db_url)
    by_text = {e["text"]: e for e in entries}
    assert set(by_text) == {"do you take medicare?", "how much is it", "where do i park"}
    assert by_text["do you take medicare?"]["why"] == "not understood"
    assert by_text["how much is it"]["why"] == "low confidence"
    assert by_text["where do i park"]["why"] == "marked by alice"
    assert found.left_out[inbox.LEFT_EMERGENCY] == 1
    assert MASK not in text and "pills" not in text


def test_the_guess_is_prefilled_from_the_rankings(db_url):
    store(db_url, "c1", [
        missed("medicare??", answers=(("faq/insurance", 0.38), ("faq/cost", 0.2))),
        missed("hiya mate", guess="greet", confidence=0.3),
        user("how much is it", "faq/cost", 0.41),
        user("zzzz", "nlu_fallback", 1.0, [("nlu_fallback", 1.0)]),
    ])
    by_text = {e["text"]: e for e in export_entries(db_url)[0]}
    assert by_text["medicare??"]["intent"] == "faq/insurance"
    assert by_text["medicare??"]["guess"] == "faq/insurance (38%)"
    assert by_text["hiya mate"]["intent"] == "greet" and by_text["hiya mate"]["guess"] == "greet (30%)"
    assert by_text["how much is it"]["intent"] == "faq/cost"
    assert by_text["zzzz"]["intent"] == "" and by_text["zzzz"]["guess"] == "none"


def test_the_guess_is_never_the_emergency_intent():
    data = {"parse_data": {"intent_ranking": [{"name": "nlu_fallback", "confidence": 1.0},
                                              {"name": "emergency", "confidence": 0.3},
                                              {"name": "distress", "confidence": 0.2}]}}
    assert inbox.model_guess("nlu_fallback", 1.0, data) == ("distress", 0.2)
    assert inbox.model_guess("faq/insurance", 0.5, {}) == ("faq/insurance", 0.5)
    assert inbox.model_guess("nlu_fallback", 1.0, {}) == (None, None)


def test_near_duplicates_are_one_entry_with_their_phrasings(db_url):
    store(db_url, "c1", [missed("Do you take Medicare?"), missed("do you take medicare"),
                         missed("do you take medicare??")])
    store(db_url, "c2", [missed("do you take medicaire?"), missed("what about the weather", guess="greet")],
          start=NOW - 60)
    entries = export_entries(db_url)[0]
    assert len(entries) == 2
    first = entries[0]
    assert first["seen"] == 4 and first["text"] == "Do you take Medicare?"
    assert first["also"] == ["do you take medicaire?"], "one line per phrasing, not per spelling of it"
    assert first["conversations"] == ["c2", "c1"]
    assert entries[1]["text"] == "what about the weather" and entries[1]["seen"] == 1 and "also" not in entries[1]


def test_visitors_details_are_redacted(db_url):
    store(db_url, "c1", [missed("call me at 555-123-4567 or jo@example.org about medicare")])
    entries, _found, text = export_entries(db_url)
    assert entries[0]["text"] == "call me at [phone] or [email] about medicare"
    assert "555-123-4567" not in text and "jo@example.org" not in text


def test_the_crisis_rules_training_data_and_held_out_cases_are_left_out(db_url):
    store(db_url, "c1", [missed("i want to end it all tonight"), missed("Do you take insurance?!"),
                         missed("is there a held out case here"), missed("do you take medicare")])
    entries, found, _text = export_entries(
        db_url, screen=lambda text: "end it all" in text, known={norm("do you take insurance")},
        held_out={"isthereaheldoutcasehere"})
    assert [e["text"] for e in entries] == ["do you take medicare"]
    assert found.left_out == {inbox.LEFT_CRISIS_RULES: 1, inbox.LEFT_KNOWN: 1, inbox.LEFT_HELD_OUT: 1}


def test_since_limits_the_period(db_url):
    store(db_url, "old", [missed("an old question")], start=NOW - 40 * DAY)
    store(db_url, "new", [missed("a new question")])
    assert [e["text"] for e in export_entries(db_url, since=NOW - 30 * DAY)[0]] == ["a new question"]
    assert len(export_entries(db_url)[0]) == 2


def test_the_file_explains_itself_lists_the_intents_and_is_audited(db_url):
    store(db_url, "c1", [missed("do you take medicare")])
    entries, _found, text = export_entries(db_url, intents=["greet", "emergency", "faq/insurance"])
    header = text.split("entries:", 1)[0]
    assert all(line.startswith("#") or not line for line in header.splitlines())
    assert "python -m bot inbox apply" in header and "faq/<new_topic>" in header
    assert re.search(r"#\s+greet faq/insurance ignore", header), "the intents, emergency left out"
    assert set(entries[0]) == {"text", "intent", "guess", "why", "seen", "last_seen", "conversations"}
    [entry] = [e for e in audit.entries(engine(db_url)) if e.action == "inbox_export"]
    assert entry.actor == "tester" and entry.target == "inbox.yml"
    assert "1 entry from 1 message, redacted" in entry.detail
    assert "medicare" not in entry.detail


def test_an_empty_inbox_is_a_valid_file(db_url):
    entries, found, text = export_entries(db_url)
    assert entries == [] and found.messages == 0
    assert yaml.safe_load(text) == {"entries": []}


# --- reading a labelled file ------------------------------------------------------------------

def test_an_exported_file_applies_as_labelled(db_url, project, tmp_path):
    store(db_url, "c1", [missed("do you cover medicare plans"), missed("do you cover medicare plan"),
                         missed("hiya mate", guess="greet")])
    path = tmp_path / "exported.yml"
    path.write_text(export_entries(db_url, intents=domain_intents(load_yaml(project.domain)))[2], encoding="utf-8")
    report = apply(path, project, screen=never_crisis, held_out=[])
    assert report.added == {"faq/insurance": ["do you cover medicare plans", "do you cover medicare plan"],
                            "greet": ["hiya mate"]}
    assert "do you cover medicare plans" in examples_of(project, "faq/insurance")


def test_yaml_syntax_errors_name_the_line(tmp_path, project):
    path = write_inbox(tmp_path, "- text: a\n  intent: greet\n- text: [oops\n")
    with pytest.raises(InboxError) as error:
        apply(path, project, screen=never_crisis, held_out=[])
    assert re.match(rf"{re.escape(str(path))} line \d+: not valid YAML", error.value.problems[0])


@pytest.mark.parametrize("body, problem", [
    ("- text: hi there\n  intnet: greet\n", "line 4: unknown key 'intnet'"),
    ("- just a string\n", "line 3: an entry must have"),
    ("- text: hi\n  intent: greet\n  also: not a list\n", "line 5: `also` must be a list"),
    ("- text: hi\n  intent: [greet]\n", "line 4: `intent` must be a single value"),
])
def test_layout_errors_name_the_line(tmp_path, project, body, problem):
    path = write_inbox(tmp_path, body)
    with pytest.raises(InboxError) as error:
        read_entries(path)
    assert any(problem in p for p in error.value.problems), error.value.problems


def test_a_file_without_entries_is_refused_and_an_empty_list_applies_nothing(tmp_path, project):
    path = tmp_path / "x.yml"
    path.write_text("things:\n- 1\n", encoding="utf-8")
    with pytest.raises(InboxError, match="line 1: expected `entries:`"):
        read_entries(path)
    path.write_text("entries:\n", encoding="utf-8")
    assert apply(path, project, screen=never_crisis, held_out=[]).examples == 0


# --- applying ---------------------------------------------------------------------------------

def test_examples_are_appended_to_their_block_and_nothing_else_changes(tmp_path, project):
    before = snapshot(project)
    path = write_inbox(tmp_path, "\n".join([
        "- text: does my cigna plan cover the detox part",
        "  intent: faq/insurance",
        "  also:",
        "  - will my cigna plan pay for detox",
        "- text: hiya   there\n    friend",  # folded onto one line
        "  intent: greet",
        "- text: do u do dog grooming",
        "  intent: out_of_scope",
        "- text: zzzz",
        "  intent: ignore",
        ""]))
    report = apply(path, project, screen=never_crisis, held_out=[])
    assert report.added == {
        "faq/insurance": ["does my cigna plan cover the detox part", "will my cigna plan pay for detox"],
        "greet": ["hiya there friend"], "out_of_scope": ["do u do dog grooming"]}
    assert report.ignored == 1 and report.new_topics == []
    after = snapshot(project)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"data/nlu/program.yml", "data/nlu/conversation.yml", "data/nlu/out_of_scope.yml"}
    for name in changed:
        old, new = before[name].splitlines(), after[name].splitlines()
        added = [line for line in new if line not in old]
        assert len(new) == len(old) + len(added), "only insertions"
        assert [line for line in new if line in old or line.strip().startswith("#")] == old, "order and comments kept"
        assert all(re.match(r"^    - \S", line) for line in added), added
    program = yaml.safe_load(after["data/nlu/program.yml"])["nlu"]
    insurance = next(i for i in program if i["intent"] == "faq/insurance")["examples"].splitlines()
    assert insurance[-2:] == ["- does my cigna plan cover the detox part", "- will my cigna plan pay for detox"]
    assert after["data/nlu/callback.yml"].count("#") == before["data/nlu/callback.yml"].count("#")
    line = describe(report, project)
    assert line.startswith("added 4 examples (faq/insurance 2, greet 1, out_of_scope 1); changed data/nlu/")
    assert line.endswith("skipped 1 ignored")


@pytest.mark.parametrize("intent, fragment", [
    ("faq/insurence", "unknown intent 'faq/insurence' (did you mean faq/insurance?)"),
    ("gret", "unknown intent 'gret' (did you mean greet?)"),
    ("Faq/Medicare", "unknown intent 'Faq/Medicare'"),
    ("faq", "unknown intent 'faq'"),
    ("nlu_fallback", "unknown intent 'nlu_fallback'"),
])
def test_unknown_intents_are_refused_naming_the_line(tmp_path, project, intent, fragment):
    before = snapshot(project)
    path = write_inbox(tmp_path, f"- text: hello there\n  intent: greet\n- text: something new\n  intent: {intent}\n")
    with pytest.raises(InboxError) as error:
        apply(path, project, screen=never_crisis, held_out=[])
    [problem] = error.value.problems
    assert problem.startswith(f"{path} line {line_of(path, f'intent: {intent}')}: {fragment}"), problem
    assert snapshot(project) == before, "nothing written"


def test_every_problem_is_reported_at_once_and_nothing_is_written(tmp_path, project):
    before = snapshot(project)
    path = write_inbox(tmp_path, "\n".join([
        "- text: fine example to add",
        "  intent: greet",
        "- text: no label yet",
        "  intent:",
        "- text: i am going to end it",
        "  intent: distress",
        "- text: someone is in danger",
        "  intent: emergency",
        "- text: book me for [tuesday](date)",
        "  intent: request_callback",
        "- text: ''",
        "  intent: greet",
        ""]))
    with pytest.raises(InboxError) as error:
        apply(path, project, screen=lambda text: "end it" in text, held_out=[])
    problems = error.value.problems
    assert len(problems) == 5, problems
    assert problems[0].startswith(f"{path} line 6: no intent for 'no label yet'")
    assert problems[1].startswith(f"{path} line 7: the crisis rules read 'i am going to end it' as an emergency")
    assert problems[2].startswith(f"{path} line 10: the inbox never trains the emergency intent")
    assert problems[3].startswith(f"{path} line 11: 'book me for [tuesday](date)' looks like Rasa's entity markup")
    assert problems[4].startswith(f"{path} line 13: the entry has no text")
    assert snapshot(project) == before


def test_duplicates_are_skipped(tmp_path, project):
    existing = examples_of(project, "faq/insurance")[0]
    path = write_inbox(tmp_path, "\n".join([
        f"- text: {json.dumps(existing.upper() + ' ?!')}",  # the training data's, in other case and punctuation
        "  intent: faq/insurance",
        "- text: will my plan cover it all",
        "  intent: faq/insurance",
        "  also:",
        "  - Will my plan cover it all?",  # the same entry's
        "- text: will my plan cover it all",  # another entry's
        "  intent: faq/insurance",
        ""]))
    report = apply(path, project, screen=never_crisis, held_out=[])
    assert report.added == {"faq/insurance": ["will my plan cover it all"]} and report.duplicates == 3
    assert examples_of(project, "faq/insurance").count("will my plan cover it all") == 1


def test_an_example_labelled_two_ways_is_reported(tmp_path, project):
    before = snapshot(project)
    existing = TrainingData.read(project).file_of("faq/insurance")
    assert existing is not None
    first = next(e for e in existing.examples if e.intent == "faq/insurance")
    path = write_inbox(tmp_path, "\n".join([
        f"- text: {json.dumps(first.text)}",
        "  intent: faq/contact",
        "- text: can i bring my dog",
        "  intent: out_of_scope",
        "- text: Can I bring my dog?",
        "  intent: faq/program_approach",
        ""]))
    with pytest.raises(InboxError) as error:
        apply(path, project, screen=never_crisis, held_out=[])
    assert error.value.problems == [
        f"{path} line 3: {first.text[:60]!r} labelled two ways: faq/contact here, faq/insurance in "
        f"data/nlu/program.yml line {first.line}",
        f"{path} line 7: 'Can I bring my dog?' labelled two ways: faq/program_approach here, out_of_scope on line 5",
    ]
    assert snapshot(project) == before


def test_held_out_evaluation_cases_never_become_training_data(tmp_path, project):
    held = tmp_path / "held.yml"
    held.write_text(yaml.safe_dump([{"text": "Is Medicare accepted at your center?", "kind": "faq"}]))
    path = write_inbox(tmp_path, "- text: is medicare accepted at your center\n  intent: faq/insurance\n"
                                 "- text: is medicare ok\n  intent: faq/insurance\n")
    report = apply(path, project, screen=never_crisis, held_out=[held])
    assert report.held_out == 1 and report.added == {"faq/insurance": ["is medicare ok"]}


def test_the_real_held_out_sets_are_found():
    names = {p.name for p in Project().held_out()}
    assert {"cases.yml", "styles.yml", "suite.yml", "tuning.yml", "sealed.yml", "pairs.yml", "unseen.yml",
            "dev_cases.yml"} <= names
    assert Project().root / "data" / "crisis" / "tuning.yml" in Project().held_out()


def test_a_new_topic_is_scaffolded_and_stays_pending_until_answered_and_approved(tmp_path, project):
    path = write_inbox(tmp_path, "\n".join([
        "- text: do you take medicare",
        "  intent: faq/medicare",
        "  also:",
        "  - is medicare accepted",
        "- text: does medicare pay for any of it",
        "  intent: faq/medicare",
        "  question: Do you take Medicare?",
        ""]))
    assert approvals.pending(project.domain, project.approvals) == []
    report = apply(path, project, screen=never_crisis, held_out=[])
    assert report.new_topics == ["faq/medicare"]
    new_file = project.nlu_dir / "medicare.yml"
    assert yaml.safe_load(new_file.read_text())["nlu"] == [
        {"intent": "faq/medicare",
         "examples": "- do you take medicare\n- is medicare accepted\n- does medicare pay for any of it\n"}]
    domain_text = project.domain.read_text()
    assert ("  # TODO: answer text, from the source pages, then python -m bot answers approve medicare\n"
            "  utter_faq/medicare:\n    - text: \"\"\n") in domain_text
    assert yaml.safe_load(domain_text)["responses"]["utter_faq/medicare"][0]["text"] == ""
    assert load_suggestions(project.suggestions)["medicare"] == "Do you take Medicare?"
    assert "# TODO: check the question of faq/medicare" in project.suggestions.read_text()
    # the project's invariant (tests/test_training_data.py): every topic has examples, an answer, a suggestion
    trained = {e.intent.split("/", 1)[1] for e in TrainingData.read(project).examples() if e.intent.startswith("faq/")}
    answered = {n.split("/", 1)[1] for n in yaml.safe_load(domain_text)["responses"] if n.startswith("utter_faq/")}
    assert trained == answered == set(load_suggestions(project.suggestions))
    # retraining refuses while the answer is empty, then until someone approves it
    assert approvals.pending(project.domain, project.approvals) == ["utter_faq/medicare"]
    with pytest.raises(approvals.ApprovalError, match="no answer text yet"):
        approvals.approve(["medicare"], "Dr. Lee", project.domain, project.approvals)
    answered_text = 'utter_faq/medicare:\n    - text: "Call us.\\nSource: {source_atmc}"'
    project.domain.write_text(domain_text.replace('utter_faq/medicare:\n    - text: ""', answered_text))
    assert approvals.pending(project.domain, project.approvals) == ["utter_faq/medicare"]
    approvals.approve(["medicare"], "Dr. Lee", project.domain, project.approvals)
    assert approvals.pending(project.domain, project.approvals) == []
    assert any("approve medicare" in step for step in next_steps(report))


def test_a_new_topic_can_go_into_an_existing_file(tmp_path, project):
    before = (project.nlu_dir / "program.yml").read_text()
    path = write_inbox(tmp_path, "- text: do you take medicare\n  intent: faq/medicare\n  file: program\n")
    apply(path, project, screen=never_crisis, held_out=[])
    after = (project.nlu_dir / "program.yml").read_text()
    assert after.startswith(before.rstrip("\n")) and not (project.nlu_dir / "medicare.yml").exists()
    assert "# faq/medicare: added by python -m bot inbox apply on" in after
    assert examples_of(project, "faq/medicare") == ["do you take medicare"]
    assert load_suggestions(project.suggestions)["medicare"] == "do you take medicare"


@pytest.mark.parametrize("body, fragment", [
    ("- text: hi\n  intent: faq/medicare\n  file: ../../etc/passwd\n", "line 5: `file` must be a plain name"),
    ("- text: hi\n  intent: faq/new\n  file: a\n- text: ho\n  intent: faq/new\n  file: b\n",
     "line 8: faq/new goes to data/nlu/a.yml (line 4)"),
])
def test_new_topic_options_are_checked(tmp_path, project, body, fragment):
    path = write_inbox(tmp_path, body)
    with pytest.raises(InboxError) as error:
        apply(path, project, screen=never_crisis, held_out=[])
    assert any(fragment in p for p in error.value.problems), error.value.problems


def test_a_new_topic_without_any_new_example_is_refused(tmp_path, project):
    existing = examples_of(project, "faq/insurance")[0]
    path = write_inbox(tmp_path, f"- text: {json.dumps(existing)}\n  intent: faq/insurance\n"
                                 f"- text: {json.dumps(existing)}\n  intent: faq/medicare\n")
    with pytest.raises(InboxError) as error:
        apply(path, project, screen=never_crisis, held_out=[])
    assert "labelled two ways" in error.value.problems[0]
    assert "the new topic faq/medicare would have no examples" in error.value.problems[-1]


def test_a_dry_run_changes_nothing(tmp_path, project):
    before = snapshot(project)
    path = write_inbox(tmp_path, "- text: do you take medicare\n  intent: faq/medicare\n")
    report = apply(path, project, screen=never_crisis, held_out=[], dry_run=True)
    assert report.new_topics == ["faq/medicare"] and len(report.files) == 3
    assert snapshot(project) == before


def test_a_training_file_it_cannot_read_safely_is_left_alone(tmp_path):
    path = tmp_path / "odd.yml"
    path.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples:\n  - hi\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 3: greet has no `examples: |` block"):
        NluFile.read(path)
    path.write_text('version: "3.1"\nnlu:\n- examples: |\n    - hi\n  intent: greet\n', encoding="utf-8")
    with pytest.raises(DataError):
        NluFile.read(path)
