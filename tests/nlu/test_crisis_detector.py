"""The crisis detector component: the rules and the danger probability decide, with the n-gram intent as a hint.

With a danger probability: a rule escalates unless the message has at least ``veto_min_words`` words,
its probability is below ``rule_veto`` and every clause where a rule fires on its own (every clause when
none does) is below ``clause_veto``, however high the n-gram intent's emergency; without a rule the
probability escalates from ``semantic_threshold``, or from ``semantic_with_hint`` when the n-gram intent
gives emergency at least ``ngram_hint``; a benign message also needs ``benign_threshold``, and a
question the intent classifier read as ``faq`` with an answer of at least ``faq_sure`` needs ``faq_threshold``.
A clause of a message of several that reads at least ``clause_threshold`` alone escalates it when the whole message
reads at least ``clause_min_probability``. Otherwise a short message's context reading (the previous message then
it) escalates from ``context_threshold``
(and ``benign_threshold`` when the message alone reads benign), with the kind the matcher gives the reading,
unless the message is a question the classifier is sure of (it stands on its own words).
Without one (a model trained without the classifier) the rules and the n-gram intent decide alone.
An n-gram emergency that does not escalate is demoted.
"""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.crisis.matcher import Assessment, Detection
from bot.names import CLAUSE_PROBABILITIES, CONTEXT_PROBABILITY, FAQ_INTENT
from bot.nlu.crisis_detector import CrisisDetector
from bot.nlu.linear_classifier import answer_ranking
from bot.nlu.semantic_crisis import clauses


@pytest.fixture(scope="module")
def detector(matcher):
    return CrisisDetector({}, matcher=matcher)


def message(text, intent="faq", confidence=0.99, ranking=None):
    m = Message(data={"text": text})
    m.set("intent", {"name": intent, "confidence": confidence})
    m.set("intent_ranking", ranking or [{"name": intent, "confidence": confidence}])
    return m


def kind_of(m):
    return [e["value"] for e in m.get("entities") or [] if e["entity"] == "emergency_kind"]


def test_rule_overrides_a_confident_faq_prediction(detector):
    m = message("how long is the program? never mind, I just took the whole bottle", "faq", 0.99)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert m.get("intent_ranking")[0]["name"] == "emergency"
    assert kind_of(m) == ["overdose"]


def test_rule_escalates_with_an_uncertain_model(detector):
    m = message("my wife is having a siezure", "greet", 0.21,
                [{"name": "greet", "confidence": 0.21}, {"name": "faq", "confidence": 0.2}])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and kind_of(m) == ["seizure"]


def test_classifier_alone_escalates_with_a_general_kind(detector):
    m = message("everything feels pointless and I have made my decision", "emergency", 0.7)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["general"]


def test_classifier_below_top_but_over_threshold_escalates(detector):
    m = message("some odd message", "faq", 0.5,
                [{"name": "faq", "confidence": 0.5}, {"name": "emergency", "confidence": 0.45}])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"


def test_questions_stay_questions(detector):
    m = message("can withdrawal cause seizures?", "faq", 0.9,
                [{"name": "faq", "confidence": 0.9}, {"name": "emergency", "confidence": 0.05}])
    detector.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)


def test_empty_text_is_left_alone(detector):
    m = message("", "out_of_scope", 0.4)
    detector.process([m])
    assert m.get("intent")["name"] == "out_of_scope"


def test_an_escalated_question_is_also_answered(detector):
    m = message("what are the most serious withdrawal symptoms? i am having a seizure right now", "faq", 0.9)
    m.set("response_selector", {"faq": {"ranking": [{"intent_response_key": "faq/serious_symptoms",
                                                     "confidence": 0.8}]}})
    detector.process([m])
    entities = {e["entity"]: e["value"] for e in m.get("entities")}
    assert m.get("intent")["name"] == "emergency" and entities.get("also_answer") == "yes"


def test_a_statement_of_danger_is_not_answered_as_an_faq(detector):
    m = message("i am having a seizure right now", "emergency", 0.9)
    m.set("response_selector", {"faq": {"ranking": [{"intent_response_key": "faq/serious_symptoms",
                                                     "confidence": 0.9}]}})
    detector.process([m])
    assert "also_answer" not in {e["entity"] for e in m.get("entities")}


def test_classifier_alone_does_not_escalate_a_figure_of_speech(detector):
    m = message("the wait on hold is killing me lol", "emergency", 0.99,
                [{"name": "emergency", "confidence": 0.99}, {"name": "out_of_scope", "confidence": 0.01}])
    detector.process([m])
    assert m.get("intent")["name"] == "out_of_scope" and not kind_of(m)
    assert all(r["name"] != "emergency" for r in m.get("intent_ranking"))



