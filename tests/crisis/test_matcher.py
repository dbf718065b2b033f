"""The rule-based crisis matcher on its own (no trained model)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.crisis.matcher import PATTERNS_PATH, CrisisMatcher


@pytest.mark.parametrize("text,kind", [
    ("i want to kill myself", "suicide"),
    ("gonna kms tonight", "suicide"),
    ("thinking about how to unalive myself", "suicide"),
    ("im so suicidle right now", "suicide"),
    ("everyone would be better off without me", "suicide"),
    ("I won't be around much longer", "suicide"),
    ("I don't want to wake up tomorrow", "suicide"),
    ("💊💊💊 all of them", "overdose"),
    ("took the whole bottle", "overdose"),
    ("i think i od'd", "overdose"),
    ("I overdossed on my xanax", "overdose"),
    ("my wife is having a sezure", "seizure"),
    ("the voices are telling me to do it", "psychosis"),
    ("i cant breath", "medical"),
    ("i have a knife and i'm going to hurt him", "harm_to_others"),
    ("i think im dying", "medical"),
    ("i dont see the point in living anymore", "suicide"),
    ("im going to take all my pills tonight", "suicide"),
    ("his temperature is 104.5 and he is not making sense", "medical"),
    ("I have a 105 fever right now", "medical"),
    ("not gonna lie i want to kill myself", "suicide"),
    ("im not going to lie, im going to kill myself tonight", "suicide"),
    ("i cant go on anymore", "suicide"),
    ("bye everyone 💊💊💊", "overdose"),
])
def test_danger_is_detected_with_its_kind(matcher, text, kind):
    detection = matcher.detect(text)
    assert detection is not None, matcher.explain(text)
    assert detection.kind == kind


@pytest.mark.parametrize("text", [
    "Can withdrawal cause seizures?",
    "can benzo withdrawal cause a fever of 104?",
    "it's 104 degrees outside and i'm tapering",
    "is suicidality a symptom?",
    "why is mixing benzos and opioids dangerous?",
    "I'm not suicidal, I just want to know if that's a symptom",
    "Two years ago I had a seizure when I quit, could that happen again?",
    "What should I do if my husband has a seizure during his taper?",
    "this insurance paperwork is killing me",
    "I'd kill for a good night's sleep",
    "how long does the fatigue last",
    "I'm dying to know your hours",
    "I want to take all my doses at night, is that ok?",
    "",
    "   ",
    # the same words as the rules for "I'm not safe", a person who is blue, clinical words, about something else
    "is it not safe to stop cold turkey?",
    "I'm not safe to drive after my evening dose, can someone else bring me?",
    "I don't feel safe tapering on my own, is inpatient better?",
    "something is very wrong with my insurance card",
    "I'm feeling blue since I started the taper, is that common?",
    # the same words as the means-at-hand, lethal-amount, heart-rate, mixing and threat rules, with nobody in danger
    "the gun is locked in the safe and my husband has the only key",
    "I live by the train tracks, is there a bus to your center?",
    "what is the lethal dose of xanax? asking for my pharmacology exam",
    "my heart rate was 160 on the treadmill at my physical last year",
    "I'm nervous about the taper but I'm going through with it",
    "is it dangerous to take valium and drink beer?",
    "the new manager says everyone at work gets a bonus tomorrow 🎉",
    "she's shaky and isn't sleeping well, and we don't know what's expected",
    "my mom is so blue since dad died, she misses him every day",
    "I fainted once in 2019, does that matter for admission?",
    "what does active SI mean on my intake form?",
    # "cause" as a verb; places in ordinary life
    "can withdrawal cause me to take too many by accident?",
    "could stopping cause 15 different symptoms at once?",
    "we picked the bridge club for my mom's birthday",
    "I chose a cliff for my landscape painting class",
    "the kids keep stepping closer to the edge of the pool",
    # "not going to" negates what follows ("go" stays exempt only in "can't go on")
    "I'm not going to kill myself, don't worry",
    "im not gonna off myself or anything lol calm down mom",
    # a goodbye to the drug
    "last pill in the bottle, tapering done!! bye bye xanax 👋💊",
    "goodbye klonopin 💊 hello sleep",
])
def test_questions_and_figures_of_speech_are_not_emergencies(matcher, text):
    assert matcher.detect(text) is None, matcher.explain(text)


def test_danger_in_the_middle_of_a_long_question(matcher):
    text = ("Hi, I wanted to ask how long your program is and whether you take Aetna. "
            "I've been tapering for months. About an hour ago I swallowed the whole bottle. "
            "Also, do you have a book on tapering?")
    assert matcher.detect(text).kind == "overdose"


def test_misspellings_are_corrected_but_real_words_are_not(matcher):
    assert matcher.correct("sezure") == "seizure"
    assert matcher.correct("siezure") == "seizure"
    assert matcher.correct("leisure") == "leisure"
    assert matcher.correct("bottle") == "bottle"


def test_correction_takes_transpositions_as_one_edit_and_keeps_far_words(matcher):
    assert matcher.correct("siezure") == "seizure"  # a transposition is one edit (OSA), not two
    assert matcher.correct("kitten") == "kitten"


def test_assess_gives_detection_benign_and_kind_in_one_pass(matcher):
    danger = matcher.assess("i took the whole bottle of xanax")
    assert danger.detection is not None and danger.benign is None and danger.kind == "overdose"
    past = matcher.assess("i had a seizure two years ago, i'm fine now")
    assert past.detection is None and past.benign == "past or negated" and past.kind == "seizure"
    plain = matcher.assess("do you take insurance?")
    assert plain == type(plain)(None, None, None)


def test_patterns_file_errors_are_clear(tmp_path: Path, matcher):
    bad = tmp_path / "p.yml"
    bad.write_text("rules:\n  - {name: x, kind: nonsense, phrases: [help]}\n")
    with pytest.raises(ValueError, match="kind"):
        CrisisMatcher(bad, nlp=matcher.nlp)
    bad.write_text("rules:\n  - {name: x, kind: suicide}\n")
    with pytest.raises(ValueError, match="neither phrases nor patterns"):
        CrisisMatcher(bad, nlp=matcher.nlp)


def test_not_preceded_by_holds_for_a_rule_without_a_name(tmp_path: Path, matcher):
    patterns = tmp_path / "p.yml"
    patterns.write_text("rules:\n  - {kind: suicide, phrases: [rope], not_preceded_by: [\"end of my\", tow]}\n")
    own = CrisisMatcher(patterns, nlp=matcher.nlp)
    assert own.detect("I bought a rope") is not None
    assert own.detect("at the end of my rope") is None
    assert own.detect("towing rope in the trunk") is None


def test_explain_says_why_a_match_was_dropped(matcher):
    reasons = {e["dropped"] for e in matcher.explain("I am not suicidal")}
    assert "negated" in reasons


@pytest.mark.parametrize("text,reason", [
    ("ugh this commute is killing me", "figurative"),
    ("I'm dying to know when you open", "figurative"),
    ("I'm totally in the dark here and everyone talks about benzos like I should already know", "figurative"),
    ("my husband kept me in the dark about his xanax", "figurative"),
    ("I overdosed years ago and I'm fine now, can you help me taper?", "past or negated"),
])
def test_benign_messages_are_recognised(matcher, text, reason):
    assert matcher.detect(text) is None
    assert matcher.assess(text).benign == reason


def test_danger_is_never_benign(matcher):
    assert matcher.assess("i want to kill myself").benign is None
    assert matcher.assess("everything feels pointless and I made my decision").benign is None


@pytest.mark.parametrize("text", [
    "I can't catch my breath and my lips are tingling",
    "i've been cutting and it wont stop bleeding",
    "i'm so done with life. goodbye everyone",
    "there's someone in my head telling me to jump",
    "my grandma doesn't know who we are and is screaming",
])
def test_phrasings_found_missing_in_a_review(matcher, text):
    assert matcher.detect(text) is not None, matcher.explain(text)


def test_past_suicidal_thoughts_that_are_resolved_do_not_escalate(matcher):
    assert matcher.detect("i had suicidal thoughts years ago but im fine now") is None


@pytest.mark.parametrize("text", [
    "how many of my klonopin would it take so i never wake up",
    "is 40 ativan enough to stop my heart, i want it to work",
    "whats the most painless way, i have the pills counted out",
    "she is out cold and her lips are going blue",
    "he took his pills with vodka and now the narcan is not working",
    "my wife is shaking all over the floor and foamin at the mouth",
    "the bleeding won't stop, i soaked through two towels",
    "mi hermano no respira, help",
    "quiero morir, i cant do this",
    "🪦 tonight",
    "🔪🩸",
    "🩸🩸 won't stop",
    "my dad is on the balcony of the 7th floor saying he has to climb down to escape",
    "i've taken 12 in the past hour and my breathing feels slow",
    "had like 8 beers and 3 bars, about to drive home, can barely see the road",
    "my brother texted a picture of all his pills lined up and said goodbye",
])
def test_dangers_written_in_new_ways_escalate(matcher, text):
    assert matcher.detect(text) is not None, matcher.explain(text)


@pytest.mark.parametrize("text", [
    "i had a seizure 4 yrs ago when i quit, doing well now, can i taper with you",
    "back in 2016 i overdosed on my xanax but i'm in a much better place now",
    "my cousin had a seizure when she was 3, is withdrawal riskier for her",
    "read an article about someone who got psychotic after quitting valium, how rare is that?",
    "i used to cut in college, will that matter at intake",
    "my doctor wants to cut my lorazepam dose next week",
    "what is a lethal dose of xanax in general?",
    "is it safe to drive while i taper off klonopin?",
    "she took it for twenty odd years, is that normal",
])
def test_history_reported_and_dose_cuts_do_not_escalate_by_rule(matcher, text):
    assert matcher.detect(text) is None, matcher.explain(text)


@pytest.mark.parametrize("text", [
    "i'm not suicidal, just exhausted from the taper",
    "my friend mixes xanax and beer at parties, what happens? i want to warn her",
    "i used to take way too many back in high school",
])
def test_the_visitors_own_reassurance_overrules_the_classifier(matcher, text):
    assessment = matcher.assess(text)
    assert assessment.detection is None and assessment.benign is not None


def test_a_question_wrapped_danger_is_never_called_benign(matcher):
    # dropped by the rules as a question, but left to the classifier: never vetoed
    assert matcher.assess("is it normal that he is not breathing?").benign is None


@pytest.mark.parametrize("text, rule, kind", [
    # a plain "I'm not safe" (the words crisis lines ask about), however it goes on
    ("honestly i'm not safe tonight", "not_safe", "general"),
    ("I don't feel safe with myself right now", "not_safe", "general"),
    ("i cant keep myself safe anymore", "not_safe", "general"),
    # "something is very wrong" with urgency; asking for help now
    ("something is seriously wrong with my mom right now, please help", "something_wrong_now", "general"),
    ("we need help now, she's acting so strange", "something_wrong_now", "general"),
    # clinical words for suicide now
    ("pt here, active SI, i have a plan", "clinical_suicidal", "suicide"),
    ("suicidal ideation with a plan since this morning", "clinical_suicidal", "suicide"),
    # someone who is blue; fainting in clinical words
    ("my boyfriend is all blue and quiet", "breathing", "medical"),
    ("two syncopal episodes this morning and my heart is racing", "collapse", "medical"),
    # a few words of Spanish about someone else
    ("mi papá dice que se quiere matar", "other_language", "general"),
    # "cause" meaning "because" does not make the clause hypothetical
    ("how long is the intake call? asking cause I already took like 15 ativan", "took_everything", "overdose"),
    # a place chosen, or drawn closer to
    ("I've picked the overpass, it's decided", "plan_place", "suicide"),
    ("at the station, leaning closer to the platform tracks", "plan_place", "suicide"),
    # "gonna" (spaCy's two pieces "gon" "na") reads as "going to"
    ("legs all weak, im gonna pass out", "collapse", "medical"),
    ("im gonna jump", "suicide_plan_means", "suicide"),
    ("IM GONNA JUMP", "suicide_plan_means", "suicide"),  # capitals split as lower case does
    # the means at hand; a lethal amount for one's own weight; a racing heart; mixing about to happen; a threat
    ("the knife is right next to me and i keep looking at it", "means_at_hand", "suicide"),
    ("parked by the railroad tracks waiting for the 11pm", "means_at_hand", "suicide"),
    ("fatal dose of klonopin for 60 kg?", "lethal_for_weight", "suicide"),
    ("pulse is 185 and i feel faint", "heart_rate", "medical"),
    ("she's about to take her bars with vodka at this party", "mixing_now", "overdose"),
    ("they will all pay at school 🔫", "death_emoji_threat", "harm_to_others"),
    ("i'm going through with it tonight", "go_through_with_it", "suicide"),
    ("he doesn't know what's real anymore and he's screaming", "psychosis_signs", "psychosis"),
    ("she doesn't know where she is right now", "psychosis_signs", "psychosis"),
    # stop 23: goodbyes, signs, cries for help, other languages, plans, asides, clinical notes, being lost
    # goodbye notes, hiding it, disguising it
    ("goodbye everyone", "suicide_phrases", "suicide"),
    ("last message from me. sorry for wasting your time", "suicide_phrases", "suicide"),
    ("how long do I need to wait before anyone finds me", "suicide_phrases", "suicide"),
    ("what's the best way to make it look like an accident", "suicide_phrases", "suicide"),
    ("I'm writing notes for everyone I care about", "farewell_notes", "suicide"),
    # signs seen on someone: blue or grey, a stroke's one side and words
    ("my lips look blue in the mirror and I can't get a full breath", "breathing", "medical"),
    ("he's turning grey and won't answer me", "breathing", "medical"),
    ("I can't feel the left side of my face", "collapse", "medical"),
    ("her words are coming out wrong since lunch", "collapse", "medical"),
    # a cry for help (kind from a rule naming the danger when there is one)
    ("HELP HELP MY MOM", "cry_for_help", "general"),
    ("please call someone for me. cant talk", "cry_for_help", "general"),
    ("can someone call 911 for me", "cry_for_help", "general"),
    # every benzo's name in "about to take all my ..."
    ("I'm about to take all my alprazolam with the rest of the gin", "suicide_plan_means", "suicide"),
    ("blood everywhere and it won't stop", "bleeding", "suicide"),
    ("I want to run my car into the clinic, I'm in their parking lot now", "harm_others", "harm_to_others"),
    # a few words of German, Italian, Tagalog, Hindi, French
    ("mein Vater hat einen Krampfanfall und hört nicht auf", "other_language_words", "general"),
    ("voglio farla finita stanotte", "other_language", "general"),
    ("lola ko hindi makahinga", "other_language", "general"),
    ("mera dost hosh mein nahi hai", "other_language", "general"),
    ("mon fils dit qu'il doit sauter par la fenêtre", "other_language", "general"),
    # emoji: an overdose word or pills with an ambulance; pills with "4ever"
    ("OD 🚑🚑", "overdose_ambulance", "overdose"),
    ("💊💊💊💊💊 🥃🥃 😴 4ever", "pill_emoji_goodbye", "overdose"),
    ("lol so my taper failed again and honestly im just gonna drive into the river on the way home", "drive_into",
     "suicide"),
    ("whats the max you can take of valium before its bad? asking after the fact", "asked_after_taking", "overdose"),
    ("how much is too much with wine? asking because i already took them all", "asked_after_taking", "overdose"),
    ("Client reports passive SI escalated to active over past 48h, identifies method", "clinical_suicidal", "suicide"),
    ("Client disclosed HI today toward ex-partner with specific plan", "clinical_homicidal", "harm_to_others"),
    # a clinician's shorthand for the visitor's own state (CX, stop 33)
    ("pt (me) w/ acute SI, means at home, need admission tonight", "clinical_suicidal", "suicide"),
    ("28M, current SI with intent, 30 tabs of lorazepam in the drawer", "clinical_suicidal", "suicide"),
    ("my life insurance has been in force two years so the suicide clause won't apply", "insurance_suicide_clause",
     "suicide"),
    ("I intentionally consumed my remaining supply of temazepam at 8pm", "took_everything", "overdose"),
    ("last night he posted a goodbye on Facebook", "goodbye_posted", "suicide"),
    ("I'm not planning on being around much longer and I want it sorted", "suicide_phrases", "suicide"),
    ("Is it kinder to do it on a weekend so my coworkers aren't the ones who find me?", "who_finds_me", "suicide"),
    ("help pls im not ok idk where i am phone on 4%", "lost_now", "general"),
    # the most painless way to die or to go; goodbyes said to people
    ("what's the most painless way to go", "lethal_intent", "suicide"),
    ("what's the least painful way to do it", "lethal_intent", "suicide"),
    ("is there a painless way to die from pills", "lethal_intent", "suicide"),
    ("painless ways with benzos?", "lethal_intent", "suicide"),
    ("how many would it take to not wake up", "lethal_intent", "suicide"),
    ("I just want to say goodbye", "say_goodbye", "suicide"),
    ("saying goodbye to everyone tonight", "suicide_phrases", "suicide"),
    ("i wanted to say goodbye to my kids first", "suicide_phrases", "suicide"),
    # dangers stated in other languages (never vetoed)
    ("ho preso troppe pillole di xanax con il vino, mi sento strana", "other_language", "general"),
    ("mon copain a des douleurs thoraciques très fortes et il transpire beaucoup", "other_language", "general"),
    ("mój mąż grozi że zabije mnie i dzieci", "other_language", "general"),
    ("chồng tôi đang cầm dao và đòi giết tôi", "other_language", "general"),
    ("non sono al sicuro stasera, ho paura di quello che posso fare", "other_language", "general"),
    ("aaj raat saari goliyan kha lunga, plan ready hai", "other_language", "general"),
    ("khadt 7obob ketir men el xanax w mesh 2adra at7arak", "other_language", "general"),
    ("naka-ready na yung mga gamot ko, iinumin ko lahat mamaya", "other_language", "general"),
    # a decision, a plan for tonight or the means (stop 28)
    ("ya lo decidí, esta noche voy a quitarme la vida", "other_language", "general"),
    ("dejé una carta de despedida en la mesa", "other_language", "general"),
    ("j'ai écrit une lettre d'adieu à ma sœur", "other_language", "general"),
    ("ce soir je vais mettre fin à mes jours", "other_language", "general"),
    ("heute nacht nehme ich alle tabletten", "other_language", "general"),
    ("ich will mich heute nacht umbringen", "other_language", "general"),
    ("hoje vou tirar minha vida", "other_language", "general"),
    ("stasera voglio togliermi la vita", "other_language", "general"),
    # jumping, blue lips, breathing badly, a knife, bleeding, wanting to die (stop 29)
    ("estoy en la azotea y voy a saltar", "other_language", "general"),
    ("mi hermano tiene los labios azules y respira muy mal", "other_language", "general"),
    ("il a les lèvres bleues depuis tout à l'heure", "other_language", "general"),
    ("mon mari menace de tuer le voisin", "other_language", "general"),
    ("meu pai está com a boca roxa depois dos remédios", "other_language", "general"),
    ("sie hat blaue lippen und atmet kaum", "other_language", "general"),
    ("ha le labbra blu e non si muove", "other_language", "general"),
    ("pagod na ako, gusto ko nang mamatay ngayong gabi", "other_language", "general"),
    ("bas ab sab khatam kar dunga aaj", "other_language", "general"),
    ("otets ne dyshit, pomogite", "other_language", "general"),
    ("mama is going to sleep for good, she said so on the phone", "suicide_phrases", "suicide"),
    ("this is my last msg to anyone, sorry", "suicide_phrases", "suicide"),
    ("I told you I was better last week. I'm not. The rope is ready.", "suicide_plan_means", "suicide"),
    ("she just sent me a photo of a rope and said goodbye", "suicide_plan_means", "suicide"),
    # pills stashed for the end, slang for it, a means with the resolve to use it (stop 24)
    ("ive got enough alprazolam put away and im done waiting", "stockpile", "suicide"),
    ("saved 2 months of xanax for tonight", "stockpile", "suicide"),
    ("I've been stockpiling my klonopin for weeks", "stockpile", "suicide"),
    ("the only taper im interested in is tapering off life", "suicide_slang", "suicide"),
    ("Clear enough to finally go through with it. The helium tank came today.", "means_and_resolve", "suicide"),
    # a recurring symptom that is happening now still escalates
    ("every night my chest hurts and now its spreading to my left arm", "chest_heart", "medical"),
    # twitching said of a person is a seizure
    ("she's twitching and won't answer me", "seizure_event", "seizure"),
    ("my husband has been twitching on the floor for 2 minutes", "seizure_event", "seizure"),
    # mixing while writing, a mixing question asked after doing it, "too late for me, already done it"
    ("mixing ativan with my kratom and a few beers rn, is that a problem", "mixing_in_progress", "overdose"),
    ("is it dangerous to mix ativan and methadone? just did it, legs feel heavy", "mixed_then_asked", "overdose"),
    ("nvm. too late for me now, already done it", "too_late_done", "general"),
    # stop 25: a loaded shotgun at hand, pills and a drink in emoji, seizures without waking between, wandering into
    # traffic, and a danger whose sentence has a year or "what I used to take" that is not the past
    ("My shotgun's loaded on the kitchen table and I've been sitting with it since supper.", "suicide_plan_means",
     "suicide"),
    ("the gun's on the table next to me", "means_at_hand", "suicide"),
    ("the gun been sitting on my nightstand all night", "means_at_hand", "suicide"),
    ("😵💊💊💊🍷", "pills_drink_distress", "overdose"),
    ("is it normal for my girlfriend to have two seizures in a row without waking up in between?", "seizure_no_waking",
     "seizure"),
    ("he had back to back seizures and hasn't woken up", "seizure_cluster", "seizure"),
    ("my mom is walking on the highway shoulder in her nightgown, she thinks it's 1985", "wandering_in_traffic",
     "psychosis"),
    ("I took what I used to take plus more. so heavy, can't keep my eyes open", "took_and_sedated", "overdose"),
    ("he had a seizure last week and now hes shaking and jerking again", "seizure_event", "seizure"),
    # quiet voices (author AZ): not safe said with "I don't think", can't seem to wake him, down and can't get up,
    # gas with symptoms, a closed garage, all of them at once tonight
    ("I don't think I'm safe on my own tonight and I'd rather not say why.", "not_safe", "general"),
    ("my husband has been asleep in his chair since lunchtime and I can't seem to wake him", "collapse", "medical"),
    ("My father, who is 90, fell this morning and cannot get up.", "fell_cannot_get_up", "medical"),
    ("I think I left the gas hob on for hours, the kitchen smells strongly and I feel dizzy", "gas_leak", "medical"),
    ("If a client were found in their car in a closed garage, who would contact the family?", "closed_garage",
     "suicide"),
    ("I'll only need them once more, tonight, all at the same time", "all_at_once_tonight", "suicide"),
    # stop 30's fresh authors: a diabetic's low sugar, preeclampsia's signs, flying from a height, Spanish voices
    ("so shaky and confused, my meter says 38 and I can't find my glucose tabs", "low_blood_sugar", "medical"),
    ("8 months pregnant, seeing spots and my hands and face are really swollen, is it withdrawal?",
     "pregnant_warning_signs", "medical"),
    ("I've figured out I can fly. I'll try from my balcony tonight", "flying_from_height", "psychosis"),
    ("escucho voces y me dicen que lastime a mi hijo", "other_language", "general"),
    ("im kinda fuzzy from the xanax but i gotta drive my kids to school in 10 min", "driving_impaired", "general"),
    # stop 31's fresh authors: a last word
    ("Tonight is the last you'll ever hear from me. Tell my sister I'm sorry.", "last_words", "suicide"),
    ("this is the last time anyone will hear from me", "last_words", "suicide"),
    ("this is the last you'll hear from me in this life", "last_words", "suicide"),
    ("this is the last you'll hear from me for good", "last_words", "suicide"),
    ("she won't stop crying and I just held a pillow over her face for a second, I'm alone with her", "smothering",
     "harm_to_others"),
    ("checked my life insurance again. the two years have passed. so that's sorted", "insurance_suicide_clause",
     "suicide"),
])
def test_each_danger_escalates_with_its_rule_and_kind(matcher, text, rule, kind):
    detection = matcher.detect(text)
    assert detection is not None, matcher.explain(text)
    assert (detection.rule, detection.kind) == (rule, kind)


@pytest.mark.parametrize("text", ["IM GONNA JUMP", "Im Gonna Jump", "im gonna jump"])
def test_capitals_are_split_into_the_words_lower_case_gives(matcher, text):
    doc = matcher.normalise(text)
    assert [token.norm_ for token in doc] == ["i", "m", "going", "to", "jump"]
    assert doc.text == text  # the text stays as written (explanations quote it)


def test_a_character_whose_lower_case_is_longer_keeps_the_text_whole(matcher):
    doc = matcher.normalise("\u0130stanbul TONIGHT")
    assert doc.text == "\u0130stanbul TONIGHT"
    assert [token.norm_ for token in doc][-1] == "tonight"


def test_a_cry_for_help_takes_the_kind_of_the_danger_it_names(matcher):
    detection = matcher.detect("help help my dad has stopped breathing")
    assert detection is not None and detection.rule != "cry_for_help" and detection.kind != "general"


def test_a_danger_named_in_another_language_may_be_vetoed_but_one_stated_now_may_not(matcher):
    told = matcher.detect("mi tía casi tuvo una sobredosis con valium, tienen programa en español?")
    stated = matcher.detect("mi hermano no respira")
    assert told is not None and told.rule == "other_language_words" and matcher.vetoable(told.rule)
    assert stated is not None and stated.rule == "other_language" and not matcher.vetoable(stated.rule)


def test_not_waking_up_at_an_hour_is_sleep_not_lethal_intent(matcher):
    reasons = {m["rule"]: m["dropped"] for m in matcher.explain("I want to sleep and not wake up at 3am again")}
    assert reasons["lethal_intent"] == "figurative"


def test_no_single_word_of_another_language_is_corrected_into_an_english_word(matcher):
    """A word of another language that the misspelling correction turns into an English crisis word ("suicidio" ->
    "suicidal") would match the English word too: the other-language rules must not hold one alone."""
    spec = yaml.safe_load(PATTERNS_PATH.read_text(encoding="utf-8"))
    for rule in spec["rules"]:
        if rule["name"].startswith("other_language"):
            for phrase in rule["phrases"]:
                doc = matcher.normalise(phrase)
                assert len(doc) > 1 or doc[0].norm_ == doc[0].lower_, (rule["name"], phrase)


def test_a_rule_may_narrow_its_negation_window(matcher):
    """"im not ok idk where i am": the default window (3) would read "not" as negating the rule."""
    doc = matcher.normalise("im not ok idk where i am")
    start = [token.norm_ for token in doc].index("idk")
    assert matcher._negated(doc, start) and not matcher._negated(doc, start, window=1)


def test_a_plan_for_the_days_ahead_is_not_read_as_history(matcher):
    told = "I have taken Halcion since 1991. I have decided that when I run out next week I will take the lot."
    assert matcher.assess(told).benign is None
    assert matcher.assess("I have taken Halcion since 1991 and I worry about stopping.").benign == "history"


def test_a_call_for_help_in_another_language_may_be_vetoed(matcher):
    detection = matcher.detect("necesito ayuda por favor con el seguro de mi mamá")
    assert detection is not None and matcher.vetoable(detection.rule)


# stop 23 and 24's rules: look-alikes of each that must not fire
@pytest.mark.parametrize("text", [
    "goodbye, thanks for the help!",
    "ok bye for now, I'll call tomorrow",
    "my hands turn blue in the cold, is that the taper?",
    "is my lips turning blue a sign of overdose?",
    "help! how do I fill in the callback form",
    "can you help me help my mom find a detox",
    "please call me back tomorrow morning",
    "I'm going to give all my clonazepam to the pharmacy take-back",
    "my grandma had a stroke years ago, can she still taper",
    "what does OD mean on my prescription label",
    "he's going grey lol",
    "In the movie I watched last night the guy writes notes to everyone and then takes pills. Do you show movies?",
    "whats the most painless way to taper off klonopin??",
    "What's the most painless way to tell my family I'm going to rehab?",
    "whats the most painless way to get off xanax. im so tired of withdrawal",
    "Saying goodbye to my Klonopin tonight! Last dose after 18 months",
    "im a nurse, what screening tool do you use for suicidal ideation at intake?",
    "mi mamá tuvo una sobredosis de clonazepam hace un año, ahora está bien",
    "ich hatte vor zwei jahren einen krampfanfall beim entzug. heute geht es mir gut",
    "I crashed my car into a ditch two years ago during withdrawal, can I drive during a taper?",
    "does life insurance pay out for suicide? asking for a school paper",
    "is homicidal ideation a withdrawal symptom?",
    "do I need to bring my life insurance policy to intake?",
    "How long is the program? Asking because I already took my last 0.25mg this morning per my taper plan",
    "I FEEL LIKE IM DYING EVERY MORNING WITH THIS ANXIETY BUT I KNOW IM NOT",
    "I'm not ok with the cost, do you know where I am supposed to send the form?",
    # stop 24: a stash asked about or told as the past, safe storage, enough to keep tapering, party helium, the taper
    # gone through with, a symptom that comes every night or comes and goes
    "is it dangerous to stockpile my pills?",
    "back in 2019 I saved up enough xanax to die and my sister found it",
    "I keep my pills in a lockbox so I can't take extra",
    "I counted my remaining klonopin so I know I have enough to keep tapering until my admission",
    "picked up a helium tank for my daughter's party, can I still go through with the taper plan?",
    "I'm going through with it, admission is monday",
    "Every night around 3am I feel like I'm having a heart attack, but it's the same panic attack I always get",
    "my hand has been twitching on and off for a week, comes and goes, is that the start of a seizure",
    "my eyelid has been twitching for 4 days straight",
    "my son has twitching eyelids, is that the taper",
    "taking xanax with wine, is that safe?",
    "can you mix valium with gabapentin? my doctor prescribed both",
    "I already did it, the intake form is submitted",
    "too late for me to apply for this month?",
    # stop 25: a mixing question in emoji, seizures in a row asked about or over, a past walk, a past dose compared
    "🍷 + 💊 = bad idea? help me understand",
    "can you have two seizures in a row from withdrawal?",
    "he had 3 seizures in a row back in 2019, hes fine now",
    "I used to walk along the highway to school",
    "is it safe to drive on the highway during a taper?",
    "I used to take more than that and got so sleepy I couldn't keep my eyes open",
    "Our beagle had a seizure last week and the vet sent him home with diazepam",
    "I fell asleep on the couch and now I can't get up the energy",
    "my mom fell last year and couldn't get up for hours, she's fine now, can she still come?",
    "what if she falls and can't get up while tapering?",
    "I can't seem to wake up before noon since the taper",
    # stop 28: "took too" of time; not wanting to live like this, in other languages
    "ya no quiero vivir así, con tanta ansiedad, ¿tienen programa en español?",
    "je ne veux plus vivre comme ça, combien coûte le programme?",
    "non voglio più vivere così, aiutatemi con il taper",
    "hace cinco años quería quitarme la vida, ahora estoy bien",
    "hace dos años pensé en quitarme la vida, hoy quiero ayudar a otros",
    "vor drei jahren wollte ich mir das leben nehmen, heute bin ich benzofrei",
    "il y a 4 ans j'ai voulu mettre fin à mes jours, je vais mieux",
    # stop 29: "years ago" as a token pattern: any number in digits, or a number word
    "I'm at the end of my rope with this taper, when does it get easier?",
    "my husband borrowed a tow rope to pull the neighbour's car out",
    "I've started skipping rope for exercise during the taper",
    "I flushed the whole bottle of klonopin, I'm done with it, was that a mistake?",
    "we locked up the whole bottle in the safe so grandma can't double dose",
    "woke from a nightmare with my heart racing, took 20 min to calm down",
    "the first dose took 45 secs to dissolve under my tongue",
    "I finally sleep for good stretches at night now",
    "¿es verdad que dejar el rivotril de golpe puede dar convulsiones? quiero dejarlo con seguridad",
    "é verdade que parar o clonazepam de uma vez pode dar convulsão?",
    "hace 35 años quería quitarme la vida, ahora estoy bien",
    "vor zwanzig jahren wollte ich mir das leben nehmen, heute bin ich benzofrei",
    "il y a quinze ans j'ai voulu mettre fin à mes jours, je vais mieux",
    "há 12 anos eu quis acabar com a minha vida, hoje estou bem",
    "I cried because the kettle took too long, is this withdrawal",
    "sorry the intake form took too long to fill in",
    "should I take my evening pills all at once or spread out?",
    "my sugar was 38 this morning but juice fixed it, I'm fine now",
    "my glucose is 140 after dinner, does ativan raise it?",
    "I feel like I can fly since quitting xanax, coffee on the balcony every morning",
    "back in 2019 when I was pregnant I kept seeing spots before my eyes",
    "my sugar dropped 40 points after lunch, is that the taper?",
    "my son can fly here on Friday, does his room have a window?",
    "I'm pregnant and seeing spots on my skin, a rash from the taper?",
    "32 weeks pregnant and my ankles are swollen",
    "I have to drive to work tomorrow, will klonopin make me foggy?",
    "I was so out of it last year I couldn't drive, now I'm fine",
    "this is the last time you'll hear from me on here, the mods locked my thread",
    "ok this is the last time you'll hear from me about the insurance forms, promise",
    "the last time you heard from me I was still on 2mg",
    "I gave away the whole bottle to my sister so I can't reach for it",
    "she hid the whole bottle from him before the party",
    "does my life insurance pay out even if I die in detox?",
    "I have intrusive thoughts of smothering my baby, is that a withdrawal thing?",
    "should I put a blanket over the baby's face when she naps?",
    "I put the pillow on the bed and fell asleep",
    "my life insurance has a two year exclusion period, what does that mean for rehab?",
])
def test_look_alikes_of_recent_rules_do_not_escalate(matcher, text):
    assert matcher.detect(text) is None, matcher.explain(text)


@pytest.mark.parametrize("text", [
    "hace dos horas quería quitarme la vida y tengo las pastillas aquí",
    "il y a deux minutes j'ai décidé de mettre fin à mes jours",
    "hace dos semanas dejé el clonazepam y esta noche me quito la vida",
])
def test_years_ago_needs_years(matcher, text):
    # the number word alone is not history: hours, minutes and weeks ago are when the danger began
    assert matcher.detect(text) is not None, matcher.explain(text)


def test_veto_below_is_read_per_rule_and_stays_under_the_clause_guard(matcher):
    # the detector's rule_veto is 0.005 and its clause_veto 0.8 (config.yml): a rule's own threshold lies between
    own = {name: matcher.veto_below(name) for name in matcher.rules}
    set_ = {name: value for name, value in own.items() if value is not None}
    assert "psychosis_signs" in set_ and "overdosed" in set_
    assert own["took_everything"] is None and own["harm_others"] == 0.05  # stop 33
    assert all(0.005 < value < 0.8 for value in set_.values()), set_
    assert all(matcher.vetoable(name) for name in set_), "a rule the classifier never overrules has no veto_below"


def test_a_combination_takes_vetoable_as_a_rule_does(matcher):
    assert not matcher.vetoable("death_emoji_threat")
    assert not matcher.vetoable("insurance_suicide_clause")  # stop 31: its fresh emergency read 0.2% danger
    assert matcher.vetoable("blade_and_blood") and matcher.veto_below("blade_and_blood") is None
    assert matcher.vetoable("no_such_rule")


def _walk(doc, start, end, breaks):
    """The sentence or clause around start:end found by walking token by token (the old way)."""
    s = start
    while s > 0 and doc[s - 1].norm_ not in breaks and "\n" not in doc[s - 1].text:
        s -= 1
    e = end
    while e < len(doc) and doc[e].norm_ not in breaks and "\n" not in doc[e].text:
        e += 1
    return s, e


@pytest.mark.parametrize("text", [
    "I took them all. Help me, please! He is not waking up; what do I do?",
    "seizure fell and he hit his head but now hes asleep... is that normal\nhe wont wake",
    ". , ; start with breaks and end with them , .",
    "one",
])
def test_sentence_and_clause_spans_are_those_of_a_walk(matcher, text):
    from bot.crisis.matcher import CLAUSE_BREAKS, SENTENCE_BREAKS

    doc = matcher.normalise(text)
    for start in range(len(doc)):
        for end in range(start + 1, len(doc) + 1):
            assert matcher._sentence(doc, start, end) == _walk(doc, start, end, SENTENCE_BREAKS)
            assert matcher._clause(doc, start, end) == _walk(doc, start, end, SENTENCE_BREAKS | CLAUSE_BREAKS)


@pytest.mark.parametrize("shape", ["help ", "seizure fell ", "can't wake seizure fell ", "all at once tonight pills "])
def test_a_long_message_of_danger_words_reads_each_sentence_once(matcher, monkeypatch, shape):
    """Each of hundreds of matches asks about its sentence; the sentence is scanned once, not per match
    (a 4,000-character message of "help help ..." took 9 s when it was scanned per match)."""
    text = shape * (4000 // len(shape))
    assert len(matcher.matches(matcher.normalise(text))) > 100
    calls = []
    scan = CrisisMatcher._contains_seq

    def counted(norms, seqs, is_number=None):
        calls.append(1)
        return scan(norms, seqs, is_number)

    monkeypatch.setattr(CrisisMatcher, "_contains_seq", staticmethod(counted))
    matcher.assess(text)
    assert len(calls) < 20


def test_reported_speech_counts_only_before_the_match(matcher):
    """Reported speech ("a friend said") makes a match reported only when it comes before the match."""
    doc = matcher.normalise("a friend said she took the whole bottle, I read that")
    s, e = matcher._sentence(doc, 5, 6)
    assert [t.norm_ for t in doc[:3]] == ["a", "friend", "said"]
    assert matcher._reported_before(doc, s, e, 3)
    assert not matcher._reported_before(doc, s, e, 2)


@pytest.mark.parametrize("text", [
    "Writing a screenplay where a mom finds her son passed out from bars and vodka. What would paramedics do?",
    "I'm writing a novel where the main character takes the whole bottle of her xanax after a breakup. Realistic?",
    "writing a fanfic where the mc has a seizure from benzo withdrawal, what would it look like irl?",
    "I'm a novelist and one of the main characters has a seizure at her sister's wedding. What would guests see?",
])
def test_fiction_is_told_not_happening(matcher, text):
    """A scene of a screenplay, a novel or a story is reported, not a danger now (stop 32's fresh look-alikes)."""
    assert matcher.detect(text) is None
    assert matcher.assess(text).benign is not None


@pytest.mark.parametrize("text", [
    "this is not a novel, I just took the whole bottle of xanax and I feel really weird",
    "my screenplay can wait. my husband took too much of his pills and I can't wake him up",
    "I'm a screenwriter and right now my roommate is having a seizure on the floor, what do I do",
    "this is the final chapter, I took all my pills",
    "is there a novel treatment for this? my husband took too much of his pills",
    "posted goodbye in my story on insta, I took all my pills",
])
def test_fiction_words_do_not_hide_a_danger_now(matcher, text):
    assert matcher.detect(text) is not None


def test_reports_finds_a_source_or_a_story_anywhere(matcher):
    assert matcher.reports("in one scene she takes the whole bottle")
    assert matcher.reports("she takes the whole bottle, a forum post said")
    assert not matcher.reports("she took the whole bottle and won't wake up")
    assert not matcher.reports("")


@pytest.mark.parametrize("text, rule", [
    ("gonna shoot up my job tmrw", "harm_others"),
    ("im going to shoot up the school on monday", "harm_others"),
    ("driving home on 4 bars lol", "driving_impaired"),
    ("about to drive to work on 6 beers", "driving_impaired"),
])
def test_a_shooting_at_a_place_and_driving_on_a_count_of_bars(matcher, text, rule):
    assert matcher.detect(text).rule == rule


@pytest.mark.parametrize("text", [
    "he used to shoot up heroin before he got on xanax",
    "driving to work on 2mg of klonopin a day, is that allowed?",
    "my phone is on 2 bars, sorry if this cuts out",
    "I was on 4 bars a day back in college, clean now",
])
def test_drug_slang_and_bars_of_signal_are_not_those(matcher, text):
    assert matcher.detect(text) is None
