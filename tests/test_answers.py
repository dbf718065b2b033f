"""Answers you can trust: every FAQ answer and emergency reply of domain.yml, read without a model.

- each answer names its source page, speaks for ATMC only, attributes the Center for Network
  Therapy's content to it by name, and gives no dose;
- each finding of the review of the answers against the two pages stays fixed (each assertion
  fails on the old wording);
- every emergency reply leads with the emergency number and gives the center's line; the suicide
  reply gives 988 to call and to text.
"""
from __future__ import annotations

import re
from typing import Dict, List

import pytest
import yaml

from bot import facts
from bot.names import ALL_KINDS, GENERAL_KIND, KIND_ENTITY
from bot.settings import ROOT

CNT_NAME = "Center for Network Therapy"
DOSE = re.compile(r"\b\d+(\.\d+)?\s?(mg|milligram)", re.I)
FIRST_PERSON = re.compile(r"\b(we|our|us|ours|ourselves)\b", re.I)
QUOTED = re.compile(r'"[^"]*"')


def load_responses() -> Dict[str, List[dict]]:
    with open(ROOT / "domain.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)["responses"]


RESPONSES = load_responses()
FAQ = {name.split("/", 1)[1]: variations[0]["text"] for name, variations in RESPONSES.items()
       if name.startswith("utter_faq/")}


def body(text: str) -> str:
    """An answer without its "Source(s):" line."""
    return "\n".join(line for line in text.splitlines() if not re.match(r"Sources?:", line))


def sources(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if re.match(r"Sources?:", line))


def emergency_variations() -> Dict[str, dict]:
    """kind -> its utter_emergency variation (the one without a condition is the general kind)."""
    kinds = {}
    for variation in RESPONSES["utter_emergency"]:
        conditions = variation.get("condition") or []
        kind = next((c["value"] for c in conditions if c.get("name") == KIND_ENTITY), GENERAL_KIND)
        kinds[kind] = variation
    return kinds


def test_there_are_answers():
    assert len(FAQ) >= 27, sorted(FAQ)
    assert {"supplements", "loved_one"} <= set(FAQ)


# ------------------------------------------------------------------ every answer


@pytest.mark.parametrize("topic", sorted(FAQ))
def test_each_answer_names_its_source_page(topic):
    cited = sources(FAQ[topic])
    assert "{source_atmc}" in cited or "{source_cnt}" in cited, f"{topic}: no Source line"


@pytest.mark.parametrize("topic", sorted(FAQ))
def test_no_answer_gives_a_dose(topic):
    assert not DOSE.search(FAQ[topic]), f"{topic}: {DOSE.search(FAQ[topic])}"


@pytest.mark.parametrize("topic", sorted(FAQ))
def test_no_answer_is_an_emergency_reply(topic):
    # the grader counts an answer whose first message names 911 as an over-escalation
    assert "{emergency_number}" not in FAQ[topic] and facts.load().emergency_number not in FAQ[topic]


@pytest.mark.parametrize("topic", sorted(t for t in FAQ if "{source_cnt}" in sources(FAQ[t])))
def test_content_of_the_other_center_is_attributed_to_it_by_name(topic):
    assert CNT_NAME in body(FAQ[topic]), f"{topic} cites the CNT page but never names the {CNT_NAME}"


@pytest.mark.parametrize("topic", sorted(t for t in FAQ if sources(FAQ[t]).count("{source_") == 1
                                         and "{source_cnt}" in sources(FAQ[t])))
def test_an_answer_from_the_other_center_never_speaks_as_we(topic):
    said = QUOTED.sub(" ", body(FAQ[topic]))
    assert not FIRST_PERSON.search(said), f"{topic} speaks for CNT as ours: {FIRST_PERSON.search(said)}"
    assert "{center_name}" not in said, f"{topic}: CNT content next to our name reads as ours"


def test_the_greeting_does_not_call_both_pages_ours():
    greet = RESPONSES["utter_greet"][0]["text"]
    assert "our web pages" not in greet and "our pages" not in greet
    assert CNT_NAME in greet


# ------------------------------------------------------------------ the findings, one by one


def test_dependence_mechanism_dopamine_surges_because_the_neurons_that_check_it_are_inhibited():
    text = FAQ["dependence_mechanism"]
    assert re.search(r"in check|prevent excessive dopamine", text)
    assert re.search(r"inhibit\w* those neurons", text), text
    assert "dopamine surges" in text
    # the old wording had the benzos themselves limiting the firing of dopamine neurons
    assert not re.search(r"by limiting the firing of dopamine-producing neurons", text)


def test_benzo_uses_keeps_labeled_and_off_label():
    assert re.search(r"labeled and off[- ]label", FAQ["benzo_uses"])


def test_insurance_does_not_present_named_insurers_as_accepted():
    text = body(FAQ["insurance"])
    assert not re.search(r"blue ?cross|cigna|aetna", text, re.I), "the page only lists them under 'call to verify'"
    assert "PPO" in text and "verify" in text


def test_experience_does_not_add_coming_off_the_drugs():
    text = FAQ["experience"]
    assert "come off these drugs" not in text
    assert "regain command over their lives" in text


def test_tolerance_does_not_diagnose_the_visitor():
    text = FAQ["tolerance"]
    assert not text.startswith("That is tolerance")
    assert not re.search(r"\b(that|this) is tolerance\b", text, re.I)
    assert "prescriber" in text


def test_symptoms_permanent_keeps_what_physicians_are_given_in_med_school():
    assert "given to physicians while in med school" in FAQ["symptoms_permanent"]


def test_fatigue_duration_does_not_claim_fatigue_is_included():
    text = FAQ["fatigue_duration"]
    assert "fatigue included" not in text
    assert re.search(r"\b8-week\b", text)


def test_success_rate_is_for_the_worst_cases():
    text = FAQ["success_rate"]
    assert "87.5%" in text and "worst benzo cases" in text
    assert "Corrigan" in text


def test_serious_symptoms_naming_suicidality_gives_988_to_call_or_text():
    text = FAQ["serious_symptoms"]
    assert "suicid" in text.lower()
    assert "{crisis_line}" in text and "call or text" in text
    payloads = [b["payload"] for b in RESPONSES["utter_faq/serious_symptoms"][0]["buttons"]]
    assert "sms:{crisis_line}" in payloads


def test_opioid_mixing_does_not_read_as_narcan_does_not_work():
    text = FAQ["opioid_mixing"]
    assert "sometimes ineffective" in text  # the page's words, attributed
    assert re.search(r"still .*give naloxone", text), "it must still say to give naloxone"
    assert not re.search(r"narcan (does not|doesn't|won't|will not) work", text, re.I)


def test_supplements_answer_is_the_medical_disclaimer():
    text = FAQ["supplements"]
    assert "adding nutritional supplements may alter the effect of medication" in text.lower()
    assert re.search(r"doctor|prescriber", text)


def test_loved_one_answer_quotes_cnt_and_gives_our_line_and_hours():
    text = FAQ["loved_one"]
    assert "Please call immediately if you or a loved one are experiencing benzodiazepine withdrawal symptoms" in text
    assert "supervis" in text
    assert "{center_phone}" in text and "{center_hours}" in text


# ------------------------------------------------------------------ feelings and privacy


def test_distress_is_warm_gives_the_line_and_988_and_is_no_brush_off():
    text = RESPONSES["utter_distress"][0]["text"]
    assert "{center_phone}" in text and "{center_hours}" in text
    assert "{crisis_line}" in text and "call or text" in text
    assert "{emergency_number}" not in text
    for brush_off in ("only help with", "not sure I understood", "did you mean"):
        assert brush_off not in text.lower()


def test_privacy_says_what_happens_to_the_conversation():
    text = RESPONSES["utter_privacy"][0]["text"]
    assert re.search(r"stor|kept|keep|retain|save|log", text, re.I)
    assert re.search(r"staff|team", text, re.I)
    assert "not a medical record" in text and "{center_phone}" in text


# ------------------------------------------------------------------ emergencies


def test_every_kind_has_its_emergency_reply():
    assert set(emergency_variations()) == set(ALL_KINDS)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_emergency_reply_leads_with_911_and_gives_the_line(kind):
    variation = emergency_variations()[kind]
    first_line = variation["text"].splitlines()[0]
    assert "{emergency_number}" in first_line, f"{kind}: {first_line}"
    assert "{center_phone}" in variation["text"]
    payloads = [b["payload"] for b in variation["buttons"]]
    assert "tel:{emergency_number}" in payloads and "tel:{center_phone_dial}" in payloads


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_no_emergency_reply_promises_what_the_assistant_cannot_do(kind):
    text = emergency_variations()[kind]["text"]
    assert not re.search(r"I'm still here|I am still here|I'll stay|I will stay|I'll call|I will call", text)


def test_suicide_reply_gives_988_to_call_and_to_text_in_the_first_line():
    variation = emergency_variations()["suicide"]
    first_line = variation["text"].splitlines()[0]
    assert "{crisis_line}" in first_line and "{emergency_number}" in first_line
    payloads = [b["payload"] for b in variation["buttons"]]
    assert "tel:{crisis_line}" in payloads and "sms:{crisis_line}" in payloads


def test_overdose_reply_fits_the_person_and_someone_with_them():
    text = emergency_variations()["overdose"]["text"]
    assert re.search(r"you took too much or someone with you did", text)
    assert "naloxone" in text.lower() and "opioid" in text.lower()
    assert "on their side" in text and "stay with them" in text


def test_medical_reply_is_generic():
    text = emergency_variations()["medical"]["text"].lower()
    assert not re.search(r"chest pain|faint", text)


def test_nearest_emergency_room_is_offered():
    kinds = emergency_variations()
    for kind in ("suicide", "medical", GENERAL_KIND):
        assert "nearest emergency room" in kinds[kind]["text"], kind


def test_readme_table_shows_each_kind_s_first_line():
    f = facts.load()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Replies to each danger", 1)[1].split("\n## ", 1)[0]
    for kind, variation in emergency_variations().items():
        first_line = variation["text"].splitlines()[0].format(
            emergency_number=f.emergency_number, crisis_line=f.crisis_line)
        row = next((line for line in section.splitlines() if line.startswith(f"| `{kind}`")), "")
        assert first_line in row, f"README, 'Replies to each danger': the {kind} row does not show {first_line!r}"