def test_without_a_probability_a_benign_message_loses_an_ngram_emergency(detector, matcher):
    text = "I overdosed back in 2015, I'm fine now, how does your program work?"
    assert matcher.assess(text).benign == "past or negated"
    m = message(text, "emergency", 0.8, [{"name": "emergency", "confidence": 0.8}, {"name": "faq", "confidence": 0.2}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.2} and not kind_of(m)
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq"]


def test_without_a_probability_classifier_threshold_is_inclusive(detector):
    at = message("some odd message", "faq", 0.7, [{"name": "faq", "confidence": 0.7},
                                                  {"name": "emergency", "confidence": 0.3}])
    below_ranking = [{"name": "faq", "confidence": 0.71}, {"name": "emergency", "confidence": 0.29}]
    below = message("some odd message", "faq", 0.71, below_ranking)
    detector.process([at, below])
    assert at.get("intent")["name"] == "emergency" and processors_of(at) == [["classifier"]]
    # below the threshold the n-gram emergency neither escalates nor is demoted
    assert below.get("intent") == {"name": "faq", "confidence": 0.71}
    assert below.get("intent_ranking") == below_ranking and not kind_of(below)


# The semantic path: the danger probability of bot.nlu.semantic_crisis beside the rules and the n-gram intent.

NO_RULE = "everything feels pointless and I have made my decision"  # no rule, not benign, no kind
BENIGN = "I overdosed back in 2015, I'm fine now, how does your program work?"  # benign, kind overdose
FIGURATIVE = "the wait on hold is killing me lol"  # benign (figurative), no kind
RULE = "my husband took too much"  # rule took_everything (overdose), 5 words: never vetoed
SEVEN = "my husband took too much of it"  # the rule in 7 words: one short of veto_min_words
EIGHT = "my husband took too much of his pills"  # the rule in 8 words: long enough to be vetoed
# two clauses, the rule fires in the second only
TURN = "do you take insurance? but I just took the whole bottle"
TURN_QUESTION, TURN_DANGER = "do you take insurance?", "but I just took the whole bottle"
# two clauses, the rule fires in each
TWICE = "I just took the whole bottle. my husband took too much too"
TWICE_FIRST, TWICE_SECOND = "I just took the whole bottle.", "my husband took too much too"
# three clauses, the rule (took_and_sedated) fires on the whole message only
ACROSS = ("I took 3 bars and then did a line of what was supposed to be coke but I think it had fentanyl in it. "
          "I can barely keep my eyes open and my chest feels heavy.")
ACROSS_CLAUSES = ["I took 3 bars and then did a line of what was supposed to be coke",
                  "but I think it had fentanyl in it.", "I can barely keep my eyes open and my chest feels heavy."]


def semantic(text, p, intent="faq", confidence=0.9, ranking=None, parts=None):
    m = message(text, intent, confidence, ranking)
    if p is not None:
        m.set("danger_probability", p)
    if parts is not None:
        m.set("clause_danger_probabilities", [list(pair) for pair in parts])
    return m


def processors_of(m):
    return [e["processors"] for e in m.get("entities") or [] if e["entity"] == "emergency_kind"]


def hinted(text, p, hint):
    """A message whose n-gram intent gives emergency ``hint``, below faq (0.9)."""
    return semantic(text, p, ranking=[{"name": "faq", "confidence": 0.9}, {"name": "greet", "confidence": 0.05},
                                      {"name": "emergency", "confidence": hint}])


def test_the_texts_read_as_the_tests_assume(matcher):
    assessment = matcher.assess(NO_RULE)
    assert (assessment.detection, assessment.benign, assessment.kind) == (None, None, None)
    assert matcher.assess(BENIGN).detection is None and matcher.assess(BENIGN).benign == "past or negated"
    assert matcher.assess(BENIGN).kind == "overdose"
    assert matcher.assess(FIGURATIVE).detection is None and matcher.assess(FIGURATIVE).benign == "figurative"
    assert matcher.assess(RULE).detection.rule == "took_everything"
    assert [len(t.split()) for t in (RULE, SEVEN, EIGHT)] == [5, 7, 8]
    assert matcher.detect(SEVEN).rule == matcher.detect(EIGHT).rule == "took_everything"
    assert clauses(TURN) == [TURN_QUESTION, TURN_DANGER] and len(TURN.split()) >= 8
    assert matcher.detect(TURN).rule == matcher.detect(TURN_DANGER).rule == "took_everything"
    assert matcher.detect(TURN_QUESTION) is None
    assert clauses(TWICE) == [TWICE_FIRST, TWICE_SECOND] and len(TWICE.split()) >= 8
    assert matcher.detect(TWICE_FIRST) is not None and matcher.detect(TWICE_SECOND) is not None
    assert clauses(ACROSS) == ACROSS_CLAUSES and matcher.detect(ACROSS).rule == "took_and_sedated"
    assert all(matcher.detect(clause) is None for clause in ACROSS_CLAUSES)
    assert all(matcher.assess(t).benign is None for t in (SEVEN, EIGHT, TURN, TWICE, ACROSS))


def test_the_default_thresholds_and_no_removed_keys():
    config = CrisisDetector.get_default_config()
    assert {k: config[k] for k in ("classifier_threshold", "rule_veto", "clause_veto", "veto_min_words",
                                   "semantic_threshold", "semantic_with_hint", "ngram_hint",
                                   "benign_threshold", "faq_sure", "faq_threshold", "context_threshold",
                                   "context_part", "clause_threshold", "clause_min_probability")} == {
        "classifier_threshold": 0.3, "rule_veto": 0.005, "clause_veto": 0.6, "veto_min_words": 8,
        "semantic_threshold": 0.4, "semantic_with_hint": 0.1, "ngram_hint": 0.03,
        "benign_threshold": 0.9, "faq_sure": 0.7, "faq_threshold": 0.6, "context_threshold": 0.4,
        "context_part": 0.05, "clause_threshold": 0.95, "clause_min_probability": 0.08}
    assert CrisisDetector({}, matcher=object()).config == config
    assert not {"semantic_confirm", "benign_override_semantic", "benign_override_ngram", "veto_ngram"} & set(config)
    assert not hasattr(CrisisDetector, "_sure")


@pytest.mark.parametrize("p, rule, benign, ranking, expected", [
    # without a probability: the rules, then the n-gram intent unless benign
    (None, True, False, [], "rule"),
    (None, False, False, [{"name": "emergency", "confidence": 0.3}], "classifier"),
    (None, False, False, [{"name": "emergency", "confidence": 0.29}], None),
    (None, False, True, [{"name": "emergency", "confidence": 0.9}], None),
    # a rule stands unless the probability is below rule_veto (in a message of veto_min_words, without clauses)
    (0.005, True, False, [], "rule"),
    (0.0049, True, False, [], None),
    # ... however high the n-gram intent's emergency
    (0.0049, True, False, [{"name": "emergency", "confidence": 0.3}], None),
    (0.0049, True, False, [{"name": "emergency", "confidence": 0.99}], None),
    (0.0, True, False, [{"name": "emergency", "confidence": 1.0}], None),
    # without a rule: semantic_threshold alone, or semantic_with_hint with an ngram_hint
    (0.4, False, False, [], "semantic"),
    (0.399, False, False, [], None),
    (0.1, False, False, [{"name": "emergency", "confidence": 0.03}], "semantic"),
    (0.0999, False, False, [{"name": "emergency", "confidence": 0.99}], None),
    (0.1, False, False, [{"name": "emergency", "confidence": 0.0299}], None),
    # a benign message needs benign_threshold as well
    (0.9, False, True, [], "semantic"),
    (0.899, False, True, [{"name": "emergency", "confidence": 0.99}], None),
])
def test_classifier_flags_decides_each_branch(detector, p, rule, benign, ranking, expected):
    intent = ranking[0] if ranking and ranking[0]["confidence"] >= 0.5 else {"name": "faq", "confidence": 0.9}
    m = Message(data={"text": "anything at all that runs to eight words"})
    m.set("intent", intent)
    m.set("intent_ranking", ranking)
    if p is not None:
        m.set("danger_probability", p)
    assert detector._classifier_flags(m, rule, benign) == expected


def test_semantic_alone_escalates_with_a_general_kind(detector):
    m = semantic(NO_RULE, 0.9)
    detector.process([m])
    assert m.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert [r["name"] for r in m.get("intent_ranking")] == ["emergency", "faq"]
    assert kind_of(m) == ["general"] and processors_of(m) == [["semantic"]]
    (entity,) = [e for e in m.get("entities") if e["entity"] == "emergency_kind"]
    assert entity["replaced_intent"] == "faq"


def test_semantic_alone_takes_the_kind_of_a_rule_that_did_not_fire(detector, matcher):
    assessment = matcher.assess("I might overdose")
    assert assessment.detection is None and not assessment.benign and assessment.kind == "overdose"
    m = semantic("I might overdose", 0.85)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["overdose"] and processors_of(m) == [["semantic"]]


def test_semantic_threshold_is_inclusive_and_configurable(detector, matcher):
    at, below = semantic(NO_RULE, 0.4), semantic(NO_RULE, 0.399)
    detector.process([at, below])
    assert at.get("intent")["name"] == "emergency" and processors_of(at) == [["semantic"]]
    assert below.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(below)
    stricter = CrisisDetector({"semantic_threshold": 0.95}, matcher=matcher)
    m = semantic(NO_RULE, 0.9)
    stricter.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)


def test_a_middling_probability_escalates_with_an_ngram_hint(detector):
    m = hinted(NO_RULE, 0.2, 0.05)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert [r["name"] for r in m.get("intent_ranking")] == ["emergency", "faq", "greet"]
    assert kind_of(m) == ["general"] and processors_of(m) == [["semantic"]]


def test_the_hint_bounds_are_inclusive(detector):
    at = hinted(NO_RULE, 0.1, 0.03)
    detector.process([at])
    assert at.get("intent")["name"] == "emergency" and processors_of(at) == [["semantic"]]


def test_a_middling_probability_without_a_hint_does_not_escalate(detector):
    ranking = [{"name": "faq", "confidence": 0.9}, {"name": "greet", "confidence": 0.1}]
    m = semantic(NO_RULE, 0.3, ranking=ranking)
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.9}
    assert m.get("intent_ranking") == ranking and not kind_of(m)


def test_a_hint_below_ngram_hint_does_not_escalate_a_middling_probability(detector):
    m = hinted(NO_RULE, 0.3, 0.0299)
    detector.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)
    # the hint was below classifier_threshold: it stays in the ranking
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq", "greet", "emergency"]


def test_a_probability_below_semantic_with_hint_does_not_escalate_however_strong_the_hint(detector):
    m = semantic(NO_RULE, 0.0999, "emergency", 0.99,
                 [{"name": "emergency", "confidence": 0.99}, {"name": "faq", "confidence": 0.01}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.01} and not kind_of(m)


def test_the_hint_thresholds_are_configurable(matcher):
    detector = CrisisDetector({"semantic_with_hint": 0.3, "ngram_hint": 0.2}, matcher=matcher)
    weak_p, weak_hint, both = hinted(NO_RULE, 0.25, 0.3), hinted(NO_RULE, 0.35, 0.15), hinted(NO_RULE, 0.3, 0.2)
    detector.process([weak_p, weak_hint, both])
    assert weak_p.get("intent")["name"] == "faq" and weak_hint.get("intent")["name"] == "faq"
    assert both.get("intent")["name"] == "emergency" and processors_of(both) == [["semantic"]]


def test_with_a_probability_the_ngram_intent_never_escalates_alone(detector):
    """The old "classifier" path (n-gram emergency confirmed by a low probability) is gone."""
    m = semantic(NO_RULE, 0.1, "emergency", 0.7)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["semantic"]]
    low = semantic(NO_RULE, 0.099, "emergency", 0.99)
    detector.process([low])
    assert low.get("intent")["name"] != "emergency" and not kind_of(low)


