"""actions/callback_fields.py: what a visitor types into the callback form, checked and normalised.

Table-driven: each case is what a visitor might really type, and what the form keeps (or None,
when the form must ask again). Tests named ``test_bug_...`` document defects found while
writing these tests; their assertion messages say what is wrong.
"""
from __future__ import annotations

import pytest

from actions import callback_fields as fields
from bot import facts

OWN_LINE = facts.load().center_phone_dial  # the center's line (domain.yml is its one home)
_D = facts.load().phone_digits[-10:]
A, B, C = _D[:3], _D[3:6], _D[6:]


# --- phone ------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, e164", [
    ("(555) 234-5678", "+15552345678"),
    ("555.234.5678", "+15552345678"),
    ("5552345678", "+15552345678"),
    ("555-234-5678", "+15552345678"),
    ("555 234 5678", "+15552345678"),
    ("+1 555 234 5678", "+15552345678"),
    ("+1 (555) 234-5678", "+15552345678"),
    ("+15552345678", "+15552345678"),
    ("1-555-234-5678", "+15552345678"),
    ("1 (555) 234-5678", "+15552345678"),
    ("15552345678", "+15552345678"),
    ("  (555) 234-5678  ", "+15552345678"),
    ("555-234-5678.", "+15552345678"),
    # an extension is dropped (the team dials the number)
    ("555-234-5678 ext 12", "+15552345678"),
    ("(555) 234-5678 ext. 12", "+15552345678"),
    ("555-234-5678 EXT 12", "+15552345678"),
    ("555-234-5678 x12", "+15552345678"),
    ("555-234-5678 x 12", "+15552345678"),
    ("1-555-234-5678 ext 345", "+15552345678"),
    # international: + and 8 to 15 digits
    ("+44 20 7946 0958", "+442079460958"),
    ("+442079460958", "+442079460958"),
    ("+44 20 7946 0958 ext 5", "+442079460958"),
    ("+49 30 1234567", "+49301234567"),
    ("+52 55 1234 5678", "+525512345678"),
    ("+61 2 9876 5432", "+61298765432"),
    ("+33 1 23 45 67 89", "+33123456789"),
    ("+353-1-234-5678", "+35312345678"),
    ("+12345678901", "+12345678901"),  # +1 then ten digits: a US number
    # full-width digits (a phone keyboard's IME) are normalised (NFKC)
    ("５５５-２３４-５６７８", "+15552345678"),
])
def test_phone_numbers_are_normalised_to_e164(typed, e164):
    assert fields.phone(typed) == e164
    assert fields.phone(typed, own_line=OWN_LINE) == e164


@pytest.mark.parametrize("typed", [
    "",
    "   ",
    "555-1234",  # no area code
    "234-5678",
    "55523456",  # 8 digits
    "555234567",  # 9 digits
    "555234567890",  # 12 digits, no +
    "25552345678",  # 11 digits not starting with 1
    "+1 555 234 5678 9",  # +1 with 11 digits
    "call me",
    "five five five two three four five six seven eight",
    "555-CALL-NOW",
    "555-234-5678 please",
    "my number is 555-234-5678",
    "tel: 555-234-5678",
    "555-234-5678!",
    "555/234/5678",
    "555_234_5678",
    "555-234-5678 #12",
    "jo@example.org",
    # emergency and crisis numbers are never a callback number
    "911",
    "9-1-1",
    "9 1 1",
    "988",
    "(988)",
    "+911",
    "112",
    "999",
    # a US area code or exchange cannot start with 0 or 1
    "012-345-6789",
    "(055) 234-5678",
    "155-234-5678",
    "1-155-234-5678",
    "555-034-5678",
    "555-134-5678",
    # international: 8 to 15 digits after the +
    "+44 123 45",
    "+4412345",  # 7 digits
    "+4412345678901234",  # 16 digits
    "+44 20 7946 0958 0000000",
    # 40+ characters, even if the digits would make a number
    "(555)" + " " * 30 + "234-5678",
    "5" * 41,
    "1" + "-" * 35 + "5552345678",
])
def test_phone_rejects(typed):
    assert fields.phone(typed) is None
    assert fields.phone(typed, own_line=OWN_LINE) is None


@pytest.mark.parametrize("typed", [
    f"1 ({A}) {B}-{C}",
    f"({A}) {B}-{C}",
    f"{A}-{B}-{C}",
    f"{A}.{B}.{C}",
    f"{A}{B}{C}",
    f"1{A}{B}{C}",
    f"+1 {A} {B} {C}",
    f"+1-{A}-{B}-{C}",
    f"1-{A}-{B}-{C} ext 2",
])
def test_the_centers_own_line_is_not_a_callback_number(typed):
    assert fields.phone(typed, own_line=OWN_LINE) is None
    assert fields.phone(typed, own_line=f"1 ({A}) {B}-{C}") is None  # however the line is written
    assert fields.phone(typed) == f"+1{A}{B}{C}"  # without own_line, just a toll-free number


