"""Rule-based crisis detection over spaCy tokens, independent of any trained model.

The rules live in ``patterns.yml`` beside this module (an admin reads and extends them).
A message is first normalised token by token: lower case, letters repeated three or more
times squashed ("helppp" -> "helpp"), known misspellings of crisis words corrected by edit
distance (optimal string alignment, by rapidfuzz: "sezure" -> "seizure"), then lemmatised
with spaCy's lookup tables. Phrase rules
are matched on those lemmas (or on the normalised words), token rules with spaCy's
``Matcher``. A match does not count when its sentence shows it is not happening now:
negated ("I'm not suicidal"), hypothetical ("what should I do if he has a seizure"), a
general question ("can withdrawal cause seizures"), or history ("two years ago I had a
seizure"), unless the rule says ``context: always`` or the sentence is urgent ("now",
"help", "tonight"...).
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence, Set, Tuple

import spacy
import yaml
from rapidfuzz import process
from rapidfuzz.distance import OSA
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc

from bot.names import ALL_KINDS

PATTERNS_PATH = Path(__file__).resolve().parent / "patterns.yml"
CONTEXTS = ("strict", "always", "urgent")
SENTENCE_BREAKS = {".", "!", "?", ";", "...", "\n"}
CLAUSE_BREAKS = {",", ":", "-", "but", "and", "so", "because", "cuz", "though"}
#: The two pieces spaCy splits "gonna" and "gotta" into, read as the words they stand for
SPLIT_WORDS = {("gon", "na"): ("going", "to"), ("got", "ta"): ("got", "to")}
# "cause" followed by a subject is "because" ("asking cause I took ..."), not the verb ("can it cause seizures")
CONJUNCTION_SUBJECTS = {"i", "im", "i'm", "he", "she", "we", "they", "hes", "shes", "theyre", "ive"}
PAST_SEASONS = {"year", "spring", "summer", "fall", "autumn", "winter", "month", "decade", "christmas"}
PAST_AGES = {"a", "young", "little", "small", "kid", "child", "teen", "teenager", "girl", "boy", "baby", "toddler"}
# a year said after these is the present, not the past: "she thinks it's 1985"
PRESENT_YEAR_WORDS = {"'s", "is", "its", "it's", "be"}
RECENT_UNITS = {"minute", "minutes", "min", "mins", "second", "seconds", "hour", "hours", "hr", "hrs",
                "day", "days", "night", "nights"}


def _spans(breaks: Sequence[bool]) -> Tuple[List[int], List[int]]:
    """For each position i (0..n): where the span holding i begins (just after the last break before i) and
    where the span from i ends (the first break at or after i), so a span is found in constant time."""
    n = len(breaks)
    begins, ends = [0] * (n + 1), [n] * (n + 1)
    for i in range(1, n + 1):
        begins[i] = i if breaks[i - 1] else begins[i - 1]
    for i in range(n - 1, -1, -1):
        ends[i] = i if breaks[i] else ends[i + 1]
    return begins, ends


class _Facts:
    """One message's sentence and clause spans and memoised facts about each sentence, computed once.

    Every rule match asks about its sentence (urgent? history? reported before it?); a long message
    with many matches used to rescan its sentence for each, so cost grew with the square of its
    length (4,000 characters of "help help ..." took 9 s). Now each sentence is read once.
    """

    def __init__(self, doc: Doc) -> None:
        self.norms = [t.norm_ for t in doc]
        sentence = [t.norm_ in SENTENCE_BREAKS or "\n" in t.text for t in doc]
        self.sentence = _spans(sentence)
        self.clause = _spans([b or t.norm_ in CLAUSE_BREAKS for b, t in zip(sentence, doc)])
        self.memo: Dict[Tuple[Any, ...], Any] = {}


@dataclass(frozen=True)
class Detection:
    """One crisis rule that fired: its kind, the rule's name and where it matched."""

    kind: str
    rule: str
    start: int
    end: int