def test_a_low_probability_demotes_an_ngram_emergency(detector):
    m = semantic(NO_RULE, 0.05, "emergency", 0.7, [
        {"name": "emergency", "confidence": 0.7}, {"name": "faq", "confidence": 0.2},
        {"name": "greet", "confidence": 0.1}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.2}
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq", "greet"]
    assert not kind_of(m)


def test_a_low_probability_demotes_an_ngram_emergency_with_nothing_after_it(detector):
    m = semantic(NO_RULE, 0.01, "emergency", 0.99)
    detector.process([m])
    assert m.get("intent") == {"name": "out_of_scope", "confidence": 0.0}
    assert m.get("intent_ranking") == [] and not kind_of(m)


def test_a_low_probability_removes_an_emergency_over_the_threshold_below_the_top(detector):
    m = semantic("some odd message", 0.02, "faq", 0.5,
                 [{"name": "faq", "confidence": 0.5}, {"name": "emergency", "confidence": 0.45}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.5}
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq"]


def test_without_a_probability_the_ngram_classifier_decides_alone(detector):
    m = semantic(NO_RULE, None, "emergency", 0.7, [
        {"name": "emergency", "confidence": 0.7}, {"name": "faq", "confidence": 0.2},
        {"name": "greet", "confidence": 0.1}])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["general"] and processors_of(m) == [["classifier"]]
    # the same message with a low probability is demoted
    low = semantic(NO_RULE, 0.05, "emergency", 0.7, [
        {"name": "emergency", "confidence": 0.7}, {"name": "faq", "confidence": 0.2}])
    detector.process([low])
    assert low.get("intent") == {"name": "faq", "confidence": 0.2}


def test_a_rule_stands_from_rule_veto(detector):
    at, above = semantic(EIGHT, 0.005), semantic(EIGHT, 0.02)
    detector.process([at, above])
    for m in (at, above):
        assert m.get("intent") == {"name": "emergency", "confidence": 1.0}
        assert kind_of(m) == ["overdose"] and processors_of(m) == [["rule:took_everything"]]


def test_a_rule_stands_below_every_other_threshold(detector):
    """A rule does not need semantic_threshold, the hint or benign_threshold: only rule_veto."""
    m = semantic(EIGHT, 0.01, "faq", 0.99)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["rule:took_everything"]]


def test_a_probability_below_rule_veto_vetoes_the_rule(detector):
    ranking = [{"name": "faq", "confidence": 0.9}, {"name": "emergency", "confidence": 0.1}]
    for p in (0.0, 0.0049):
        m = semantic(EIGHT, p, "faq", 0.9, [dict(r) for r in ranking])
        detector.process([m])
        assert m.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(m)
        # the n-gram emergency was under classifier_threshold: the ranking is left as it was
        assert m.get("intent_ranking") == ranking


def test_rule_veto_is_configurable(matcher):
    m, off = semantic(EIGHT, 0.05), semantic(EIGHT, 0.0)
    CrisisDetector({"rule_veto": 0.1}, matcher=matcher).process([m])
    CrisisDetector({"rule_veto": 0.0}, matcher=matcher).process([off])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)
    assert off.get("intent")["name"] == "emergency" and kind_of(off) == ["overdose"]


def test_a_vetoed_rule_demotes_an_ngram_emergency(detector):
    text = "a forum post said it made them want to die"
    # the n-gram intent's emergency is on top: it does not keep the rule, it is demoted
    m = semantic(text, 0.001, "emergency", 0.29, [
        {"name": "emergency", "confidence": 0.29}, {"name": "out_of_scope", "confidence": 0.28},
        {"name": "faq", "confidence": 0.2}])
    detector.process([m])
    assert m.get("intent") == {"name": "out_of_scope", "confidence": 0.28} and not kind_of(m)
    assert [r["name"] for r in m.get("intent_ranking")] == ["out_of_scope", "faq"]


def test_without_a_probability_a_rule_is_never_vetoed(detector):
    m = semantic("a forum post said it made them want to die", None, "out_of_scope", 0.9)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["rule:want_to_die"]]


def test_a_rule_marked_not_vetoable_stands_at_any_probability(detector):
    """A few words of another language (other_language: vetoable false): the classifier learned English."""
    text = "anak ko nag seizure ulit, pangatlong beses na ngayong gabi, hindi siya nagigising"
    assert detector.matcher.detect(text).rule == "other_language"
    assert not detector.matcher.vetoable("other_language") and detector.matcher.vetoable("took_everything")
    m = semantic(text, 0.0, "out_of_scope", 0.9)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["rule:other_language"]]


# The veto's guards: a message of veto_min_words words, and every clause where the rule fires below clause_veto.


def test_the_clause_probabilities_key_is_the_one_the_tests_set():
    assert CLAUSE_PROBABILITIES == "clause_danger_probabilities"


def test_a_rule_in_a_message_shorter_than_veto_min_words_is_never_vetoed(detector):
    """7 words: a probability of 0 does not veto; 8 words (veto_min_words is inclusive): it does."""
    seven, eight = semantic(SEVEN, 0.0), semantic(EIGHT, 0.0)
    # an n-gram emergency on top as well: only the length keeps the rule (the n-gram intent never does)
    short = semantic(RULE, 0.0, "emergency", 0.29, [{"name": "emergency", "confidence": 0.29},
                                                   {"name": "faq", "confidence": 0.1}])
    detector.process([seven, eight, short])
    for m in (seven, short):
        assert m.get("intent") == {"name": "emergency", "confidence": 1.0}
        assert kind_of(m) == ["overdose"] and processors_of(m) == [["rule:took_everything"]]
    assert eight.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(eight)


@pytest.mark.parametrize("text, expected", [
    ("anything", "rule"),
    ("one two three four five six seven", "rule"),
    ("one two three four five six seven eight", None),
    ("one  two\tthree\nfour five six seven ", "rule"),  # words are counted between whitespace, whatever it is
    ("one two three four five six seven eight nine ten", None),
])
def test_classifier_flags_counts_the_words_of_the_message(detector, text, expected):
    m = semantic(text, 0.0)
    assert detector._classifier_flags(m, True, False) == expected


def test_veto_min_words_is_configurable(matcher):
    lenient, strict = semantic(RULE, 0.0), semantic(EIGHT, 0.0)
    CrisisDetector({"veto_min_words": 5}, matcher=matcher).process([lenient])
    CrisisDetector({"veto_min_words": 9}, matcher=matcher).process([strict])
    assert lenient.get("intent")["name"] == "faq" and not kind_of(lenient)
    assert strict.get("intent")["name"] == "emergency" and processors_of(strict) == [["rule:took_everything"]]


@pytest.mark.parametrize("parts", [None, []])
def test_a_long_message_without_clause_probabilities_is_vetoed_on_its_probability(detector, parts):
    m = semantic(TURN, 0.0049, parts=parts)
    assert detector._vetoed(m, 0.0049)
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(m)


@pytest.mark.parametrize("text, p, parts, vetoed", [
    # the clause where the rule fires keeps it from clause_veto (inclusive), whatever the whole message's probability
    (TURN, 0.0, [(TURN_QUESTION, 0.001), (TURN_DANGER, 0.6)], False),
    (TURN, 0.0, [(TURN_QUESTION, 0.001), (TURN_DANGER, 0.9)], False),
    (TURN, 0.0, [(TURN_QUESTION, 0.001), (TURN_DANGER, 0.5999)], True),
    # a clause without the rule does not keep it, however high its probability
    (TURN, 0.0, [(TURN_QUESTION, 0.99), (TURN_DANGER, 0.5999)], True),
    (TURN, 0.0, [(TURN_QUESTION, 0.99), (TURN_DANGER, 0.0)], True),
    # the rule fires in each clause: any one of them at clause_veto keeps it
    (TWICE, 0.001, [(TWICE_FIRST, 0.01), (TWICE_SECOND, 0.6)], False),
    (TWICE, 0.001, [(TWICE_FIRST, 0.9), (TWICE_SECOND, 0.0)], False),
    (TWICE, 0.001, [(TWICE_FIRST, 0.5999), (TWICE_SECOND, 0.01)], True),
    # no clause fires the rule on its own: every clause counts
    (ACROSS, 0.0, [(c, 0.01) for c in ACROSS_CLAUSES], True),
    (ACROSS, 0.0, [(c, 0.5999) for c in ACROSS_CLAUSES], True),
    (ACROSS, 0.0, [(ACROSS_CLAUSES[0], 0.01), (ACROSS_CLAUSES[1], 0.01), (ACROSS_CLAUSES[2], 0.6)], False),
    (ACROSS, 0.0, [(ACROSS_CLAUSES[0], 0.9), (ACROSS_CLAUSES[1], 0.0), (ACROSS_CLAUSES[2], 0.0)], False),
    # clauses never veto on their own: the whole message must be below rule_veto first
    (TURN, 0.005, [(TURN_QUESTION, 0.0), (TURN_DANGER, 0.0)], False),
    (ACROSS, 0.005, [(c, 0.0) for c in ACROSS_CLAUSES], False),
])
def test_vetoed_reads_the_clauses_where_the_rule_fires(detector, text, p, parts, vetoed):
    assert detector._vetoed(semantic(text, p, parts=parts), p) is vetoed


