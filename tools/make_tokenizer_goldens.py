#!/usr/bin/env python3
"""Writes tokenizer goldens from Hugging Face `tokenizers` into tests/fixtures/tokenizer/.

Run where `tokenizers` is installed (the GPU machine has it), from the repository root, with the
shared data beside the checkout or given by --data:
    python3 tools/make_tokenizer_goldens.py --data ../shared/data --out tests/fixtures/tokenizer

For each tokenizer it records
  * an adversarial set (every Unicode general category, combining marks, emoji sequences, scripts,
    whitespace runs, digits, contractions, special tokens inside text, very long words): the text,
    the ids and HF's decode of those ids, in full;
  * both shared corpora, line by line (groups of LINE_GROUP lines) and in blocks of BLOCK_CHARS
    code points: the token count and a 64-bit FNV-1a hash of the ids per group, so every token is
    checked without committing megabytes of ids. The hash covers, per text, its id count and then
    its ids, each as 4 little-endian bytes.

Besides the two shared tokenizers, it writes and checks a third, gpt2-variant.json: GPT-2 with an
NFKC normalizer inside a Sequence, add_prefix_space, merges in the newer [left, right] form, and
added tokens with lstrip, rstrip, single_word and normalized set, so those paths have goldens too.
"""
import argparse
import json
import os

from tokenizers import Tokenizer
import tokenizers

LINE_GROUP = 64
BLOCK_CHARS = 65536
FNV_OFFSET, FNV_PRIME = 0xcbf29ce484222325, 0x100000001b3


