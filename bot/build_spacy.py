"""Build the project's spaCy pipeline: a blank English tokenizer plus the lookup lemmatizer.

No pretrained English pipeline can be installed here, so the pipeline is assembled from
``spacy.blank("en")`` and the lemma tables shipped by the ``spacy-lookups-data`` package.
Nothing is downloaded: the tables come from site-packages.

    python -m bot.build_spacy [OUTPUT_DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path

import spacy

from bot.settings import SPACY_DIR as DEFAULT_OUTPUT


def build(output: Path = DEFAULT_OUTPUT) -> Path:
    """Assemble, check and save the pipeline; returns the directory it was written to."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    doc = nlp("She was having seizures and took pills")
    lemmas = [t.lemma_ for t in doc]
    if lemmas[2] != "have" or lemmas[3] != "seizure":
        raise RuntimeError(f"lookup lemmatizer gave {lemmas!r}: is spacy-lookups-data installed?")
    output.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    return output


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    out = build(Path(argv[0]) if argv else DEFAULT_OUTPUT)
    print(f"spaCy pipeline (blank en + lookup lemmatizer) written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