def test_a_rule_that_fired_beyond_the_clauses_read_is_never_vetoed(detector):
    # semantic_crisis.clauses reads the first 16 clauses: a danger in the middle of a huge message is not among them
    filler = ["I have a question about how long your program is."] * 16
    text = " ".join(filler * 3) + " Right now I am holding the pills, I took the whole bottle. " + " ".join(filler)
    read = [(clause, 0.0) for clause in filler]
    assert not detector._vetoed(semantic(text, 0.0, parts=read), 0.0)
    # the same message whose danger is among the clauses read is vetoed on them
    assert detector._vetoed(semantic(text, 0.0, parts=read + [(TURN_DANGER, 0.0)]), 0.0)


def test_a_danger_told_in_one_clause_keeps_its_rule_against_a_whole_message_of_zero(detector):
    kept = semantic(TURN, 0.0, "faq", 0.95, parts=[(TURN_QUESTION, 0.0), (TURN_DANGER, 0.6)])
    vetoed = semantic(TURN, 0.0, "faq", 0.95, parts=[(TURN_QUESTION, 0.0), (TURN_DANGER, 0.5999)])
    detector.process([kept, vetoed])
    assert kept.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert kind_of(kept) == ["overdose"] and processors_of(kept) == [["rule:took_everything"]]
    assert vetoed.get("intent") == {"name": "faq", "confidence": 0.95} and not kind_of(vetoed)


def test_a_high_clause_without_the_rule_does_not_keep_it(detector):
    m = semantic(TURN, 0.001, "emergency", 0.7, [{"name": "emergency", "confidence": 0.7},
                                                  {"name": "faq", "confidence": 0.28}],
                 parts=[(TURN_QUESTION, 0.95), (TURN_DANGER, 0.5999)])
    detector.process([m])
    # vetoed: the n-gram emergency on top does not keep the rule, it is demoted as well
    assert m.get("intent") == {"name": "faq", "confidence": 0.28} and not kind_of(m)
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq"]


def test_without_a_clause_that_fires_alone_any_clause_keeps_the_rule(detector):
    kept = semantic(ACROSS, 0.0, parts=[(ACROSS_CLAUSES[0], 0.0), (ACROSS_CLAUSES[1], 0.6), (ACROSS_CLAUSES[2], 0.0)])
    vetoed = semantic(ACROSS, 0.0, parts=[(c, 0.5999) for c in ACROSS_CLAUSES])
    detector.process([kept, vetoed])
    assert kept.get("intent")["name"] == "emergency" and processors_of(kept) == [["rule:took_and_sedated"]]
    assert vetoed.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(vetoed)


def test_clause_veto_is_configurable(matcher):
    low, high = [(TURN_QUESTION, 0.0), (TURN_DANGER, 0.4)], [(TURN_QUESTION, 0.0), (TURN_DANGER, 0.8)]
    lenient, strict = semantic(TURN, 0.0, parts=low), semantic(TURN, 0.0, parts=high)
    default_low, default_high = semantic(TURN, 0.0, parts=low), semantic(TURN, 0.0, parts=high)
    CrisisDetector({"clause_veto": 0.3}, matcher=matcher).process([lenient])
    CrisisDetector({"clause_veto": 0.9}, matcher=matcher).process([strict])
    CrisisDetector({}, matcher=matcher).process([default_low, default_high])
    # a lower clause_veto keeps what the default (0.6) vetoes, a higher one vetoes what it keeps
    assert lenient.get("intent")["name"] == "emergency" and processors_of(lenient) == [["rule:took_everything"]]
    assert default_low.get("intent")["name"] == "faq" and not kind_of(default_low)
    assert strict.get("intent")["name"] == "faq" and not kind_of(strict)
    assert default_high.get("intent")["name"] == "emergency"
    assert processors_of(default_high) == [["rule:took_everything"]]


def test_a_danger_clause_does_not_escalate_a_whole_message_below_clause_min_probability(detector):
    """A clause that the rest of the message tells as over or as fiction reads low in the whole message."""
    m = semantic(NO_RULE, 0.0799, parts=[("everything feels pointless", 0.99), ("and I have made my decision", 0.99)])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(m)


# A danger told in one clause of a long message of questions: the whole message's vector dilutes it
LONG = ("do you have a program for couples? how long is it usually? she had a whole cup of lean and 3 bars an hour "
        "ago and I can't get her to sit up. anyway what are the prices")
LONG_PARTS = [("do you have a program for couples?", 0.0), ("how long is it usually?", 0.0),
              ("she had a whole cup of lean and 3 bars an hour ago and I can't get her to sit up.", 0.95),
              ("anyway what are the prices", 0.0)]


@pytest.mark.parametrize("p, top, expected", [
    (0.08, 0.95, "emergency"),   # both bounds inclusive
    (0.0799, 0.95, "faq"),       # the whole message below clause_min_probability
    (0.08, 0.9499, "faq"),       # no clause at clause_threshold
    (0.3, 1.0, "emergency"),
])
def test_a_clause_that_reads_as_danger_alone_escalates_the_message(detector, p, top, expected):
    parts = [(c, top if q else q) for c, q in LONG_PARTS]
    m = semantic(LONG, p, "faq", 0.9, parts=parts)
    detector.process([m])
    assert m.get("intent")["name"] == expected
    if expected == "emergency":
        assert processors_of(m) == [["clause"]]
        # the kind is what the rules read in the clause (none here: general)
        assert kind_of(m) == ["general"]
    else:
        assert not kind_of(m)


def test_a_message_without_clauses_never_takes_the_clause_path(detector):
    m = semantic("I want to stop my xanax", 0.2)
    detector.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)


def test_the_clause_path_is_configurable_and_can_be_turned_off(matcher):
    parts = [(c, 0.9 if q else q) for c, q in LONG_PARTS]
    lenient = semantic(LONG, 0.05, parts=parts)
    off = semantic(LONG, 0.3, parts=[(c, 1.0 if q else q) for c, q in LONG_PARTS])
    CrisisDetector({"clause_threshold": 0.9, "clause_min_probability": 0.05}, matcher=matcher).process([lenient])
    CrisisDetector({"clause_min_probability": None, "semantic_threshold": 0.5, "semantic_with_hint": 0.5},
                   matcher=matcher).process([off])
    assert lenient.get("intent")["name"] == "emergency" and processors_of(lenient) == [["clause"]]
    assert off.get("intent")["name"] == "faq"


# The n-gram intent never keeps a rule the classifier vetoes: the veto reads only the danger probability, the
# word count and the clauses; an n-gram emergency on a vetoed rule is demoted, and it never escalates a message
# without a rule either.


def with_emergency(text, p, emergency, parts=None):
    """A message whose n-gram intent gives emergency ``emergency``: on top from 0.5, after faq below it."""
    rest = round(1 - emergency, 4)
    if emergency >= 0.5:
        return semantic(text, p, "emergency", emergency, [{"name": "emergency", "confidence": emergency},
                                                          {"name": "faq", "confidence": rest}], parts=parts)
    return semantic(text, p, "faq", rest, [{"name": "faq", "confidence": rest},
                                           {"name": "emergency", "confidence": emergency}], parts=parts)


