"""Reference outputs for AUTOMATIC1111's prompt emphasis, on the tiny text encoders.

Usage:
    .venv-tools/bin/python tools/make_weighting_fixtures.py   (from the repository root)

Writes tests/fixtures/reference/prompt_weighting_sd{1,2}.safetensors: for each
prompt p (listed in __metadata__["prompts"]), tensors
  p{i}.ids      i32 [W, 77]   the windows' token ids
  p{i}.weights  f32 [W, 77]   per-token multipliers
  p{i}.hidden   f32 [W, 77, 32] the weighted text conditioning
computed as A1111 does (stable-diffusion-webui, modules/prompt_parser.py
parse_prompt_attention and modules/sd_hijack_clip.py tokenize_line /
process_tokens with emphasis "Original": multiply, then restore the
window's mean), with transformers' CLIPTextModel in float64 on the committed
tiny models. The parser and chunker below are ports of that code.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch
from transformers import CLIPTextModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sd_layout as L  # noqa: E402

# --- A1111 modules/prompt_parser.py -------------------------------------------
re_attention = re.compile(r"""
\\\(|
\\\)|
\\\[|
\\]|
\\\\|
\\|
\(|
\[|
:\s*([+-]?[.\d]+)\s*\)|
\)|
]|
[^\\()\[\]:]+|
:
""", re.X)

re_break = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_prompt_attention(text):
    res = []
    round_brackets = []
    square_brackets = []
    round_bracket_multiplier = 1.1
    square_bracket_multiplier = 1 / 1.1

    def multiply_range(start_position, multiplier):
        for p in range(start_position, len(res)):
            res[p][1] *= multiplier

    for m in re_attention.finditer(text):
        text = m.group(0)
        weight = m.group(1)
        if text.startswith('\\'):
            res.append([text[1:], 1.0])
        elif text == '(':
            round_brackets.append(len(res))
        elif text == '[':
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            multiply_range(round_brackets.pop(), float(weight))
        elif text == ')' and round_brackets:
            multiply_range(round_brackets.pop(), round_bracket_multiplier)
        elif text == ']' and square_brackets:
            multiply_range(square_brackets.pop(), square_bracket_multiplier)
        else:
            parts = re.split(re_break, text)
            for i, part in enumerate(parts):
                if i > 0:
                    res.append(["BREAK", -1])
                res.append([part, 1.0])

    for pos in round_brackets:
        multiply_range(pos, round_bracket_multiplier)
    for pos in square_brackets:
        multiply_range(pos, square_bracket_multiplier)
    if len(res) == 0:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return res


# --- A1111 modules/sd_hijack_clip.py tokenize_line ----------------------------
COMMA, START, END, CHUNK = 267, 49406, 49407, 75


def tokenize_line(tokenizer, line, pad):
    parsed = parse_prompt_attention(line)
    tokenized = tokenizer([text for text, _ in parsed], truncation=False, add_special_tokens=False)["input_ids"]
    chunks = []
    state = {"tokens": [], "mults": [], "last_comma": -1}

    def next_chunk():
        to_add = CHUNK - len(state["tokens"])
        if to_add > 0:
            state["tokens"] += [END] * to_add
            state["mults"] += [1.0] * to_add
        chunks.append(([START] + state["tokens"] + [END], [1.0] + state["mults"] + [1.0]))
        state.update(tokens=[], mults=[], last_comma=-1)

    for tokens, (text, weight) in zip(tokenized, parsed):
        if text == "BREAK" and weight == -1:
            next_chunk()
            continue
        for token in tokens:
            if token == COMMA:
                state["last_comma"] = len(state["tokens"])
            elif len(state["tokens"]) == CHUNK and state["last_comma"] != -1 \
                    and len(state["tokens"]) - state["last_comma"] <= 20:
                cut = state["last_comma"] + 1
                moved_tokens, moved_mults = state["tokens"][cut:], state["mults"][cut:]
                state["tokens"], state["mults"] = state["tokens"][:cut], state["mults"][:cut]
                next_chunk()
                state["tokens"], state["mults"] = moved_tokens, moved_mults
            if len(state["tokens"]) == CHUNK:
                next_chunk()
            state["tokens"].append(token)
            state["mults"].append(weight)
    if state["tokens"] or not chunks:
        next_chunk()
    if pad != END:  # process_tokens: everything after the first end token becomes pad
        for ids, _ in chunks:
            first = ids.index(END)
            ids[first + 1:] = [pad] * (len(ids) - first - 1)
    return chunks


PROMPTS = [
    "a (red:1.5) cat on a [wooden] table",
    "((masterpiece)), best quality, (detailed face:1.2), [[blurry]]",
    "escaped \\(parentheses\\) and a \\\\ backslash, a lone \\ too",
    "unbalanced (open paren and [bracket",
    "first part BREAK second part",
    "BREAK at the start, and BREAKFAST is no break",
    "weight without paren :1.3) and colon: alone, stray ] and )",
    "(a:0.5) (b: -1 ) c (nested (deep:2) words:0.8)",
    "a plain prompt without any emphasis",
    ", ".join(f"(tag{i}:1.{i % 9})" if i % 3 == 0 else f"tag{i}" for i in range(60)),
]


@torch.no_grad()
def main() -> None:
    root = Path(__file__).resolve().parent.parent
    for family, pad_text, pad in (("sd1", "<|endoftext|>", END), ("sd2", "!", 0)):
        tokenizer = L.make_tokenizer(pad_text)
        model = CLIPTextModel.from_pretrained(root / f"tests/fixtures/tiny-{family}/text_encoder",
                                              torch_dtype=torch.float32, local_files_only=True).double().eval()
        tensors = {}
        for i, prompt in enumerate(PROMPTS):
            assert "!" not in prompt  # SD2's tokenizer splits "!" (diffusers); A1111's does not
            chunks = tokenize_line(tokenizer, prompt, pad)
            ids = torch.tensor([c[0] for c in chunks], dtype=torch.int64)
            mults = torch.tensor([c[1] for c in chunks], dtype=torch.float64)
            previous = torch.get_default_dtype()
            torch.set_default_dtype(torch.float64)
            try:
                hidden = []
                for w in range(ids.shape[0]):  # A1111 encodes window by window
                    z = model(input_ids=ids[w:w + 1]).last_hidden_state
                    original_mean = z.mean()
                    z = z * mults[w:w + 1].unsqueeze(-1)
                    z = z * (original_mean / z.mean())
                    hidden.append(z[0])
            finally:
                torch.set_default_dtype(previous)
            tensors[f"p{i}.ids"] = ids.to(torch.int32)
            tensors[f"p{i}.weights"] = mults.float()
            tensors[f"p{i}.hidden"] = torch.stack(hidden).float()
        out = root / f"tests/fixtures/reference/prompt_weighting_{family}.safetensors"
        L.save_safetensors(tensors, out, metadata={"prompts": json.dumps(PROMPTS)})
        print(f"{out.relative_to(root)}: {len(PROMPTS)} prompts, {sum(t.numel() for t in tensors.values())} values")


if __name__ == "__main__":
    main()