@dataclass(frozen=True)
class Assessment:
    """What the rules say about one message.

    ``detection``: the rule that found danger now, or None. ``benign``: when nothing was
    detected, why the danger words in it are safe (figurative, past, negated), or None.
    ``kind``: the kind of the first rule that matched at all, whatever its context (the
    kind to reply with when the classifier escalates without a rule).
    """

    detection: Detection | None
    benign: str | None
    kind: str | None


def load_spacy(model_path: Path | None = None) -> Language:
    """The project's spaCy pipeline if built, else the same pipeline assembled in memory."""
    if model_path is not None and Path(model_path).exists():
        return spacy.load(model_path)
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


class CrisisMatcher:
    """Finds statements of danger happening now in a visitor's message."""

    def __init__(self, patterns_path: Path = PATTERNS_PATH, nlp: Language | None = None) -> None:
        with open(patterns_path, encoding="utf-8") as f:
            spec = yaml.safe_load(f) or {}
        self.nlp = nlp if nlp is not None else load_spacy()
        lemmatizer: Any = self.nlp.get_pipe("lemmatizer")
        self.lemmas = lemmatizer.lookups.get_table("lemma_lookup")
        words = spec.get("words", {})
        self.fuzzy_words: Tuple[str, ...] = tuple(words.get("misspelled", []))
        self.fuzzy_exclude: Set[str] = set(words.get("never_corrected", []))
        self.negators: Set[str] = set(words.get("negators", []))
        self.negation_exempt: Set[str] = set(words.get("negation_exempt", []))
        self.urgent = [tuple(w.split()) for w in words.get("urgent", [])]
        self.strongly_urgent = [tuple(w.split()) for w in words.get("strongly_urgent", [])]
        self.hypothetical: Set[str] = set(words.get("hypothetical", []))
        self.question_openers: Set[str] = set(words.get("question_openers", []))
        self.history = [tuple(h.split()) for h in words.get("history", [])]
        self.resolved = [tuple(h.split()) for h in words.get("resolved", [])]
        self.reported = [tuple(h.split()) for h in words.get("reported", [])]
        self.strong_history = [tuple(h.split()) for h in words.get("strong_history", [])]
        self.years_ago = [tuple(h.split()) for h in words.get("years_ago", [])]
        self.number_words: Set[str] = set(words.get("number_words", []))
        self.future_plan = [tuple(h.split()) for h in words.get("future_plan", [])]
        self.negation_window = int(spec.get("negation_window", 3))
        self.rules: Dict[str, Dict[str, Any]] = {}
        # words right before a match (as lemmas) that make it a figure of speech or an object ("the end of my rope")
        self.not_preceded_by: Dict[str, List[Tuple[str, ...]]] = {}
        self.combinations: List[Dict[str, Any]] = []
        self.lemma_phrases = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
        self.norm_phrases = PhraseMatcher(self.nlp.vocab, attr="NORM")
        self.token_matcher = Matcher(self.nlp.vocab)
        self._correction_cache: Dict[str, str] = {}
        for rule in spec.get("rules", []):
            self._add_rule(rule)
        self.figurative = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
        figurative = (spec.get("figurative") or {}).get("phrases", [])
        if figurative:
            self.figurative.add("figurative", [self.normalise(p) for p in figurative])
        # the visitor's own words that the danger is over, that they are safe, or that they ask in general:
        # they overrule the trained classifier (never a rule that fired), matched on lemmas anywhere
        self.reassuring = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
        reassuring = [p for key in ("resolved", "safe_now", "general_question") for p in words.get(key, [])]
        if reassuring:
            self.reassuring.add("reassuring", [self.normalise(p) for p in reassuring])
        for combo in spec.get("combinations", []):
            self._check_kind(combo, combo.get("name", "combination"))
            self.combinations.append(combo)

    # ------------------------------------------------------------------ building
    @staticmethod
    def _check_kind(rule: Dict[str, Any], name: str) -> None:
        kind = rule.get("kind")
        if kind not in ALL_KINDS and not rule.get("signal"):
            raise ValueError(f"crisis rule {name!r}: kind {kind!r} is not one of {ALL_KINDS} and no signal is given")

    def _add_rule(self, rule: Dict[str, Any]) -> None:
        name = str(rule.get("name") or f"rule{len(self.rules)}")
        if name in self.rules:
            raise ValueError(f"crisis rule {name!r} is defined twice")
        self._check_kind(rule, name)
        context = rule.get("context", "strict")
        if context not in CONTEXTS:
            raise ValueError(f"crisis rule {name!r}: context must be one of {CONTEXTS}")
        self.rules[name] = rule
        self.not_preceded_by[name] = [tuple(t.lemma_ for t in self.normalise(str(p)))
                                      for p in rule.get("not_preceded_by", ())]
        if rule.get("phrases"):
            matcher = self.norm_phrases if rule.get("attr", "LEMMA") == "NORM" else self.lemma_phrases
            matcher.add(name, [self.normalise(p) for p in rule["phrases"]])
        if rule.get("patterns"):
            self.token_matcher.add(name, rule["patterns"])
        if not rule.get("phrases") and not rule.get("patterns"):
            raise ValueError(f"crisis rule {name!r} has neither phrases nor patterns")

    # ------------------------------------------------------------------ normalising
    def correct(self, word: str) -> str:
        """A misspelling of a crisis word becomes that word; known words stay as they are."""
        if len(word) < 5 or not word.isalpha() or word in self.fuzzy_exclude:
            return word
        if word in self._correction_cache:
            return self._correction_cache[word]
        best = word
        if word not in self.fuzzy_words and word not in self.lemmas:
            limit = 1 if len(word) < 8 else 2
            scored = process.extract(word, self.fuzzy_words, scorer=OSA.distance, score_cutoff=limit, limit=None)
            if scored:
                best = min((distance, candidate) for candidate, distance, _ in scored)[1]
        if len(self._correction_cache) < 50_000:
            self._correction_cache[word] = best
        return best

    @staticmethod
    def clean(text: str) -> str:
        """Unicode-normalise, unify apostrophes and space out emoji so each is a token."""
        text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("`", "'")
        text = re.sub(r"([\U0001F300-\U0001FAFF\u2600-\u27BF])", r" \1 ", text)
        return text

    def _tokenise(self, text: str) -> Doc:
        """Split words as their lower case would be split, keeping the text as written.

        spaCy's tokenizer exceptions are case-sensitive: "gonna" becomes "gon" "na" and "im" becomes "i" "m", but
        "GONNA" and "IM" stay whole, so a message in capitals would miss every rule written for the split words.
        """
        lowered = text.lower()
        if len(lowered) != len(text):  # a few characters change length in lower case ("\u0130"): split as written
            return self.nlp.make_doc(text)
        pieces = self.nlp.make_doc(lowered)
        words = [text[piece.idx:piece.idx + len(piece.text)] for piece in pieces]
        return Doc(self.nlp.vocab, words=words, spaces=[bool(piece.whitespace_) for piece in pieces])

    def normalise(self, text: str) -> Doc:
        """Tokenise and set each token's NORM (corrected lower case) and LEMMA."""
        doc = self._tokenise(self.clean(text))
        for token in doc:
            word = re.sub(r"(.)\1{2,}", r"\1\1", token.lower_)
            word = self.correct(word)
            if word not in self.lemmas and re.fullmatch(r"[a-z]+", word):
                squashed = re.sub(r"(.)\1+", r"\1", word)
                word = squashed if squashed in self.lemmas or squashed in self.fuzzy_words else word
            token.norm_ = word
            token.lemma_ = self.lemmas.get(word, word)
        for token, following in zip(doc, doc[1:]):
            words = SPLIT_WORDS.get((token.lower_, following.lower_)) if not token.whitespace_ else None
            for piece, word in zip((token, following), words or ()):
                piece.norm_, piece.lemma_ = word, self.lemmas.get(word, word)
        return doc

    # ------------------------------------------------------------------ context
    def _facts(self, doc: Doc) -> _Facts:
        """This message's spans and memo, built on first use and kept on the Doc (one per matcher)."""
        key = f"crisis_facts:{id(self)}"
        facts = doc.user_data.get(key)
        if facts is None:
            facts = doc.user_data[key] = _Facts(doc)
        return facts

    def _sentence(self, doc: Doc, start: int, end: int) -> Tuple[int, int]:
        """The sentence around tokens ``start:end``, without its breaks ("." "!" "?" ";" "..." newline)."""
        begins, ends = self._facts(doc).sentence
        return begins[start], ends[end]

    def _clause(self, doc: Doc, start: int, end: int) -> Tuple[int, int]:
        """The clause around tokens ``start:end`` (a sentence break, or "," "but" "and" "because" ...)."""
        begins, ends = self._facts(doc).clause
        return begins[start], ends[end]

    def _memo(self, doc: Doc, key: Tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, once per message and ``key`` (a fact about one sentence: its span is in the key)."""
        memo = self._facts(doc).memo
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def _has(self, doc: Doc, s: int, e: int, name: str) -> bool:
        """Whether tokens ``s:e`` hold one of the word sequences in the list attribute ``name`` (memoised)."""
        return self._memo(doc, ("has", name, s, e),
                          lambda: self._contains_seq(self._facts(doc).norms[s:e], getattr(self, name)))

    def _reported_before(self, doc: Doc, s: int, e: int, start: int) -> bool:
        """Whether reported speech ("a friend said", "a forum post") ends before ``start`` in sentence ``s:e``."""
        def first_end() -> int:
            norms = self._facts(doc).norms
            ends = [i + len(seq) for seq in self.reported for i in range(s, e - len(seq) + 1)
                    if tuple(norms[i:i + len(seq)]) == seq]
            return min(ends, default=e + 1)
        return self._memo(doc, ("reported", s, e), first_end) <= start

    def _hypothetical_between(self, doc: Doc, lo: int, hi: int) -> bool:
        """Whether a token in ``lo:hi`` makes its clause hypothetical (see :meth:`_hypothetical`)."""
        found = self._memo(doc, ("hypothetical",), lambda: [i for i in range(len(doc)) if self._hypothetical(doc, i)])
        k = bisect_left(found, lo)
        return k < len(found) and found[k] < hi

    @staticmethod
    def _contains_seq(norms: Sequence[str], seqs: Iterable[Tuple[str, ...]],
                      is_number: Callable[[str], bool] | None = None) -> bool:
        """Whether ``norms`` hold one of ``seqs``; with ``is_number``, an ``N`` in a sequence stands for any word
        it accepts ("hace N años")."""
        for seq in seqs:
            n, wild = len(seq), is_number is not None and "N" in seq
            for i in range(len(norms) - n + 1):
                window = tuple(norms[i:i + n])
                if window == seq or (wild and all(
                        w == p or (p == "N" and is_number(w)) for w, p in zip(window, seq))):  # type: ignore[misc]
                    return True
        return False

    def _negated(self, doc: Doc, start: int, window: int | None = None) -> bool:
        """A negator in the few words right before the match ("I'm not suicidal"); ``window``: how many (the
        patterns file's ``negation_window`` unless a rule sets its own)."""
        s, _ = self._sentence(doc, start, start + 1)
        lo = max(s, start - (self.negation_window if window is None else window))
        for i in range(lo, start):
            tok = doc[i]
            if tok.norm_ in self.negators or tok.lemma_ == "not":
                follower = doc[i + 1].lemma_ if i + 1 < len(doc) else ""
                if follower not in self.negation_exempt or self._future(doc, i + 1):
                    return True
        return False

    @staticmethod
    def _future(doc: Doc, i: int) -> bool:
        """Whether tokens ``i``.. say "going to" / "gonna": "I'm not going to kill myself" negates what follows,
        while "go" stays exempt otherwise ("I can't go on")."""
        following = doc[i + 1].norm_ if i + 1 < len(doc) else ""
        return doc[i].norm_ in ("going", "gon") and following in ("to", "na")

    def _strong_past_in(self, doc: Doc, s: int, e: int) -> bool:
        """:meth:`_strong_past` of sentence ``s:e``, once per message."""
        return self._memo(doc, ("strong_past", s, e), lambda: self._strong_past(self._facts(doc).norms[s:e]))

    def _past_in(self, doc: Doc, s: int, e: int) -> bool:
        """:meth:`_past` of sentence ``s:e``, once per message (its strong history shared with the always rules)."""
        return self._memo(doc, ("past", s, e),
                          lambda: self._strong_past_in(doc, s, e) or self._past(self._facts(doc).norms[s:e]))

    def _past(self, norms: Sequence[str]) -> bool:
        """History other than :meth:`_strong_past`'s: "back in 2019", "used to"; but "in the past hour" is now."""
        for i in range(len(norms) - 3):  # "in the past hour" / "in the past few days" is recent
            if tuple(norms[i:i + 3]) == ("in", "the", "past") and (norms[i + 3] in RECENT_UNITS or
                                                                   norms[i + 3] in ("few", "couple", "24", "48")):
                norms = list(norms[:i]) + list(norms[i + 3:])
                break
        return self._contains_seq(self._without_comparisons(norms), [h for h in self.history if h != ("ago",)])

    @staticmethod
    def _without_comparisons(norms: Sequence[str]) -> List[str]:
        """The words without a comparison with the past ("I took what I used to take plus more" is now)."""
        out = list(norms)
        for i in range(len(out) - 3, -1, -1):
            if out[i] in ("what", "than", "as") and out[i + 1] in CONJUNCTION_SUBJECTS \
                    and out[i + 2:i + 4] == ["used", "to"]:
                del out[i + 2:i + 4]
        return out

    def _strong_past(self, norms: Sequence[str]) -> bool:
        """An explicit time in the past: "3 yrs ago", "in 2015", "when he was 2", "last spring".

        "20 minutes ago", "in the past hour" and "last night" are recent, not history.
        """
        norms = self._without_comparisons(norms)
        for i, w in enumerate(norms):
            if w == "ago" and not (set(norms[max(0, i - 2):i]) & RECENT_UNITS):
                return True
            # "in 2015" is history; "she thinks it's 1985" is confusion now
            if re.fullmatch(r"(19|20)\d\d", w) and not (i and norms[i - 1] in PRESENT_YEAR_WORDS):
                return True
            following = norms[i + 1] if i + 1 < len(norms) else ""
            if w == "when" and following in ("i", "he", "she", "they", "we") and i + 2 < len(norms) \
                    and norms[i + 2] in ("was", "were", "be") and i + 3 < len(norms) \
                    and (norms[i + 3].isdigit() or norms[i + 3] in PAST_AGES):
                return True
            if w == "last" and following in PAST_SEASONS:
                return True
        return self._contains_seq(norms, self.strong_history) or self._years_ago(norms)

    def _years_ago(self, norms: Sequence[str]) -> bool:
        """A "years ago" of another language ("hace dos años", "vor 3 jahren"): a ``years_ago`` pattern of
        patterns.yml, whose ``N`` is a number in digits or one of ``number_words``."""
        return self._contains_seq(norms, self.years_ago, lambda w: w.isdigit() or w in self.number_words)

    def _hypothetical(self, doc: Doc, i: int) -> bool:
        """Whether token ``i`` makes its clause hypothetical: "cause" does ("can withdrawal cause seizures"),
        not when it means "because" and a subject follows ("asking cause I already took ...")."""
        if doc[i].norm_ not in self.hypothetical:
            return False
        following = doc[i + 1].norm_ if i + 1 < len(doc) else ""
        return not (doc[i].norm_ == "cause" and following in CONJUNCTION_SUBJECTS)

    def _negated_inside(self, rule: Dict[str, Any], doc: Doc, start: int, end: int) -> bool:
        """A negator inside a match ("I am not suicidal"), unless the rule is about negation."""
        if rule.get("negation_inside_ok"):
            return False
        return any(t.norm_ in self.negators or t.lemma_ == "not" for t in doc[start:end])

    def _not_now(self, doc: Doc, start: int, end: int, urgent: str, window: int | None = None) -> str | None:
        """Why a strict match does not describe danger now, or None when it does (``urgent``: the name of the
        list of words that make it urgent; ``window``: see :meth:`_negated`)."""
        if self._negated(doc, start, window):
            return "negated"
        s, e = self._sentence(doc, start, end)
        cs, _ = self._clause(doc, start, end)
        if self._hypothetical_between(doc, cs, start):
            return "hypothetical"
        if self._has(doc, s, e, "resolved"):
            return "resolved"
        if self._has(doc, s, e, urgent):
            return None
        if self._reported_before(doc, s, e, start):
            return "reported"
        if doc[s].norm_ in self.question_openers:
            return "question"
        if self._past_in(doc, s, e):
            return "history"
        return None

    def _dropped(self, name: str, doc: Doc, start: int, end: int) -> str | None:
        """Why this match of rule ``name`` does not count, or None if it does."""
        rule = self.rules[name]
        if end < len(doc) and doc[end].norm_ in rule.get("not_followed_by", ()):
            return "figurative"
        if any(start >= len(seq) and tuple(t.lemma_ for t in doc[start - len(seq):start]) == seq
               for seq in self.not_preceded_by[name]):
            return "figurative"
        if self._negated_inside(rule, doc, start, end):
            return "negated"
        context = rule.get("context", "strict")
        if context == "always":
            if self._negated(doc, start, rule.get("negation_window")):
                return "negated"
            s, e = self._sentence(doc, start, end)
            if self._strong_past_in(doc, s, e) and not self._has(doc, s, e, "urgent"):
                return "history"  # "years ago I wanted to kill myself": over, unless it is back now
            if self._has(doc, s, e, "resolved") and not self._has(doc, s, e, "strongly_urgent"):
                return "resolved"
            return None
        if context == "urgent":
            reason = self._not_now(doc, start, end, "strongly_urgent", rule.get("negation_window"))
            if reason:
                return reason
            s, e = self._sentence(doc, start, end)
            return None if self._has(doc, s, e, "strongly_urgent") else "not urgent"
        return self._not_now(doc, start, end, "urgent", rule.get("negation_window"))

    # ------------------------------------------------------------------ detecting
    def matches(self, doc: Doc) -> List[Tuple[str, int, int]]:
        """Every rule match as (rule name, start, end), before context checks."""
        found = []
        for matcher in (self.lemma_phrases, self.norm_phrases, self.token_matcher):
            for match_id, start, end in matcher(doc):
                found.append((self.nlp.vocab.strings[match_id], start, end))
        return sorted(found, key=lambda m: (m[1], m[2]))

    def _as_doc(self, text: str | Doc) -> Doc:
        """A normalised Doc: callers that ask several questions normalise once and pass the Doc."""
        return text if isinstance(text, Doc) else self.normalise(text)

    def assess(self, text: str | Doc) -> Assessment:
        """The whole decision for one message, matching once: detection, benign reason and kind."""
        doc = self._as_doc(text)
        if not doc.text.strip():
            return Assessment(None, None, None)
        found = self._found(doc)
        kind = next((self.rules[name]["kind"] for name, _, _, _ in found if self.rules[name].get("kind")), None)
        detection = self._detection(found)
        benign = None if detection is not None else self._benign(doc, found)
        return Assessment(detection, benign, kind)

    def reports(self, text: str | Doc) -> bool:
        """Whether ``text`` tells of a danger through a source or a story (words of the ``reported`` list:
        "a forum post said", "in one scene of my screenplay"), wherever they are."""
        doc = self._as_doc(text)
        return self._contains_seq(self._facts(doc).norms, self.reported)

    def _detection(self, found: Sequence[Tuple[str, int, int, str | None]]) -> Detection | None:
        """The first rule (or combination of signals) that counts."""
        signals: Dict[str, Tuple[int, int]] = {}
        for name, start, end, dropped in found:
            rule = self.rules[name]
            if dropped:
                continue
            if rule.get("signal"):
                signals.setdefault(rule["signal"], (start, end))
                continue
            return Detection(rule["kind"], name, start, end)
        for combo in self.combinations:
            if all(sig in signals for sig in combo["all"]):
                spans = [signals[sig] for sig in combo["all"]]
                return Detection(combo["kind"], combo.get("name", "combination"),
                                 min(s for s, _ in spans), max(e for _, e in spans))
        return None

    def _benign(self, doc: Doc, found: Sequence[Tuple[str, int, int, str | None]]) -> str | None:
        """Why the message looks safe although it uses danger words, or None.

        A figure of speech ("this heat is killing me"), or danger words that every rule
        dropped as history, resolved or negated ("I overdosed years ago, I'm fine now").
        Used to overrule the trained classifier when no rule fired.
        """
        if self.figurative(doc):
            return "figurative"
        reasons = {dropped for name, _, _, dropped in found if self.rules[name].get("kind")}
        if reasons and reasons <= {"history", "resolved", "negated", "figurative", "reported"}:
            return "past or negated"
        if self.reassuring(doc):  # no rule fired: the visitor's own words overrule the classifier's guess
            return "says it is over, safe or general"
        norms = self._facts(doc).norms
        if (self._strong_past(norms) and not self._contains_seq(norms, self.strongly_urgent)
                and not self._contains_seq(norms, self.future_plan)):
            return "history"
        return None

    def veto_below(self, rule: str) -> float | None:
        """The classifier's probability below which it may overrule this rule, when the rule sets its own
        (``veto_below``; otherwise the detector's ``rule_veto``)."""
        value = self._settings(rule).get("veto_below")
        return None if value is None else float(value)

    def vetoable(self, rule: str) -> bool:
        """Whether the trained classifier may overrule this rule's detection (``vetoable: false`` says no)."""
        return bool(self._settings(rule).get("vetoable", True))

    def _settings(self, name: str) -> Dict[str, Any]:
        """A rule's or a combination's entry in patterns.yml (a combination detects under its own name)."""
        if name in self.rules:
            return self.rules[name]
        return next((combo for combo in self.combinations if combo.get("name") == name), {})

    def detect(self, text: str | Doc) -> Detection | None:
        """The first crisis that the message states is happening now, or None (without :meth:`assess`'s
        benign reason and kind: the channels call this for every sentence of a long message)."""
        doc = self._as_doc(text)
        if not doc.text.strip():
            return None
        return self._detection(self._found(doc))

    def _found(self, doc: Doc) -> List[Tuple[str, int, int, str | None]]:
        """Every raw match with the reason it does not count (None when it does)."""
        return [(name, start, end, self._dropped(name, doc, start, end))
                for name, start, end in self.matches(doc)]

    def explain(self, text: str) -> List[Dict[str, Any]]:
        """Each raw match with the reason it was dropped, for admins tuning the patterns."""
        doc = self.normalise(text)
        out = []
        for name, start, end in self.matches(doc):
            rule = self.rules[name]
            reason = self._dropped(name, doc, start, end)
            out.append({"rule": name, "kind": rule.get("kind") or rule.get("signal"),
                        "span": doc[start:end].text, "dropped": reason})
        return out

