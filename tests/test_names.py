"""The names in bot/names.py are the ones the domain uses: a rename on one side only fails here."""
from __future__ import annotations

import yaml

from bot import names
from bot.settings import ROOT


def domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def test_intents_entities_and_slots_exist_in_the_domain():
    d = domain()
    for intent in (names.EMERGENCY_INTENT, names.FAQ_INTENT, names.OUT_OF_SCOPE_INTENT):
        assert intent in d["intents"], intent
    for entity in (names.KIND_ENTITY, names.ALSO_ANSWER_ENTITY, *names.SUGGESTION_ENTITIES):
        assert entity in d["entities"], entity
    assert names.CRISIS_FLAGGED_SLOT in d["slots"]
    assert d["slots"][names.CRISIS_FLAGGED_SLOT]["mappings"][0]["intent"] == names.EMERGENCY_INTENT


def test_every_danger_kind_has_its_own_emergency_reply_and_the_general_one_is_the_default():
    d = domain()
    assert d["slots"][names.KIND_ENTITY]["values"] == list(names.ALL_KINDS)
    conditioned = {c["value"] for v in d["responses"]["utter_emergency"] for c in v.get("condition") or []
                   if c.get("name") == names.KIND_ENTITY}
    assert conditioned == set(names.DANGER_KINDS)
    assert any(not v.get("condition") for v in d["responses"]["utter_emergency"]), "no default (general) reply"
