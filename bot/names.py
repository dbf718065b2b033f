"""Names shared by the NLU components, the domain and the tools: intents, entities, slots, kinds.

The domain (``domain.yml``) and the rules use the same strings; ``tests/test_names.py``
checks that they agree, so a rename here that the domain misses fails a test.
"""
from __future__ import annotations

from typing import Tuple

# Intents
EMERGENCY_INTENT = "emergency"
FAQ_INTENT = "faq"  # the retrieval intent: faq/<topic>, answered by utter_faq/<topic>
OUT_OF_SCOPE_INTENT = "out_of_scope"

# Entities set by the project's components (never trained)
KIND_ENTITY = "emergency_kind"
ALSO_ANSWER_ENTITY = "also_answer"
SUGGESTION_ENTITIES: Tuple[str, str] = ("suggestion_1", "suggestion_2")

# Set on a follow-up by bot.nlu.followup: the visitor's own words, before the previous message was put in front
OWN_TEXT = "own_text"

# Set on a message by bot.nlu.semantic_crisis (read by the crisis detector; not in the parse output)
DANGER_PROBABILITY = "danger_probability"
#: Each clause of a message of several, with its danger probability ([[clause, probability], ...])
CLAUSE_PROBABILITIES = "clause_danger_probabilities"
#: A short message read after the visitor's previous one: [the pair's text, the pair's danger probability, the
#: previous message's own]
CONTEXT_PROBABILITY = "context_danger_probability"

# Slots
CRISIS_FLAGGED_SLOT = "crisis_flagged"

# Kinds of danger: each has its own emergency reply (utter_emergency's conditions)
DANGER_KINDS: Tuple[str, ...] = ("suicide", "overdose", "seizure", "psychosis", "medical", "harm_to_others")
GENERAL_KIND = "general"
ALL_KINDS: Tuple[str, ...] = DANGER_KINDS + (GENERAL_KIND,)

# Responses the web widget shows as crisis messages (bot/channels/socketio.py marks them)
EMERGENCY_RESPONSE = "utter_emergency"
CRISIS_REMINDER_RESPONSE = "utter_crisis_reminder"
