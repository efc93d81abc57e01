#!/usr/bin/env python3
"""make_token_fixtures.py - reference token ids for diffuse's CLIP tokenizer.

Builds a transformers CLIPTokenizer (the slow, Python one, with ftfy
installed, as AUTOMATIC1111 / open_clip environments have it) from a
vocab.json / merges.txt derived from data/clip_bpe_simple_vocab_16e6.txt.gz
exactly as openai/clip-vit-large-patch14's files are, tokenizes a corpus of
prompts, and writes tests/fixtures/tokens/reference.json:

  {"generator": ..., "prompts": [{"text", "ids", "windows_49407",
   "windows_0"}, ...]}

"ids" is tokenizer(text, add_special_tokens=False).input_ids (never
truncated); "windows_P" are AUTOMATIC1111's 77-token windows for pad token P
with the trailing run of P left out (the C test checks the rest is P).

Usage (from the repository root, with the tools venv):
  .venv-tools/bin/python tools/make_token_fixtures.py            # fixtures
  .venv-tools/bin/python tools/make_token_fixtures.py --html-table
      # prints the HTML entity table embedded in src/text/text_clean.c
"""

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB_GZ = os.path.join(ROOT, "data", "clip_bpe_simple_vocab_16e6.txt.gz")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokens", "reference.json")

START, END, COMMA = 49406, 49407, 267


def bytes_to_unicode():
    # OpenAI CLIP simple_tokenizer.py / transformers tokenization_clip.py
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_vocab_files(directory):
    """vocab.json / merges.txt as in openai/clip-vit-large-patch14."""
    lines = gzip.open(VOCAB_GZ).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    assert len(merges) == 48894
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408 and len(set(vocab)) == 49408, "merge results must be distinct"
    encoder = {v: i for i, v in enumerate(vocab)}
    # The property diffuse's heap BPE relies on: a merge only uses symbols
    # that exist before it (bytes or earlier merges).
    for rank, (a, b) in enumerate(merges):
        assert encoder[a] < 512 + rank and encoder[b] < 512 + rank, rank
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(encoder, f, ensure_ascii=False)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")


def a1111_windows(tokens, pad):
    """Port of FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line and
    process_tokens, AUTOMATIC1111/stable-diffusion-webui
    modules/sd_hijack_clip.py (commit 00e09382cd85c77ac35545c7264855823dfc2eb1),
    with opts.comma_padding_backtrack = 20 (the default), no emphasis
    parsing (the prompt is one piece of weight 1.0) and no embeddings."""
    chunk_length, backtrack = 75, 20
    chunks = []
    chunk = []
    last_comma = -1

    def next_chunk():
        nonlocal chunk, last_comma
        to_add = chunk_length - len(chunk)
        if to_add > 0:
            chunk += [END] * to_add
        chunks.append([START] + chunk + [END])
        last_comma = -1
        chunk = []

    for token in tokens:
        if token == COMMA:
            last_comma = len(chunk)
        elif backtrack != 0 and len(chunk) == chunk_length and last_comma != -1 and \
                len(chunk) - last_comma <= backtrack:
            break_location = last_comma + 1
            reloc = chunk[break_location:]
            chunk = chunk[:break_location]
            next_chunk()
            chunk = reloc
        if len(chunk) == chunk_length:
            next_chunk()
        chunk.append(token)
    if chunk or not chunks:
        next_chunk()
    if pad != END:  # process_tokens: SD2 pads after the first end token
        for w in chunks:
            index = w.index(END)
            w[index + 1:] = [pad] * (len(w) - index - 1)
    return chunks


def strip_pad(window, pad):
    n = len(window)
    while n > 0 and window[n - 1] == pad:
        n -= 1
    return window[:n]


# --------------------------------------------------------------------------
# The corpus