def fnv1a(hash_value, data):
    for byte in data:
        hash_value = ((hash_value ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return hash_value


def hash_texts(tokenizer, texts):
    h, count = FNV_OFFSET, 0
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=True):
        ids = encoding.ids
        h = fnv1a(h, len(ids).to_bytes(4, "little"))
        for i in ids:
            h = fnv1a(h, i.to_bytes(4, "little"))
        count += len(ids)
    return [count, f"{h:016x}"]


def adversarial_texts():
    categories = {
        "Lu": "ABCÀÉΩЖ", "Ll": "abcàéωж", "Lt": "ǅǈǋ", "Lm": "ʰʲˈ々", "Lo": "中文日本語한국어",
        "Mn": "e\u0301 a\u0308 n\u0303", "Mc": "\u0915\u093e \u0903", "Me": "1\u20dd A\u20de",
        "Nd": "0123456789 ٣٤٥ ०१२", "Nl": "ⅫⅯ〇", "No": "½¼²³①",
        "Pc": "snake_case ‿", "Pd": "a-b – c — d", "Ps/Pe": "([{ }]) 「」", "Pi/Pf": "«quote» “x”",
        "Po": "!?.,;:¿¡", "Sm": "∑ ∫ ≠ + = < >", "Sc": "$5 €3 ¥7 £2", "Sk": "^ ` ¨ ˜",
        "So": "© ® ™ ☃ ♥", "Zs": "a\u00a0b\u3000c\u2009d", "Zl": "line\u2028sep", "Zp": "para\u2029sep",
        "Cc": "tab\there\x01\x07bell\x7f", "Cf": "zero\u200bwidth\u200d\ufeffbom", "Co": "\ue000\uf8ff",
        "Cn": "\u0378\u0379",
    }
    texts = [f"{name}: {sample}" for name, sample in categories.items()]
    texts += [
        "Cafe\u0301 vs Café", "\u1100\u1161\u11a8 (jamo) 각", "Å vs A\u030a vs \u212b",
        "👨‍👩‍👧‍👦 family", "👍🏽👍🏿 tones", "🇺🇸🇯🇵 flags", "🏳️‍🌈 ❤️ ☺️",
        "我们今天去公园散步，天气很好。", "ภาษาไทยไม่มีช่องว่างระหว่างคำ", "مرحبا بالعالم، كيف حالك؟",
        "שלום עולם, מה שלומך?", "Здравствуй, мир!", "Γειά σου Κόσμε",
        " ", "  ", "   ", " " * 5, " " * 23, " " * 24, " " * 25, " " * 50, "a" + " " * 30 + "b",
        "\t", "\t\t", "\n", "\n\n", "\n\n\n\n", "\r\n", " \n ", "a \n\n b", "x\t \t y", "  leading",
        "trailing  ", "mid   spaces  here",
        "1234567890", "3.14159 2,718 1e-9 -42", "year 2024 and 1999", "00007",
        "don't I'll we've they're she'd I'm it's", "DON'T I'LL WE'VE", "rock 'n' roll", "'s 's' ''",
        "<|endoftext|>", "Hello<|endoftext|>world", "a <|endoftext|> b", "<|padding|><|endoftext|>",
        "<|endoftext", "<tool>x</tool> <tool> NL NLx xNL NL", "hello world and Hello world",
        "ﬁne ﬂow ① ㎏", "a" * 5000, "antidisestablishmentarianism" * 40,
        "https://example.com/path?q=1&r=two#frag", "def f(x):\n    return x ** 2  # square\n",
        "{\"json\": [1, 2, 3], \"k\": null}", "MiXeD CaSe WoRdS", "Hello", " world",
        "Hey how are you doing?", "",
    ]
    return texts


def gpt2_variant(gpt2_path, out_path):
    with open(gpt2_path) as f:
        spec = json.load(f)
    spec["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFKC"}]}
    spec["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                             "use_regex": True}
    spec["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m
                               for m in spec["model"]["merges"]]
    # Ids as HF assigns them on load: an added token already in the vocab keeps its vocab id,
    # new ones are numbered on from the vocab ("NL" is in GPT-2's vocab, so it stays 32572).
    vocab = spec["model"]["vocab"]
    next_id = len(vocab)
    flags = dict(single_word=False, lstrip=False, rstrip=False, normalized=False, special=False)
    for content, options in [("<tool>", dict(lstrip=True, rstrip=True, special=True)),
                             ("</tool>", dict(special=True)),
                             ("NL", dict(single_word=True)),
                             ("hello world", dict(normalized=True))]:
        token_id = vocab.get(content)
        if token_id is None:
            token_id, next_id = next_id, next_id + 1
        spec["added_tokens"].append(dict(flags, id=token_id, content=content, **options))
    with open(out_path, "w") as f:
        json.dump(spec, f, ensure_ascii=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="tests/fixtures/tokenizer")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    variant = os.path.join(args.out, "gpt2-variant.json")
    gpt2_variant(os.path.join(args.data, "tokenizers/gpt2.json"), variant)
    tokenizer_files = {
        "gpt-neox-20b": os.path.join(args.data, "tokenizers/gpt-neox-20b.json"),
        "gpt2": os.path.join(args.data, "tokenizers/gpt2.json"),
        "gpt2-variant": variant,
    }
    corpora = {}
    for name in ("tinyshakespeare.txt", "tinystories.txt"):
        with open(os.path.join(args.data, "corpora", name), encoding="utf-8") as f:
            corpora[name] = f.read()

    for name, path in tokenizer_files.items():
        tokenizer = Tokenizer.from_file(path)
        golden = dict(tokenizer=os.path.basename(path),
                      generator=f"tools/make_tokenizer_goldens.py, tokenizers {tokenizers.__version__}",
                      line_group=LINE_GROUP, block_chars=BLOCK_CHARS, adversarial=[], corpora={})
        for text in adversarial_texts():
            ids = tokenizer.encode(text, add_special_tokens=True).ids
            golden["adversarial"].append(dict(text=text, ids=ids, decoded=tokenizer.decode(
                ids, skip_special_tokens=False)))
        for corpus, text in corpora.items():
            lines = text.split("\n")
            blocks = [text[i:i + BLOCK_CHARS] for i in range(0, len(text), BLOCK_CHARS)]
            golden["corpora"][corpus] = dict(
                lines=[hash_texts(tokenizer, lines[i:i + LINE_GROUP])
                       for i in range(0, len(lines), LINE_GROUP)],
                blocks=[hash_texts(tokenizer, [b]) for b in blocks])
        with open(os.path.join(args.out, f"{name}.goldens.json"), "w") as f:
            json.dump(golden, f, ensure_ascii=False, indent=0)
        total = sum(c for corpus in golden["corpora"].values() for c, _ in corpus["blocks"])
        print(f"{name}: {len(golden['adversarial'])} adversarial texts, {total} corpus tokens")


if __name__ == "__main__":
    main()
