#!/usr/bin/env python3
"""make_ftfy_fixtures.py - reference output of ftfy's mojibake repair
(fix_encoding, inside fix_text) and transformers' CLIPTokenizer token ids,
for diffuse's port in src/text/text_fix_encoding.c.

Writes tests/fixtures/tokens/ftfy.json:

  {"generator", "ftfy", "transformers",
   "prompts": [{"text", "fixed", "ids", "kind"}, ...],
   "is_bad": [[text, bool], ...]}

"fixed" is ftfy.fix_text(text) (what CLIPTokenizer's basic_clean calls),
"ids" is tokenizer(text, add_special_tokens=False).input_ids with the
tokenizer of tools/make_token_fixtures.py (vocabulary from data/), "kind"
says how the prompt was made. "is_bad" holds short strings with
ftfy.badness.is_bad's verdict, built to reach every alternative of its
regular expression.

The prompts are made systematically: real text (accents, curly quotes,
dashes, emoji, CJK, Greek, Cyrillic, Central European, Turkish, Baltic,
symbols) encoded as UTF-8 and decoded as Latin-1, Windows-1250..1258,
ISO-8859-2, MacRoman and CP437; doubled mojibake; mojibake mixed with
correct text; byte 0xA0 turned into a space; fragments of mojibake inside
otherwise correct UTF-8 ("inconsistent UTF-8"); lossy U+FFFD sequences;
CESU-8 and Java's "\\xC0\\x80"; and text that must come out unchanged
(real Latin-1 like "naïve café", "Ã" on its own).

Usage (from the repository root, with Python 3.11, ftfy 6.3.1 and
transformers 4.57 -- .venv-tools has them):
  .venv-tools/bin/python tools/make_ftfy_fixtures.py
"""

import argparse
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_token_fixtures  # noqa: E402  (vocab files as for reference.json)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokens", "ftfy.json")

REAL = [
    "café crème",
    "naïve façade, déjà vu",
    "Ångström and Øresund",
    "Mötley Crüe über alles",
    "l’été à Paris",
    "it’s a dog’s life",
    "“quoted” and ‘single’",
    "rock — roll – and… more",
    "señor niño, ¿qué?",
    "Straße, Größe",
    "emoji 😀 👍🏽 ✨",
    "❤️ heart and ✔ check",
    "日本語のテキスト",
    "中文提示词，杰作",
    "한국어 프롬프트",
    "Αθήνα, ελληνικά γράμματα",
    "Москва, ёжик в тумане",
    "Łódź, Gdańsk, zażółć gęślą",
    "Příliš žluťoučký kůň",
    "İstanbul, ağaç, şeker",
    "Rīga, Kaunas, ėjo",
    "© 2024 ® ™ 25°C ±5 µm",
    "price €5, £3, ¥100, ½ off",
    "no\u00a0break\u00a0space",
    "Tiếng Việt dễ thương",
    "العربية سلام",
]

ENCODINGS = ["latin-1", "windows-1252", "windows-1250", "windows-1251", "windows-1253",
             "windows-1254", "windows-1255", "windows-1256", "windows-1257", "windows-1258",
             "iso-8859-2", "macroman", "cp437"]

UNCHANGED = [
    "naïve café",
    "Ã",
    "Ã on its own",
    "Â",
    "fiancée’s résumé",
    "Ægir, Þór, Ðan",
    "×2 ÷3 ±4",
    "°C, µs, ¼ cup",
    "©®™",
    "«guillemets»",
    "¿Qué? ¡Sí!",
    "Crème brûlée à la carte",
    "São Paulo, Curaçao",
    "Ελληνικά",
    "Москва",
    "łódź",
    "ÀÉÎÕÜ àéîõü",
    "a photo of a cat",
    "voilà",
    "Ð",
    "ð",
    "ØÙ",
    "ÂÃÎÐ",
    "masterpiece, best quality, Ã©",
]


def cesu8(text):
    out = b""
    for ch in text:
        if ord(ch) >= 0x10000:
            units = ch.encode("utf-16-be")
            for k in (0, 2):
                out += chr(int.from_bytes(units[k:k + 2], "big")).encode("utf-8", "surrogatepass")
        else:
            out += ch.encode("utf-8")
    return out


def mojibake(text, encoding):
    return text.encode("utf-8").decode(encoding, errors="replace")