HANDWRITTEN = [
    "",
    " ",
    "a photo of an astronaut riding a horse on mars",
    "masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile, blue eyes",
    "A highly detailed digital painting of a castle, trending on ArtStation, by Greg Rutkowski",
    "portrait of a woman, 85mm, f/1.8, bokeh, golden hour, (masterpiece:1.2), [blurry]",
    "(((best quality))), ((ultra-detailed)), (illustration), [[worst quality]]",
    "cyberpunk city at night, neon lights, rain, reflections, 8k, octane render, unreal engine 5",
    "oil painting of a bowl of fruit, still life, Caravaggio style, chiaroscuro",
    "low quality, worst quality, bad anatomy, bad hands, extra fingers, watermark, signature",
    "a cat sitting on a windowsill BREAK a dog running in a field",
    "landscape | mountains | lake | sunrise",
    "<lora:add_detail:0.8> a forest, <hypernet:anime:1>",
    "score_9, score_8_up, score_7_up, source_anime",
    "it's a dog's life, they're here, we've won, I'm fine, you'll see, he'd go, don't",
    "IT'S A DOG'S LIFE, THEY'RE HERE, WE'VE WON, I'M FINE, YOU'LL SEE, HE'D GO, DON'T",
    "It'S 'Tis 'Re 'VE 'm 'LL 'D 's't're",
    "'s 't 're 've 'm 'll 'd ''s '''t rock'n'roll o'clock",
    "dogs' toys ' quoted ' 'single' ''double''",
    "l'été à Paris, café crème, naïve façade, Ångström, Øresund, Mötley Crüe",
    "Straße, Größe, Fußball, ẞ capital sharp s",
    "İstanbul, İZMİR, DİYARBAKIR, ıi Iı",
    "ΟΔΟΣ ΣΟΦΟΣ Σ ΑΣ. ΑΣ' ΑΣΑ Σ Σ Σ ΜΆΣ́ Ϊ",
    "Ελληνικά γράμματα, Αθήνα, ἀρετή, ᾳ ᾼ ᾈ",
    "Москва, Санкт-Петербург, ЁЛКА, ёжик в тумане",
    "日本語のテキスト、東京タワー、桜の花",
    "中文提示词：一只可爱的猫，高清，杰作",
    "한국어 프롬프트, 서울의 밤",
    "العربية: قطة لطيفة، مدينة القاهرة",
    "עברית: חתול חמוד",
    "हिन्दी: एक सुंदर बिल्ली",
    "ภาษาไทย แมวน่ารัก",
    "Tiếng Việt: con mèo dễ thương",
    "emoji 😀😃😄 🐱 🐶 🚀 ✨ ❤️ 👍🏽 👍🏿",
    "family 👨‍👩‍👧‍👦 couple 👩‍❤️‍💋‍👨 flag 🏳️‍🌈 🇫🇷🇯🇵 keycap 1️⃣ #️⃣",
    "skin tones 👋🏻👋🏼👋🏽👋🏾👋🏿 and 🧑🏾‍🚀 astronaut",
    "combining: e\u0301 a\u0300 o\u0308 n\u0303 c\u0327 (NFC composes these)",
    "multiple marks: a\u0323\u0302 q\u0307\u0323 \u1e0b\u0323 o\u031b\u0301",
    "decomposed Hangul \u1100\u1161\u11a8 and angstrom \u212b ohm \u2126 kelvin \u212a",
    "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ，ＡＢＣ　１２３！",
    "ﾊﾝｶｸ ｶﾀｶﾅ ｶﾞｷﾞ halfwidth katakana ﾟﾞ",
    "￠￡￢￣￤￥￦ ￨￩￪￫￬￭￮",
    "ligatures: ﬁne ﬂower ﬀ ﬃ ﬄ ﬅ ﬆ Ĳssel ĳs ŉ Ǆ ǅ ǆ Ǉ ǈ ǉ Ǌ ǋ ǌ Ǳ ǲ ǳ",
    "curly “double” and ‘single’ quotes, ‛reversed‟ and ʼapostrophe, don’t",
    "HTML: Tom &amp; Jerry &lt;3 &gt; &quot;quoted&quot; it&#39;s &#x27;x&#x27; a&nbsp;b",
    "more entities: &copy; &reg; &trade; &eacute;t&eacute; &hellip; &mdash; &ndash; &euro;",
    "upper-cased entities: &AMP; &LT; &EACUTE; &NTILDE; &SZLIG; &COPY;",
    "numeric: &#65;&#66;&#67; &#x41;&#X42; &#0; &#13; &#128; &#150; &#153; &#159; &#55296; &#1114112; &#59;",
    "broken: &amp &notanentity; &#xZZ; &#12ab; &; &#; &#x; &ampamp; &&amp;",
    "long entity name &aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; and &#0000000000000000000000065; &#00000000000000000000000065;",
    "double escaped &amp;amp; &amp;lt; &amp;#39;",
    "has <b>html</b> &amp; entities",
    "first line &amp; ok\nsecond <line> &amp; off\nthird &amp; still off",
    "x &amp;\n<\n&amp; y",
    "control\x00chars\x01here\x07\x08 and\x0bvertical\x0cform\x0efeed\x1f\x7fdel",
    "bidi \u202aembedding\u202c \u200bzero width\u200b \u200czwnj\u200d zwj \u2060wj \ufeffbom \u206atext",
    "specials \ufff9\ufffa\ufffb\ufffc\ufffd \ufeff",
    "C1 controls \x80 \x85 \x8d \x91hi\x92 \x93q\x94 \x96 \x97 \x99 \x9f",
    "terminal \x1b[31mred\x1b[0m \x1b[1;32;40mbold\x1b[m \x1b[12 \x1b[",
    "tabs\tand\t\ttabs, newlines\n\nand\r\nCRLF\rCR \u2028LS\u2029PS \x85NEL",
    "   leading and trailing spaces   ",
    "multiple     spaces   between    words",
    "no-break\u00a0space, thin\u2009space, ideographic\u3000space, nnbsp\u202fx, ogham\u1680y",
    "numbers 0 1 12 123 1234 12345 3.14159 1,000,000 1e10 0x1F 2024-01-01 10:30",
    "unicode digits ٠١٢٣ ۴۵۶ ०१२ ½ ¾ ² ³ Ⅻ ⅻ ① ⑩",
    "punctuation!!! ??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}}",
    "mixed!?.,;:'\"`~-_=+|\\/<>",
    "a,b,c,d,e , f ,g,, h,,, i",
    "UPPER CASE PROMPT, ANOTHER ONE",
    "CamelCaseWordsAndMixedCASE",
    "<|startoftext|>",
    "<|endoftext|>",
    "a <|endoftext|> b",
    "a<|endoftext|>b<|startoftext|>c",
    "<|startoftext|> a photo <|endoftext|> <|endoftext|>",
    "<|ENDOFTEXT|> <|EndOfText|> <|ſtartoftext|> ＜｜endoftext｜＞",
    "<|endoftext|",
    "<<|endoftext|>> |<|endoftext|>|",
    "&lt;|endoftext|&gt;",
    "!<|endoftext|> '<|startoftext|>",
    "long s: ſ 'ſ dogſ ſtop",
    "Kelvin \u212a ohm \u2126 micro \u00b5 ﬁ",
    "\u0345 iota subscript alone, a\u0345b, \u03b1\u0345",
    "private use \ue000\uf8ff and plane 15 \U000f0000",
    "noncharacters \ufdd0 \uffff \U0001fffe",
    "math 𝐀𝐁𝐂 𝒜 𝔄 ℝ ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷",
    "arrows ← → ↑ ↓ ⇒ ⇔ and boxes ■ □ ▲ ● ★ ☆",
    "currency $ € £ ¥ ₩ ₹ ₿ ¢",
    "a" * 300,
    "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
    "!" * 120,
    "😀" * 50,
    "x, " * 80,
    "hyphen-ated words, snake_case_words, dot.separated.words, slash/separated/words",
    "email user@example.com url https://example.com/path?q=1&x=2#frag",
    "weights (cat:1.3) [dog:0.8] {bird} (fish:0.5:0.9) \\(escaped\\)",
    "prompt editing [cat:dog:0.5] and alternation [red|blue|green]",
    "Σ",
    "ΑΣ",
    "Σa",
    "AΣ'",
    "AΣ'B",
    "A\u0301Σ",
    "ǅΣ ǅσ",
]