@pytest.mark.parametrize("text, parts", [
    (EIGHT, None),
    (TURN, [(TURN_QUESTION, 0.0), (TURN_DANGER, 0.0)]),
    (TWICE, [(TWICE_FIRST, 0.0), (TWICE_SECOND, 0.0)]),
    (ACROSS, [(c, 0.0) for c in ACROSS_CLAUSES]),
])
@pytest.mark.parametrize("emergency", [0.0, 0.2999, 0.3, 0.5, 0.99, 1.0])
def test_vetoed_does_not_read_the_ngram_intent(detector, text, parts, emergency):
    """Every guard vetoes (0 everywhere, 8 words or more): no n-gram emergency, however high, keeps the rule."""
    m = with_emergency(text, 0.0, emergency, parts)
    assert detector._vetoed(m, 0.0) is True
    assert detector._classifier_flags(m, True, False) is None


@pytest.mark.parametrize("emergency", [0.3, 0.5, 0.6, 0.99, 1.0])
def test_a_vetoed_rule_stays_vetoed_and_demotes_the_ngram_emergency_however_high(detector, emergency):
    m = with_emergency(EIGHT, 0.0, emergency)
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": round(1 - emergency, 4)} and not kind_of(m)
    assert m.get("intent_ranking") == [{"name": "faq", "confidence": round(1 - emergency, 4)}]


def test_a_vetoed_rule_below_classifier_threshold_leaves_the_ranking(detector):
    m = with_emergency(EIGHT, 0.0, 0.2999)
    detector.process([m])
    # vetoed; the n-gram emergency was under classifier_threshold: the ranking is left as it was
    assert m.get("intent") == {"name": "faq", "confidence": 0.7001} and not kind_of(m)
    assert m.get("intent_ranking") == [{"name": "faq", "confidence": 0.7001},
                                       {"name": "emergency", "confidence": 0.2999}]


def test_an_ngram_emergency_on_top_does_not_keep_a_rule_the_probability_vetoes(detector):
    m = with_emergency("a forum post said it made them want to die", 0.001, 0.6)
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.4} and not kind_of(m)
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq"]
    # the same message is kept from the rule's threshold (want_to_die's own veto_below, 0.05)
    kept = with_emergency("a forum post said it made them want to die", 0.05, 0.6)
    detector.process([kept])
    assert kept.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert processors_of(kept) == [["rule:want_to_die"]]
    (entity,) = [e for e in kept.get("entities") if e["entity"] == "emergency_kind"]
    assert entity["replaced_intent"] == "emergency"


@pytest.mark.parametrize("text, benign", [(NO_RULE, False), (BENIGN, True)])
@pytest.mark.parametrize("p, emergency", [(0.0, 0.3), (0.0, 0.99), (0.0999, 0.99), (0.3999, 0.0299)])
def test_the_ngram_intent_does_not_escalate_a_message_without_a_rule(detector, text, benign, p, emergency):
    """Below every threshold of the semantic path, however strong the n-gram intent."""
    m = with_emergency(text, p, emergency)
    assert detector._classifier_flags(m, False, benign) is None
    detector.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)
    # an n-gram emergency from classifier_threshold is demoted
    assert ("emergency" in [r["name"] for r in m.get("intent_ranking")]) is (emergency < 0.3)


@pytest.mark.parametrize("text", [RULE, SEVEN])
@pytest.mark.parametrize("emergency", [0.0, 0.2999, 0.3, 0.99])
def test_a_short_message_is_never_vetoed_whatever_the_ngram_intent(detector, text, emergency):
    """A short message keeps its rule and EIGHT is vetoed, whatever the n-gram intent gives emergency."""
    short, long = with_emergency(text, 0.0, emergency), with_emergency(EIGHT, 0.0, emergency)
    detector.process([short, long])
    assert short.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert kind_of(short) == ["overdose"] and processors_of(short) == [["rule:took_everything"]]
    assert long.get("intent")["name"] == "faq" and not kind_of(long)


def test_a_benign_message_escalates_from_benign_threshold(detector):
    at = semantic(BENIGN, 0.9)
    detector.process([at])
    assert at.get("intent")["name"] == "emergency"
    assert kind_of(at) == ["overdose"] and processors_of(at) == [["semantic"]]
    figure = semantic(FIGURATIVE, 0.9, "out_of_scope", 0.8)
    detector.process([figure])
    assert figure.get("intent")["name"] == "emergency" and kind_of(figure) == ["general"]


def test_a_benign_message_below_benign_threshold_does_not_escalate(detector):
    """0.85 would escalate a message that is not benign (semantic_threshold 0.4), even with a hint."""
    plain, benign = semantic(NO_RULE, 0.85), hinted(BENIGN, 0.85, 0.05)
    figure = semantic(FIGURATIVE, 0.899, "out_of_scope", 0.8)
    detector.process([plain, benign, figure])
    assert plain.get("intent")["name"] == "emergency"
    assert benign.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(benign)
    assert figure.get("intent") == {"name": "out_of_scope", "confidence": 0.8} and not kind_of(figure)