def corpus(rng):
    items = []

    def add(text, kind):
        items.append((text, kind))

    for real in REAL:  # every real text through every codec
        for encoding in ENCODINGS:
            add(mojibake(real, encoding), "utf8-as-" + encoding)
    for real in REAL[:14]:  # doubled
        add(mojibake(mojibake(real, "windows-1252"), "windows-1252"), "double-windows-1252")
        add(mojibake(mojibake(real, "latin-1"), "windows-1252"), "double-latin-1-windows-1252")
    for real in REAL:  # in a prompt, next to correct text
        encoding = rng.choice(ENCODINGS[:5])
        add("a photo of %s, masterpiece, %s" % (mojibake(real, encoding), rng.choice(REAL)),
            "mixed-" + encoding)
    for real in REAL:  # 0xA0 turned into a space by some program
        broken = mojibake(real, "windows-1252").replace("\u00a0", " ")
        add(broken, "nbsp-as-space")
    for word in ["à", "àquele", "às ", "fàcil", "voilà le", "Pà trà"]:
        add(mojibake(word, "windows-1252").replace("\u00a0", " "), "nbsp-a-grave")
    for real in REAL:  # inconsistent UTF-8: mojibake inside correct text
        add("%s %s %s" % (rng.choice(REAL), mojibake(rng.choice(REAL[:12]), "windows-1252"),
                          rng.choice(REAL[12:])), "inconsistent-utf8")
        add("‘%s’ — %s" % (mojibake(real, "windows-1252"), real), "inconsistent-utf8")
    for real in REAL[:10]:  # lossy: undefined bytes became U+FFFD
        add(real.encode("utf-8").decode("windows-1252", errors="replace"),
            "lossy")
        add(mojibake(real, "windows-1252")[:-1] + "\ufffd", "lossy")
    for text in ["emoji 😀 here é", "😀", "a 👍🏽 b", "é😀\n"]:  # CESU-8
        add(cesu8(text).decode("latin-1"), "cesu-8")
    for text in ["Ã©À\n", "cafÃ©À\x80 ok", "Ã©À\nsecond line Ã©", "x\nÃ©À\n"]:  # Java NUL
        add(text, "java-null")
    for text in ["caf\u0081Ã©", "\u0080\u0081\u009f", "abc\u0093q\u0094 é", "Ã\u0081",
                 "Ã©\u0081", "â\u0080\u0094", "Ã¢Â€Â\u009c", "\u001aÃ©"]:  # C1 controls
        add(text, "c1")
    for text in ["line one cafÃ©\nline two naÃ¯ve\r\nthree", "&Atilde;&copy; &amp; cafÃ©",
                 "<b>cafÃ©</b>", "cafÃ©<|endoftext|>naÃ¯ve", "ＣａｆÃ© ﬁne"]:
        add(text, "with-other-fixers")
    for text in UNCHANGED:
        add(text, "unchanged")
    seen, out = set(), []
    for text, kind in items:
        if text not in seen:
            seen.add(text)
            out.append((text, kind))
    return out


BAD_ALPHABET = list(
    "ÂÃÎÐ€œŠš¢£Ÿž\xa0\xad®©°·»–—´×²³ØÙàìîïòôúùûπâóäê√±∂†≠™≤≥¥µø≈ΆВГРСЂўΒΓΞΟā"
    "abzAZ .,?!\n\x85\x9f\t_1’“”‘„•‹›¦¤¨¬¯¸ƒˆˇ˘˛˜‡‰◊\ufffdªº¶§¿«¡ÒÖÙÜòöüŐŌŪŲÀÑÝĂĀÉñßăąçÞ"
    "ΑΩΈΉΪЁЯαωάаџ│┌═╬▀▓\u3000\x1c")
BAD_PREFIXES = ["ГўВЂВ", "‚Ä", "‚", "√", "≈", "β€", "вЂ", "ā€", "Ø", "Ù", "ØŸ", "Ã", "Â",
                "a ", "a", "×", "à", "В", "Β", "Œ", "œ", " Ã"]


def bad_cases(rng, is_bad):
    cases = set()
    while len(cases) < 1500:
        cases.add("".join(rng.choice(BAD_ALPHABET) for _ in range(rng.randint(1, 5))))
    while len(cases) < 3000:
        s = "".join(rng.choice(BAD_ALPHABET) for _ in range(rng.randint(0, 2)))
        s += rng.choice(BAD_PREFIXES)
        s += "".join(rng.choice(BAD_ALPHABET) for _ in range(rng.randint(0, 3)))
        cases.add(s)
    return [[c, is_bad(c)] for c in sorted(cases)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=OUT)
    args = parser.parse_args()

    import ftfy
    import transformers
    from ftfy.badness import is_bad
    from transformers import CLIPTokenizer

    assert ftfy.__version__ == "6.3.1", ftfy.__version__
    with tempfile.TemporaryDirectory() as directory:
        make_token_fixtures.write_vocab_files(directory)
        tokenizer = CLIPTokenizer(os.path.join(directory, "vocab.json"),
                                  os.path.join(directory, "merges.txt"))
    assert tokenizer.fix_text is not None, "ftfy must be installed"

    rng = random.Random(20261203)
    prompts = []
    changed = 0
    for text, kind in corpus(rng):
        fixed = ftfy.fix_text(text)
        ids = tokenizer(text, add_special_tokens=False).input_ids
        changed += ftfy.fix_encoding(text) != text
        prompts.append({"text": text, "fixed": fixed, "ids": ids, "kind": kind})
    bad = bad_cases(rng, is_bad)

    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/make_ftfy_fixtures.py", "ftfy": ftfy.__version__,
                   "transformers": transformers.__version__, "prompts": prompts,
                   "is_bad": bad}, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("%d prompts (%d changed by fix_encoding), %d is_bad cases (%d bad), %d bytes -> %s"
          % (len(prompts), changed, len(bad), sum(b for _, b in bad),
             os.path.getsize(args.output), os.path.relpath(args.output, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