WORDS = ("cat dog castle forest portrait woman man girl boy dragon knight wizard city night "
         "sunset ocean mountain river flower garden robot spaceship galaxy nebula temple "
         "street market rain snow fog light shadow gold silver crystal glass wooden old "
         "ancient futuristic cinematic dramatic vibrant soft sharp detailed intricate "
         "elegant beautiful huge tiny glowing dark bright colorful masterpiece quality "
         "photorealistic painting illustration sketch watercolor render lighting").split()
TAGS = ("best quality, masterpiece, ultra detailed, 8k, highres, absurdres, sharp focus, "
        "depth of field, volumetric lighting, ray tracing, hdr, studio lighting, film grain, "
        "trending on artstation, award winning, intricate details, hyperrealistic").split(", ")
EXOTIC = ["é", "ñ", "ü", "ß", "İ", "Σ", "ſ", "ﬁ", "Ｗ", "ｱ", "’", "“", "&amp;", "&lt;", "&#39;",
          "&nbsp;", "\t", "\n", "  ", "\u00a0", "\x00", "\x85", "😀", "👍🏽", "👩‍💻", "日本",
          "Ж", "ع", "e\u0301", "½", "٣", "'s", "'LL", "<|endoftext|>", "<", "...", "--", "!?"]


def generated(rng):
    prompts = []
    for _ in range(100):  # short and medium prompts with unicode sprinkled in
        parts = []
        for _ in range(rng.randint(1, 25)):
            r = rng.random()
            if r < 0.6:
                w = rng.choice(WORDS)
                parts.append(w.upper() if rng.random() < 0.1 else
                             w.capitalize() if rng.random() < 0.2 else w)
            elif r < 0.8:
                parts.append(rng.choice(EXOTIC))
            else:
                parts.append(rng.choice(TAGS) + ",")
        prompts.append(rng.choice([" ", " ", "", ", "]).join(parts))
    for _ in range(60):  # long tag lists: 100-400 tokens, with commas
        tags = []
        while len(", ".join(tags)) < rng.randint(400, 1600):
            tags.append(rng.choice(TAGS) if rng.random() < 0.5 else
                        " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))))
        prompts.append(", ".join(tags))
    for _ in range(30):  # long prose without commas
        prompts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(100, 400))))
    for _ in range(20):  # long, with sparse commas (some beyond the backtrack)
        words = []
        for _ in range(rng.randint(100, 300)):
            words.append(rng.choice(WORDS) + ("," if rng.random() < 0.04 else ""))
        prompts.append(" ".join(words))
    return prompts