def test_a_benign_message_loses_an_ngram_emergency_below_benign_threshold(detector):
    m = semantic(BENIGN, 0.85, "emergency", 0.8,
                 [{"name": "emergency", "confidence": 0.8}, {"name": "faq", "confidence": 0.2}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.2} and not kind_of(m)
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq"]


def test_benign_threshold_adds_to_the_others(matcher):
    """A low benign_threshold does not let a benign message past semantic_threshold or the hint."""
    lenient = CrisisDetector({"benign_threshold": 0.2}, matcher=matcher)
    alone, with_hint = semantic(BENIGN, 0.3), hinted(BENIGN, 0.3, 0.05)
    lenient.process([alone, with_hint])
    assert alone.get("intent")["name"] == "faq" and not kind_of(alone)
    assert with_hint.get("intent")["name"] == "emergency" and kind_of(with_hint) == ["overdose"]


# The context reading: a short message read after the visitor's previous one (bot.nlu.semantic_crisis sets
# context_danger_probability = [reading, probability]) escalates from context_threshold when nothing else does.

LETHAL = "how many pills would it take to not wake up"  # rule suicide_phrases (suicide)
SHORT = "is that enough"  # nothing at all on its own
READING = f"{LETHAL} {SHORT}"  # the rule fires on the pair
MIGHT_READING = "I might overdose is that enough"  # no rule, not benign, kind overdose
PLAIN_READING = f"{NO_RULE} tonight"  # no rule, not benign, no kind
SHORT_BENIGN = "I overdosed back in 2015"  # benign (past), kind overdose
BENIGN_READING = f"{LETHAL} {SHORT_BENIGN}"  # no rule, benign (history), kind suicide
EIGHT_READING = f"{LETHAL} {EIGHT}"  # EIGHT's rule is overdose, the pair's is suicide


def in_context(text, p, reading, q, intent="faq", confidence=0.9, ranking=None, previous=0.5):
    """A message with danger probability ``p`` whose context reading ``reading`` has probability ``q`` (the
    previous message alone: ``previous``)."""
    m = semantic(text, p, intent, confidence, ranking)
    m.set(CONTEXT_PROBABILITY, [reading, q, previous])
    return m


def test_the_context_texts_read_as_the_tests_assume(matcher):
    assert CONTEXT_PROBABILITY == "context_danger_probability"
    short = matcher.assess(SHORT)
    assert (short.detection, short.benign, short.kind) == (None, None, None)
    reading = matcher.assess(READING)
    assert (reading.detection.rule, reading.detection.kind, reading.benign) == ("suicide_phrases", "suicide", None)
    might = matcher.assess(MIGHT_READING)
    assert (might.detection, might.benign, might.kind) == (None, None, "overdose")
    plain = matcher.assess(PLAIN_READING)
    assert (plain.detection, plain.benign, plain.kind) == (None, None, None)
    benign = matcher.assess(SHORT_BENIGN)
    assert (benign.detection, benign.benign, benign.kind) == (None, "past or negated", "overdose")
    benign_reading = matcher.assess(BENIGN_READING)
    assert benign_reading.detection is None and benign_reading.kind == "suicide"
    assert matcher.assess(EIGHT_READING).detection.kind == "suicide"


@pytest.mark.parametrize("p, rule, benign, q, expected", [
    # neither the rule nor the semantic path: the context reading from context_threshold (inclusive)
    (0.05, False, False, 0.4, "context"),
    (0.05, False, False, 0.3999, None),
    (0.05, False, False, None, None),  # no context reading at all
    (0.3999, False, False, 0.3999, None),  # the two probabilities do not add up
    # a benign message needs benign_threshold from the context reading too
    (0.05, False, True, 0.9, "context"),
    (0.05, False, True, 0.8999, None),
    # ... also when its own probability fails benign_threshold only
    (0.5, False, True, 0.9, "context"),
    (0.5, False, True, 0.8999, None),
    # the rule and the semantic path come first
    (0.5, True, False, 0.9, "rule"),
    (0.4, False, False, 0.9, "semantic"),
    # a vetoed rule (eight words, below rule_veto) can still escalate through its context
    (0.0, True, False, 0.4, "context"),
    (0.0, True, False, 0.3999, None),
    # without a danger probability the rules and the n-gram intent decide alone
    (None, False, False, 0.9, None),
])
def test_classifier_flags_reads_the_context(detector, p, rule, benign, q, expected):
    m = Message(data={"text": "anything at all that runs to eight words"})
    m.set("intent", {"name": "faq", "confidence": 0.9})
    m.set("intent_ranking", [{"name": "faq", "confidence": 0.9}])
    if p is not None:
        m.set("danger_probability", p)
    if q is not None:
        m.set(CONTEXT_PROBABILITY, ["some previous message " + m.get("text"), q, 0.5])
    assert detector._classifier_flags(m, rule, benign) == expected


def test_a_short_message_escalates_from_context_threshold(detector):
    """0.05 alone is below every other threshold: the context reading escalates, with the reading's kind."""
    at, below = in_context(SHORT, 0.05, READING, 0.4), in_context(SHORT, 0.05, READING, 0.3999)
    detector.process([at, below])
    assert at.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert [r["name"] for r in at.get("intent_ranking")] == ["emergency", "faq"]
    assert kind_of(at) == ["suicide"] and processors_of(at) == [["context"]]
    (entity,) = [e for e in at.get("entities") if e["entity"] == "emergency_kind"]
    # the entity spans the visitor's own message, not the reading
    assert (entity["start"], entity["end"], entity["replaced_intent"]) == (0, len(SHORT), "faq")
    assert below.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(below)
    assert below.get("intent_ranking") == [{"name": "faq", "confidence": 0.9}]


def test_without_a_context_reading_a_short_message_does_not_escalate(detector):
    m = semantic(SHORT, 0.05)
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(m)


def test_a_context_reading_is_not_read_without_a_danger_probability(detector):
    m = in_context(SHORT, None, READING, 0.99)
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(m)


def test_context_threshold_is_configurable(matcher):
    strict = CrisisDetector({"context_threshold": 0.8}, matcher=matcher)
    below, at = in_context(SHORT, 0.05, READING, 0.79), in_context(SHORT, 0.05, READING, 0.8)
    strict.process([below, at])
    assert below.get("intent")["name"] == "faq" and not kind_of(below)
    assert at.get("intent")["name"] == "emergency" and processors_of(at) == [["context"]]
    lenient = CrisisDetector({"context_threshold": 0.1}, matcher=matcher)
    m = in_context(SHORT, 0.05, READING, 0.1)
    lenient.process([m])
    assert m.get("intent")["name"] == "emergency" and kind_of(m) == ["suicide"]


@pytest.mark.parametrize("reading, kind", [
    (READING, "suicide"),  # the rule that fires on the reading
    (MIGHT_READING, "overdose"),  # no rule: the kind of the first rule that matched at all
    (PLAIN_READING, "general"),  # nothing matched
])
def test_the_kind_comes_from_the_context_reading(detector, reading, kind):
    m = in_context(SHORT, 0.05, reading, 0.6)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == [kind] and processors_of(m) == [["context"]]


class ReadingMatcher:
    """The project's matcher, except for the readings given: their assessment is the one given."""

    def __init__(self, matcher, readings):
        self.matcher, self.readings = matcher, readings

    def assess(self, text):
        return self.readings[text] if text in self.readings else self.matcher.assess(text)

    def detect(self, text):
        return self.matcher.detect(text)


def test_the_context_kind_prefers_the_detection_to_the_first_match(matcher):
    readings = {"first": Assessment(Detection("seizure", "fake", 0, 5), None, "overdose"),
                "second": Assessment(None, None, "psychosis"),
                "third": Assessment(None, "figurative", None)}
    detector = CrisisDetector({}, matcher=ReadingMatcher(matcher, readings))
    messages = [in_context(SHORT, 0.05, reading, 0.5) for reading in readings]
    detector.process(messages)
    assert [kind_of(m) for m in messages] == [["seizure"], ["psychosis"], ["general"]]
    assert all(processors_of(m) == [["context"]] for m in messages)


@pytest.mark.parametrize("config, threshold", [({}, 0.9), ({"benign_threshold": 0.5}, 0.5)])
def test_a_benign_message_needs_benign_threshold_in_context(matcher, config, threshold):
    """The message alone is benign (past): its context reading needs benign_threshold (default or configured), not
    context_threshold; the kind is the reading's (suicide), not the message's own (overdose)."""
    below, at = (in_context(SHORT_BENIGN, 0.05, BENIGN_READING, q) for q in (threshold - 0.0001, threshold))
    CrisisDetector(config, matcher=matcher).process([below, at])
    assert below.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(below)
    assert at.get("intent")["name"] == "emergency"
    assert kind_of(at) == ["suicide"] and processors_of(at) == [["context"]]


@pytest.mark.parametrize("own, previous, expected", [
    # the message or the previous one, alone, from context_part (inclusive)
    (0.05, 0.0, "context"),
    (0.0, 0.05, "context"),
    (0.0, 0.99, "context"),
    # two plainly harmless messages joined do not make a danger, however the pair reads
    (0.0499, 0.0499, None),
    (0.0, 0.0, None),
])
def test_a_context_reading_needs_one_part_with_some_danger(detector, own, previous, expected):
    m = in_context(SHORT, own, READING, 0.99, previous=previous)
    assert detector._classifier_flags(m, False, False) == expected
    detector.process([m])
    assert (m.get("intent")["name"] == "emergency") is (expected == "context")


def test_the_callback_forms_answers_joined_do_not_escalate(detector):
    """"nothing else" then "about my mother" read 50% as a pair, each about 1% alone (a CI failure)."""
    m = in_context("about my mother", 0.009, "nothing else about my mother", 0.502, "inform", 0.9,
                   [{"name": "inform", "confidence": 0.9}], previous=0.0)
    detector.process([m])
    assert m.get("intent") == {"name": "inform", "confidence": 0.9} and not kind_of(m)


def test_context_part_is_configurable(matcher):
    strict = CrisisDetector({"context_part": 0.5}, matcher=matcher)
    below, at = (in_context(SHORT, 0.05, READING, 0.99, previous=q) for q in (0.4999, 0.5))
    strict.process([below, at])
    assert below.get("intent")["name"] == "faq" and at.get("intent")["name"] == "emergency"
    assert processors_of(at) == [["context"]]


def test_a_standing_rule_comes_before_the_context(detector):
    m = in_context(RULE, 0.01, f"{LETHAL} {RULE}", 0.99)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["overdose"] and processors_of(m) == [["rule:took_everything"]]


def test_the_semantic_path_comes_before_the_context(detector):
    m = in_context(NO_RULE, 0.9, READING, 0.99)
    hint = in_context(NO_RULE, 0.1, READING, 0.99, ranking=[{"name": "faq", "confidence": 0.9},
                                                             {"name": "emergency", "confidence": 0.03}])
    detector.process([m, hint])
    for escalated in (m, hint):
        assert escalated.get("intent")["name"] == "emergency"
        assert kind_of(escalated) == ["general"] and processors_of(escalated) == [["semantic"]]


def test_a_vetoed_rule_can_escalate_through_its_context(detector):
    """EIGHT is vetoed at 0.0; read after a lethal question it escalates, with the reading's kind."""
    vetoed, kept = in_context(EIGHT, 0.0, EIGHT_READING, 0.3999), in_context(EIGHT, 0.0, EIGHT_READING, 0.4)
    detector.process([vetoed, kept])
    assert vetoed.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(vetoed)
    assert kept.get("intent")["name"] == "emergency"
    assert kind_of(kept) == ["suicide"] and processors_of(kept) == [["context"]]


def test_a_vetoed_rule_does_not_escalate_through_the_semantic_path(matcher):
    """A vetoed rule's message is not read as a message without a rule: only its context can escalate it."""
    detector = CrisisDetector({"rule_veto": 0.5}, matcher=matcher)
    # 0.45 is over semantic_threshold, but under this rule_veto: the rule is vetoed
    alone = semantic(EIGHT, 0.45)
    low, high = in_context(EIGHT, 0.45, EIGHT_READING, 0.3999), in_context(EIGHT, 0.45, EIGHT_READING, 0.4)
    assert [detector._classifier_flags(m, True, False) for m in (alone, low, high)] == [None, None, "context"]
    detector.process([alone, low, high])
    assert alone.get("intent")["name"] == low.get("intent")["name"] == "faq"
    assert not kind_of(alone) and not kind_of(low)
    assert kind_of(high) == ["suicide"] and processors_of(high) == [["context"]]


def test_the_context_escalates_an_ngram_emergency_or_it_is_demoted(detector):
    ranking = [{"name": "emergency", "confidence": 0.7}, {"name": "faq", "confidence": 0.3}]
    kept = in_context(SHORT, 0.05, READING, 0.5, "emergency", 0.7, [dict(r) for r in ranking])
    demoted = in_context(SHORT, 0.05, READING, 0.3, "emergency", 0.7, [dict(r) for r in ranking])
    detector.process([kept, demoted])
    assert kept.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert kind_of(kept) == ["suicide"] and processors_of(kept) == [["context"]]
    assert demoted.get("intent") == {"name": "faq", "confidence": 0.3} and not kind_of(demoted)
    assert [r["name"] for r in demoted.get("intent_ranking")] == ["faq"]


# The faq guard: without a rule, a message the intent classifier read as ``faq`` (before the detector) whose top answer
# (bot.nlu.linear_classifier.answer_ranking) is at least faq_sure escalates only from faq_threshold.


def answered(text, p, answer, intent="faq", confidence=0.9, ranking=None, retrieval_intent="faq", parts=None):
    """A message whose answer classifier gives its top ``retrieval_intent`` answer ``answer``, as _set_answers does."""
    m = semantic(text, p, intent, confidence, ranking, parts)
    m.set("response_selector", {"retrieval_intents": [retrieval_intent], retrieval_intent: {
        "response": {"confidence": answer, "intent_response_key": f"{retrieval_intent}/insurance"},
        "ranking": [{"id": 0, "confidence": answer, "intent_response_key": f"{retrieval_intent}/insurance"},
                    {"id": 1, "confidence": 0.0001, "intent_response_key": f"{retrieval_intent}/hours"}]}})
    return m


def test_the_answer_rankings_read_as_the_tests_assume():
    assert FAQ_INTENT == "faq"
    assert answer_ranking(answered(NO_RULE, 0.5, 0.7), "faq") == [("insurance", 0.7), ("hours", 0.0001)]
    assert answer_ranking(answered(NO_RULE, 0.5, 0.7, retrieval_intent="chitchat"), "faq") == []
    assert answer_ranking(semantic(NO_RULE, 0.5), "faq") == []


@pytest.mark.parametrize("p, answer, hint, expected", [
    # an answer from faq_sure (inclusive): the probability needs faq_threshold (inclusive)
    (0.6, 0.7, 0.0, "semantic"),
    (0.5999, 0.7, 0.0, None),
    (0.5999, 1.0, 0.0, None),
    (0.4, 0.7, 0.0, None),
    # below faq_sure: semantic_threshold as ever
    (0.5999, 0.6999, 0.0, "semantic"),
    (0.4, 0.6999, 0.0, "semantic"),
    (0.3999, 0.6999, 0.0, None),
    # the hint's path too
    (0.1, 0.7, 0.03, None),
    (0.1, 0.6999, 0.03, "semantic"),
    # however strong the hint, a sure answer needs faq_threshold
    (0.5999, 0.7, 0.99, None),
    # below faq_sure, the hint needs semantic_with_hint as ever
    (0.0999, 0.6999, 0.99, None),
])
def test_classifier_flags_reads_the_faq_guard(detector, p, answer, hint, expected):
    ranking = [{"name": "faq", "confidence": 0.9}] + ([{"name": "emergency", "confidence": hint}] if hint else [])
    m = answered("anything at all that runs to eight words", p, answer, ranking=ranking)
    assert detector._sure_question(m) is (answer >= 0.7)
    assert detector._classifier_flags(m, False, False) == expected


def test_a_question_the_classifier_is_sure_of_escalates_from_faq_threshold(detector):
    at, below, unsure = answered(NO_RULE, 0.6, 0.7), answered(NO_RULE, 0.5999, 0.7), answered(NO_RULE, 0.5999, 0.6999)
    detector.process([at, below, unsure])
    for escalated in (at, unsure):
        assert escalated.get("intent") == {"name": "emergency", "confidence": 1.0}
        assert kind_of(escalated) == ["general"] and processors_of(escalated) == [["semantic"]]
    # the escalated question is also answered (its answer is over also_answer_threshold)
    assert "also_answer" in {e["entity"] for e in at.get("entities")}
    assert below.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(below)
    assert below.get("intent_ranking") == [{"name": "faq", "confidence": 0.9}]


def test_a_guarded_question_loses_an_ngram_emergency(detector):
    m = answered(NO_RULE, 0.5, 0.9, "faq", 0.6, [{"name": "faq", "confidence": 0.6},
                                                 {"name": "emergency", "confidence": 0.35}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.6} and not kind_of(m)
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq"]


@pytest.mark.parametrize("intent, ranking", [
    ("greet", [{"name": "greet", "confidence": 0.9}]),
    ("out_of_scope", [{"name": "out_of_scope", "confidence": 0.9}]),
    ("emergency", [{"name": "emergency", "confidence": 0.6}, {"name": "faq", "confidence": 0.4}]),
    ("faq/insurance", [{"name": "faq/insurance", "confidence": 0.9}]),
])
def test_the_faq_guard_reads_only_an_faq_intent(detector, intent, ranking):
    """The same sure answer does not guard a message whose intent (before the detector) is not faq."""
    m = answered(NO_RULE, 0.5, 0.99, intent, ranking[0]["confidence"], ranking)
    guarded = answered(NO_RULE, 0.5, 0.99)
    assert not detector._sure_question(m) and detector._sure_question(guarded)
    detector.process([m, guarded])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["semantic"]]
    assert guarded.get("intent")["name"] == "faq" and not kind_of(guarded)


@pytest.mark.parametrize("selector", [
    None,
    {},
    {"faq": {}},
    {"faq": {"ranking": []}},
    {"chitchat": {"ranking": [{"id": 0, "confidence": 0.99, "intent_response_key": "chitchat/hello"}]}},
])
def test_no_faq_guard_without_an_faq_answer_ranking(detector, selector):
    m = semantic(NO_RULE, 0.4)
    if selector is not None:
        m.set("response_selector", selector)
    assert not detector._sure_question(m)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["semantic"]]