def test_other_numbers_that_share_digits_with_the_centers_line_are_accepted():
    other_last = f"{C[:3]}{(int(C[3]) + 1) % 10}"
    assert fields.phone(f"({A}) {B}-{other_last}", own_line=OWN_LINE) == f"+1{A}{B}{other_last}"
    assert fields.phone(f"(555) {B}-{C}", own_line=OWN_LINE) == f"+1555{B}{C}"
    assert fields.phone(f"+44 {A} {B} {C}", own_line=OWN_LINE) == f"+44{A}{B}{C}"


def test_phone_of_none_is_none():
    assert fields.phone(None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("e164, shown", [
    ("+15552345678", "(555) 234-5678"),
    (f"+1{A}{B}{C}", f"({A}) {B}-{C}"),
    ("+442079460958", "+442079460958"),
    ("+49301234567", "+49301234567"),
])
def test_display_phone(e164, shown):
    assert fields.display_phone(e164) == shown


@pytest.mark.parametrize("typed", ["(555) 234-5678", "+1 555 234 5678 ext 12", "+44 20 7946 0958", "+49 30 1234567"])
def test_a_displayed_number_validates_again_to_the_same_number(typed):
    """The slot keeps the displayed form; validating it again (a later form run) must not change it."""
    e164 = fields.phone(typed, own_line=OWN_LINE)
    assert e164 is not None
    shown = fields.display_phone(e164)
    assert fields.phone(shown, own_line=OWN_LINE) == e164
    assert fields.display_phone(fields.phone(shown) or "") == shown


# --- name -------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, kept", [
    ("Maria Lopez", "Maria Lopez"),
    ("Maria", "Maria"),
    ("maria", "maria"),
    ("José", "José"),
    ("Jose\u0301", "José"),  # decomposed accent, composed by NFKC
    ("Zoë", "Zoë"),
    ("O'Brien", "O'Brien"),
    ("O’Brien", "O’Brien"),  # a phone's curly apostrophe
    ("Anne-Marie", "Anne-Marie"),
    ("Mary-Kate O'Neil", "Mary-Kate O'Neil"),
    ("Dr. Smith", "Dr. Smith"),
    ("J. R. R. Tolkien", "J. R. R. Tolkien"),
    ("Nguyễn Văn An", "Nguyễn Văn An"),
    ("李明", "李明"),
    ("محمد", "محمد"),
    ("Ольга", "Ольга"),
    ("अनिल", "अनिल"),  # Anil: Devanagari vowel signs are marks, not letters
    ("முருகன்", "முருகன்"),  # Murugan (Tamil, with a virama)
    ("সুমন", "সুমন"),  # Suman (Bengali)
    ("my name is Sam", "Sam"),
    ("My name is Sam.", "Sam"),
    ("MY NAME IS SAM", "SAM"),
    ("my name's Sam", "Sam"),
    ("I'm Sam", "Sam"),
    ("i am Sam Jones", "Sam Jones"),
    ("this is Sam", "Sam"),
    ("it's Sam!", "Sam"),
    ("call me Sam", "Sam"),
    ("name: Sam", "Sam"),
    ("Sam!", "Sam"),
    ("Sam.", "Sam"),
    ("  Sam ,", "Sam"),
    ("Mary   Jane", "Mary Jane"),  # spaces collapsed
    ("Mary\tJane", "Mary Jane"),
    ("a b c d e f", "a b c d e f"),  # six words: still a name
    ("x" * 80, "x" * 80),
])
def test_names_are_kept(typed, kept):
    assert fields.name(typed) == kept


@pytest.mark.parametrize("typed", [
    "",
    "   ",
    None,
    "Sam2",
    "Sam 2nd",
    "R2D2",
    "555-234-5678",
    "Sam?",
    "what do you need my name for?",
    "?",
    "...",
    "-'-",
    "!!!",
    ".,!",
    "a b c d e f g",  # seven words: a sentence, not a name
    "my name is Sam and I really need some help now",  # seven words after "my name is"
    "x" * 81,
    "Sam_1",
    "sam@example.org",
    "Sam (mom)",
    "Sam/Alex",
    "Sam & Alex",
    "Sam :)",
])
def test_names_rejected(typed):
    assert fields.name(typed) is None


# --- email ------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, kept", [
    ("jo@example.org", "jo@example.org"),
    ("Jo.Smith+tag@Example.COM", "Jo.Smith+tag@example.com"),  # domain lower-cased, local part kept
    ("Jo@EXAMPLE.org", "Jo@example.org"),
    ("o'brien@example.co.uk", "o'brien@example.co.uk"),
    ("jo_smith-1%x@sub.example.org", "jo_smith-1%x@sub.example.org"),
    (" jo@example.org ", "jo@example.org"),
    ("<jo@example.org>", "jo@example.org"),
    ("jo@example.org.", "jo@example.org"),
    ("jo@example.org,", "jo@example.org"),
])
def test_emails_kept(typed, kept):
    assert fields.email(typed) == kept