def exact_lengths(tokenizer):
    """Prompts of exactly 74..78, 150, 151 tokens and windows whose 76th
    token lands at each distance from the last comma (backtrack edges)."""
    prompts = []
    one = "cat"  # one token
    for n in (74, 75, 76, 77, 150, 151, 152):
        prompts.append(" ".join([one] * n))
    for comma_at in (50, 54, 55, 56, 60, 73, 74, 75):
        words = [one] * 80
        words[comma_at] = ","
        prompts.append(" ".join(words))
    for n in (75, 76):  # a comma as the 76th token, and as the 75th
        words = [one] * 80
        words[n - 1] = ","
        words[40] = ","
        prompts.append(" ".join(words))
    prompts.append(" ".join([one] * 74 + ["<|endoftext|>"] + [one] * 10))
    prompts.append(" ".join([one] * 30 + ["<|endoftext|>"] + [one] * 10))
    for p in prompts:
        ids = tokenizer(p, add_special_tokens=False).input_ids
        assert all(i == tokenizer.convert_tokens_to_ids("cat</w>") or i in (COMMA, END)
                   for i in ids), p
    return prompts


def html_table():
    from ftfy.chardata import HTML_ENTITIES
    items = sorted((k[1:-1].encode(), v) for k, v in HTML_ENTITIES.items())
    assert all(k.startswith("&") and k.endswith(";") for k in HTML_ENTITIES)

    def escape(value):
        out = ""
        for ch in value:
            if ord(ch) < 0x20 or ch in '"\\?' or unicodedata.category(ch)[0] not in "LNSP":
                out += "".join("\\%03o" % b for b in ch.encode())
            else:
                out += ch
        return out

    lines, line = [], ""
    for name, value in items:
        cell = name.decode() + "\\001" + escape(value) + "\\002"
        if len(line) + len(cell) > 96:
            lines.append('    "' + line + '"')
            line = ""
        line += cell
    lines.append('    "' + line + '";')
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--html-table", action="store_true",
                        help="print the HTML entity table of src/text/text_clean.c")
    parser.add_argument("--output", default=OUT)
    args = parser.parse_args()
    if args.html_table:
        html_table()
        return 0

    import ftfy
    import transformers
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as directory:
        write_vocab_files(directory)
        tokenizer = CLIPTokenizer(os.path.join(directory, "vocab.json"),
                                  os.path.join(directory, "merges.txt"))
    assert tokenizer.fix_text is not None, "ftfy must be installed"
    assert len(tokenizer) == 49408

    rng = random.Random(1234)
    corpus = HANDWRITTEN + generated(rng) + exact_lengths(tokenizer)
    # Mojibake (text that was UTF-8 read as Windows-1252): ftfy's fix_encoding
    # repairs it, and so does diffuse (tools/make_ftfy_fixtures.py has many more).
    corpus += ["cafÃ© au lait, naÃ¯ve", "Ã¢â‚¬Å“quotedÃ¢â‚¬\x9d text"]

    entries = []
    for text in corpus:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert len(ids) == len(tokenizer.tokenize(text)), "no truncation"
        entry = {"text": text, "ids": ids}
        for pad in (END, 0):
            entry["windows_%d" % pad] = [strip_pad(w, pad) for w in a1111_windows(ids, pad)]
        entries.append(entry)

    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/make_token_fixtures.py",
                   "transformers": transformers.__version__, "ftfy": ftfy.__version__,
                   "prompts": entries}, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    size = os.path.getsize(args.output)
    print("%d prompts, %d bytes -> %s" % (len(entries), size, os.path.relpath(args.output, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