@pytest.mark.parametrize("text, p", [(EIGHT, 0.005), (EIGHT, 0.5999), (RULE, 0.0), (SEVEN, 0.0), (TURN, 0.0)])
def test_the_faq_guard_does_not_touch_the_rule_path(detector, text, p):
    """A rule that stands (above rule_veto, or short, or a clause at clause_veto) needs no faq_threshold."""
    parts = [(TURN_QUESTION, 0.0), (TURN_DANGER, 0.6)] if text == TURN else None
    m = answered(text, p, 0.99, parts=parts)
    assert detector._sure_question(m)
    assert detector._classifier_flags(m, True, False) == "rule"
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["overdose"] and processors_of(m) == [["rule:took_everything"]]


@pytest.mark.parametrize("answer, q, expected", [
    # a question the classifier is sure of (faq_sure, inclusive) stands on its own words, however high its pair
    (0.7, 0.99, None),
    (0.99, 0.4, None),
    # below faq_sure the context reading escalates from context_threshold as ever
    (0.6999, 0.4, "context"),
    (0.6999, 0.3999, None),
])
def test_classifier_flags_reads_the_faq_guard_in_context(detector, answer, q, expected):
    m = answered(SHORT, 0.05, answer)
    m.set(CONTEXT_PROBABILITY, [READING, q, 0.5])
    assert detector._classifier_flags(m, False, False) == expected


def test_a_sure_question_after_a_danger_is_answered_not_escalated_again(detector):
    """"do you take insurance?" after an overdose: the pair reads as the overdose whatever follows it; the question
    is new, the overdose escalated on its own turn. A short message the classifier is not sure of still escalates."""
    question = "do you take insurance?"
    sure, unsure = answered(question, 0.01, 0.99), answered(SHORT, 0.01, 0.5)
    sure.set(CONTEXT_PROBABILITY, [f"{LETHAL} {question}", 0.99, 0.99])
    unsure.set(CONTEXT_PROBABILITY, [READING, 0.99, 0.99])
    detector.process([sure, unsure])
    assert sure.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(sure)
    assert unsure.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert kind_of(unsure) == ["suicide"] and processors_of(unsure) == [["context"]]