@pytest.mark.parametrize("typed", [
    "", None, "jo", "jo@", "@example.org", "jo@example", "jo@example.c", "jo@@example.org",
    "jo example.org", "jo@ex ample.org", "jo@example..org", "jo at example dot org", "jo@exa_mple.org",
    "my email is jo@example.org", "a" * 250 + "@x.org",
])
def test_emails_rejected(typed):
    assert fields.email(typed) is None


# --- skipping an optional question ------------------------------------------------------------

@pytest.mark.parametrize("typed", [
    "skip", "Skip", "SKIP", "skip.", "Skip!", "  skip  ", "skip it", "no", "No.", "none", "nope", "no thanks",
    "no thank you", "n/a", "N/A", "na", "nothing", "pass", "-", "no email", "no e-mail", "I don't have one",
    "dont have one", "no message", "No  thanks",
])
def test_skip_words(typed):
    assert fields.is_skip(typed) is True


@pytest.mark.parametrize("typed", [
    "", "   ", None, "jo@example.org", "skip please", "please call after 5", "yes", "no, but call in the evening",
    "I have a question about insurance",
])
def test_not_skip(typed):
    assert fields.is_skip(typed) is False


# --- about whom -------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, kept", [
    ("me", "self"),
    ("Me", "self"),
    ("ME!", "self"),
    ("me.", "self"),
    ("myself", "self"),
    ("Myself", "self"),
    ("about me", "self"),  # the button's payload
    ("About me.", "self"),
    ("for me", "self"),
    ("for myself", "self"),
    ("it's me", "self"),
    ("its me", "self"),
    ("it is about me", "self"),
    ("it's about me", "self"),
    ("me myself", "self"),
    ("mine", "self"),
    ("self", "self"),
    ("I'm", "self"),
    ("im", "self"),
    ("me, I'm the one struggling", "self"),
    ("my son", "someone_else"),
    ("My daughter", "someone_else"),
    ("my mom", "someone_else"),
    ("my mother", "someone_else"),
    ("my dad", "someone_else"),
    ("my husband", "someone_else"),
    ("my wife", "someone_else"),
    ("my partner", "someone_else"),
    ("my boyfriend", "someone_else"),
    ("a friend", "someone_else"),
    ("my brother", "someone_else"),
    ("my grandmother", "someone_else"),
    ("someone else", "someone_else"),
    ("about someone else", "someone_else"),  # the button's payload
    ("somebody else", "someone_else"),
    ("a family member", "someone_else"),
    ("a loved one", "someone_else"),
    ("it is for my mother", "someone_else"),
    ("for my wife", "someone_else"),
])
def test_about(typed, kept):
    assert fields.about(typed) == kept


@pytest.mark.parametrize("typed", ["banana", "", "   ", None, "maybe", "both", "not sure", "i", "yes", "no"])
def test_about_unclear(typed):
    assert fields.about(typed) is None


# --- confirmation -----------------------------------------------------------------------------

@pytest.mark.parametrize("typed, kept", [
    ("yes", "yes"), ("Yes!", "yes"), ("YES PLEASE.", "yes"), ("y", "yes"), ("yeah", "yes"), ("yep", "yes"),
    ("send it", "yes"),  # the button's payload
    ("Send my request", "yes"), ("send", "yes"), ("confirm", "yes"), ("ok", "yes"), ("Okay", "yes"),
    ("sure", "yes"), ("correct", "yes"), ("that's right", "yes"), ("go ahead", "yes"), ("please do", "yes"),
    ("no", "no"), ("No.", "no"), ("n", "no"), ("nope", "no"), ("don't send", "no"), ("do not send", "no"),
    ("cancel", "no"), ("stop", "no"), ("never mind", "no"), ("nevermind", "no"),
])
def test_confirmation(typed, kept):
    assert fields.confirmation(typed) == kept


@pytest.mark.parametrize("typed", ["", None, "maybe", "yes no", "hmm", "what happens next?", "send it tomorrow"])
def test_confirmation_unclear(typed):
    assert fields.confirmation(typed) is None


# --- best time --------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, kept", [
    ("weekday mornings", "weekday mornings"),
    ("tomorrow after 5 pm", "tomorrow after 5 pm"),
    ("  evenings  ", "evenings"),
    ("any   time", "any time"),
    ("5pm", "5pm"),
    ("9", "9"),
    ("après 17h", "après 17h"),
    ("x" * 120, "x" * 120),
])
def test_best_time_kept(typed, kept):
    assert fields.best_time(typed) == kept


@pytest.mark.parametrize("typed", ["", "   ", None, "...", "?!", "-", "x" * 121])
def test_best_time_rejected(typed):
    assert fields.best_time(typed) is None


# --- questions typed instead of an answer ------------------------------------------------------

@pytest.mark.parametrize("typed", [
    "how long is the program?", "How long is the program", "what does it cost", "What's the cost", "whats the cost",
    "when are you open", "where are you", "why do I feel dizzy", "who will call me", "which benzos do you treat",
    "is it covered by insurance", "Are you open on weekends", "can I bring my phone", "could you tell me more",
    "do you take insurance", "does insurance cover it", "did I give my number", "will it hurt", "would it help",
    "should I taper", "shall I wait", "may I ask something", "am I eligible", "Cost?", "my mother?",
    "  how long  ",
])
def test_questions(typed):
    assert fields.is_question(typed, strict=False) is True


@pytest.mark.parametrize("typed", ["Will Smith", "May Chen", "Am Nguyen", "when I'm off work, after 6",
                                   "how about tomorrow", "do you take insurance"])
def test_strictly_only_a_question_mark_makes_a_question(typed):
    """Answers may start like questions (names, times): where they can, only "?" counts."""
    assert fields.is_question(typed) is False
    assert fields.is_question(typed + "?") is True


@pytest.mark.parametrize("typed", [
    "", None, "Maria Lopez", "about my mother", "my father", "weekday mornings", "evenings after 5", "skip",
    "send it", "(555) 234-5678", "she has been on ativan for 10 years", "however works", "whoever answers",
    "Isabel", "Candice", "Donna", "Dominic", "Amber", "Mayra", "Willa", "Howard", "Whitney", "Shelly",
])
def test_not_questions(typed):
    assert fields.is_question(typed) is False


# --- message ----------------------------------------------------------------------------------

def test_message_is_trimmed_and_capped_at_500_characters():
    assert fields.MAX_MESSAGE == 500
    assert fields.message("  she has   been on\nativan for 10 years \n") == "she has been on ativan for 10 years"
    assert fields.message("a" * 500) == "a" * 500
    assert fields.message("a" * 501) == "a" * 500
    assert fields.message("b" * 5000) == "b" * 500
    assert fields.message("word " * 200) == ("word " * 200).strip()[:500]
    assert fields.message("") is None
    assert fields.message("   \n ") is None
    assert fields.message(None) is None  # type: ignore[arg-type]


# --- defects found ----------------------------------------------------------------------------
# Phones type a curly apostrophe (U+2019) by default (iOS "smart punctuation"); fields.name accepts
# it, but _plain() compares against word lists spelled with a straight one.

@pytest.mark.parametrize("check, typed, expected", [
    (fields.is_skip, "i don’t have one", True),
    (fields.confirmation, "that’s right", "yes"),
    (fields.confirmation, "don’t send", "no"),
    (fields.about, "it’s me", "self"),
    (fields.about, "i’m", "self"),
])
def test_bug_curly_apostrophes_from_phone_keyboards(check, typed, expected):
    straight = typed.replace("’", "'")
    assert check(straight) == expected  # the same words with a straight apostrophe work
    assert check(typed) == expected, (
        f"BUG actions/callback_fields.py _plain(): {check.__name__}({typed!r}) is {check(typed)!r}, expected "
        f"{expected!r} - the curly apostrophe (U+2019) a phone keyboard types is not normalised to \"'\"")


@pytest.mark.parametrize("typed", ["about my own withdrawal", "it's about my taper", "my self"])
def test_bug_about_my_own_situation_is_not_someone_else(typed):
    assert fields.about(typed) != "someone_else", (
        f"BUG actions/callback_fields.py about(): {typed!r} -> 'someone_else': the OTHER_HINTS substring 'my ' "
        f"matches any answer containing 'my', so a visitor talking about their own taper is recorded as "
        f"calling about someone else (expected 'self', or None so the form asks again)")


@pytest.mark.parametrize("typed", ["Will Smith", "Will", "May Chen", "Am Nguyen", "when I'm off work, after 6",
                                   "whenever my husband is at work"])
def test_bug_names_and_times_that_start_like_a_question(typed):
    """Mid-form, a message the NLU classifies ``faq`` is answered instead of taken when is_question()
    says it is one (actions/callback.py answered_question): the trained model gives ``faq`` to
    "Will Smith" (0.73) and "when I'm off work, after 6" (0.95)."""
    assert fields.is_question(typed) is False, (
        f"BUG actions/callback_fields.py is_question(): {typed!r} is taken for a question (_QUESTION_START "
        f"matches its first word), so a visitor named Will, or answering 'when ...', is answered an FAQ and "
        f"asked again instead of having the answer taken")