def test_the_faq_guard_in_context_reads_only_an_faq_intent(detector):
    """The same sure answer does not guard the context reading of a message whose intent is not faq."""
    m = answered(SHORT, 0.01, 0.99, "greet", 0.9, [{"name": "greet", "confidence": 0.9}])
    m.set(CONTEXT_PROBABILITY, [READING, 0.5, 0.5])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["context"]]


def test_faq_sure_is_configurable(matcher):
    detector = CrisisDetector({"faq_sure": 0.9}, matcher=matcher)
    below, at, default = answered(NO_RULE, 0.5, 0.8999), answered(NO_RULE, 0.5, 0.9), answered(NO_RULE, 0.5, 0.8999)
    detector.process([below, at])
    CrisisDetector({}, matcher=matcher).process([default])
    assert below.get("intent")["name"] == "emergency" and processors_of(below) == [["semantic"]]
    assert at.get("intent")["name"] == "faq" and not kind_of(at)
    assert default.get("intent")["name"] == "faq" and not kind_of(default)


def test_faq_threshold_is_configurable(matcher):
    strict = CrisisDetector({"faq_threshold": 0.8}, matcher=matcher)
    below, at = answered(NO_RULE, 0.7999, 0.7), answered(NO_RULE, 0.8, 0.7)
    strict.process([below, at])
    assert below.get("intent")["name"] == "faq" and not kind_of(below)
    assert at.get("intent")["name"] == "emergency" and processors_of(at) == [["semantic"]]
    lenient = CrisisDetector({"faq_threshold": 0.4}, matcher=matcher)
    m, default = answered(NO_RULE, 0.4, 0.99), answered(NO_RULE, 0.4, 0.99)
    lenient.process([m])
    CrisisDetector({}, matcher=matcher).process([default])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["semantic"]]
    assert default.get("intent")["name"] == "faq" and not kind_of(default)


SIGNS = "since yesterday I keep seeing bugs crawling on the kitchen wall and floor"  # psychosis_signs, veto_below 0.05
BOTTLE = "I took the whole bottle of my pills an hour ago at home"  # took_everything: the detector's rule_veto
THREAT = "my roommate keeps taking my food and I am going to kill him one of these days"  # harm_others


@pytest.mark.parametrize("text, p, vetoed", [
    # a rule with its own veto_below is overruled below it, not from it
    (SIGNS, 0.049, True),
    (SIGNS, 0.05, False),
    (SIGNS, 0.3, False),
    # a rule without one keeps the detector's rule_veto
    (BOTTLE, 0.049, False),
    (BOTTLE, 0.0049, True),
    # harm_others' own 0.05 (stop 33): a joke threat told beside a question, "im going to murder him i swear"
    (THREAT, 0.049, True),
    (THREAT, 0.05, False),
])
def test_a_rule_with_its_own_veto_below_is_overruled_below_it(detector, text, p, vetoed):
    assessment, source = detector.decide(semantic(text, p))
    assert assessment.detection is not None and (source is None) is vetoed, (assessment.detection, source)


def test_a_short_message_is_never_vetoed_whatever_its_rule_veto_below(detector):
    # "seeing bugs crawling on me" (5 words): veto_min_words holds for every rule
    assessment, source = detector.decide(semantic("seeing bugs crawling on me", 0.0))
    assert assessment.detection is not None and assessment.detection.rule == "psychosis_signs"
    assert source == "rule"


def test_a_danger_clause_told_in_a_story_does_not_escalate(detector):
    scene = "In one scene his friends find him passed out in the bathroom and his lips are blue."
    text = f"I'm a screenwriter working on a short film. {scene} What would paramedics do?"
    parts = [("I'm a screenwriter working on a short film.", 0.0), (scene, 0.99), ("What would paramedics do?", 0.0)]
    assert detector.matcher.reports(scene)
    m = semantic(text, 0.5, parts=parts)
    detector.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)


def test_a_story_clause_does_not_hide_another_danger_clause(detector):
    scene = "In one scene his friends find him passed out in the bathroom and his lips are blue."
    danger = "also my brother is not okay at all right now"  # no rule: the classifier's clause alone
    text = f"{scene} {danger}"
    m = semantic(text, 0.3, parts=[(scene, 0.99), (danger, 0.96)])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["clause"]]


# ---------------------------------------------------------------- the danger carried from the previous message
TOOK = "took all my klonopin about 20 min ago"  # took_everything, overdose, 8 words
ADDRESS = "whats your address"
TOOK_LONG = "I took the whole bottle of my pills an hour ago at home"  # took_everything, 12 words: vetoable
DROWSY = "getting really hard to keep my eyes open"  # no rule: its own probability decides


def carried(text, previous, p=0.001, before=None, answer=0.95):
    """A short message after ``previous``; ``before``: the previous message's own danger probability (the context
    reading's third part), None when there is no context reading."""
    m = answered(text, p, answer)
    m.set("metadata", {"previous_text": previous})
    if before is not None:
        m.set(CONTEXT_PROBABILITY, [f"{previous} {text}", 0.01, before])
    return m


@pytest.fixture(scope="module")
def carrying(matcher):
    return CrisisDetector({"carry_words": 8, "semantic_threshold": 0.35, "benign_threshold": 0.75}, matcher=matcher)


def test_the_carried_texts_read_as_the_tests_assume(matcher):
    assert matcher.detect(TOOK).rule == "took_everything" and matcher.detect(TOOK).kind == "overdose"
    assert matcher.detect(TOOK_LONG).rule == "took_everything" and len(TOOK_LONG.split()) >= 8
    assert matcher.detect(DROWSY) is None and matcher.assess(DROWSY).benign is None
    assert matcher.detect(ADDRESS) is None and matcher.assess(ADDRESS).benign is None


def test_a_short_question_after_a_danger_keeps_the_safety_reply_first(carrying):
    """A sure question ("whats your address") after an overdose told a message before: escalated with the
    previous message's kind, and answered too."""
    m = carried(ADDRESS, TOOK)
    carrying.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["carried"]]
    assert kind_of(m) == ["overdose"]
    # the question the intent classifier read (faq, its answer sure) is answered after the safety reply
    assert [e["value"] for e in m.get("entities") if e["entity"] == "also_answer"] == ["yes"]


def test_the_carried_path_is_off_by_default(detector):
    m = carried(ADDRESS, TOOK)
    detector.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)


@pytest.mark.parametrize("text, previous, before, expected", [
    # the previous message's rule, with no reading of its own probability
    (ADDRESS, TOOK, None, "carried"),
    # a previous message of 8 words or more whose rule its own probability vetoed on its turn is not carried...
    (ADDRESS, TOOK_LONG, 0.0049, None),
    # ... nor is it from rule_veto
    (ADDRESS, TOOK_LONG, 0.005, "carried"),
    # no rule: the previous message's own probability, from semantic_threshold
    ("how much is your inpatient program anyway", DROWSY, 0.35, "carried"),
    ("how much is your inpatient program anyway", DROWSY, 0.3499, None),
    ("how much is your inpatient program anyway", DROWSY, None, None),
    # a previous message that read benign needs benign_threshold
    ("ok", "I overdosed back in 2015", 0.7499, None),
    ("ok", "I overdosed back in 2015", 0.75, "carried"),
    # nine words is not short
    ("ok so how much is the inpatient program then", TOOK, None, None),
    # a message that says it is over, or no previous message
    ("im ok now, it was yesterday", TOOK, None, None),
    (ADDRESS, "", None, None),
    (ADDRESS, "   ", None, None),
    ("", TOOK, None, None),
])
def test_the_carried_path_reads_the_previous_message(carrying, matcher, text, previous, before, expected):
    m = carried(text, previous, before=before)
    benign = matcher.assess(text).benign is not None
    assert carrying._classifier_flags(m, False, benign) == expected


def test_a_message_that_escalates_on_its_own_is_not_carried(carrying):
    m = carried("i took 40 of them", TOOK, p=0.9)
    carrying.process([m])
    assert processors_of(m) == [["rule:took_everything"]]
