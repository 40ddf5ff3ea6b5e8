#!/usr/bin/env python3
"""Prints tests/tokenizer_test.cc's kSplitCases: the chunks each BPE
pre-tokenizer splits the reference texts into, computed with Python's `regex`
module (pip install regex) from the patterns llama.cpp's src/llama-vocab.cpp
lists for each `tokenizer.ggml.pre` (copied there from each model's
tokenizer.json). Each pattern of a sequence splits every piece of the one
before, keeping the text between matches (HF's Split(behavior="Isolated")).

Usage: scripts/pretokenizer_cases.py > cases.inc
"""
import regex, json
GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
TEKKEN = r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
ds_ranges = [(0x0041,0x005A),(0x0061,0x007A),(0x00B5,0x00B5),(0x00C0,0x00D6),(0x00D8,0x00F6),(0x00F8,0x01BA),(0x01BC,0x01BF),(0x01C4,0x0293),(0x0295,0x02AF),(0x0370,0x0373),(0x0376,0x0377),(0x037B,0x037D),(0x037F,0x037F),(0x0386,0x0386),(0x0388,0x038A),(0x038C,0x038C),(0x038E,0x03A1),(0x03A3,0x03F5),(0x03F7,0x0481),(0x048A,0x052F),(0x0531,0x0556),(0x10A0,0x10C5),(0x13A0,0x13F5),(0x13F8,0x13FD),(0x1C90,0x1CBA),(0x1CBD,0x1CBF),(0x1D00,0x1D2B),(0x1D6B,0x1D77),(0x1D79,0x1D9A),(0x1E00,0x1F15),(0x1F18,0x1F1D),(0x1F20,0x1F45),(0x1F48,0x1F4D),(0x1F50,0x1F57),(0x1F59,0x1F59),(0x1F5B,0x1F5B),(0x1F5D,0x1F5D),(0x1F5F,0x1F7D),(0x1F80,0x1FB4),(0x1FB6,0x1FBC),(0x1FBE,0x1FBE),(0x1FC2,0x1FC4),(0x1FC6,0x1FCC),(0x1FD0,0x1FD3),(0x1FD6,0x1FDB),(0x1FE0,0x1FEC),(0x1FF2,0x1FF4),(0x1FF6,0x1FFC),(0x2102,0x2102),(0x2107,0x2107),(0x210A,0x2113),(0x2115,0x2115),(0x2119,0x211D),(0x2124,0x2124),(0x2126,0x2126),(0x2128,0x2128),(0x212A,0x212D),(0x212F,0x2134),(0x2139,0x2139),(0x213C,0x213F),(0x2145,0x2149),(0x214E,0x214E),(0x2183,0x2184),(0x2C00,0x2C7B),(0x2C7E,0x2CE4),(0x2CEB,0x2CEE),(0x2CF2,0x2CF3),(0xA640,0xA66D),(0xA680,0xA69B),(0xA722,0xA76F),(0xA771,0xA787),(0xA78B,0xA78E),(0xAB70,0xABBF),(0xFB00,0xFB06),(0xFB13,0xFB17),(0xFF21,0xFF3A),(0xFF41,0xFF5A),(0x10400,0x1044F),(0x104B0,0x104D3),(0x104D8,0x104FB),(0x10C80,0x10CB2),(0x10CC0,0x10CF2),(0x118A0,0x118DF),(0x1E900,0x1E943)]
DSL = "".join(f"\\U{a:08x}-\\U{b:08x}" for a,b in ds_ranges)
DEEPSEEK = [r"[\r\n]", r"\s?[" + DSL + r"]+", r"\s?[!-/:-~！-／：-～‘-‟　-。]+", r"\s+$", r"[一-龥ࠀ-一가-퟿]+", r"\p{N}+"]
SMOLLM = [r"\p{N}", GPT2]
DEFAULT = [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"]
def isolated(pieces, pat):
    out = []
    for p in pieces:
        last = 0
        for m in regex.finditer(pat, p):
            if m.start() > last: out.append(p[last:m.start()])
            out.append(m.group()); last = m.end()
        if last < len(p): out.append(p[last:])
    return out
def split(text, pats):
    pieces = [text] if text else []
    for p in pats: pieces = isolated(pieces, p)
    return pieces
PRES = {"gpt-2": [GPT2], "llama-bpe": [LLAMA3], "qwen2": [QWEN2], "smollm": SMOLLM, "deepseek-llm": DEEPSEEK, "tekken": [TEKKEN], "default": DEFAULT}
TEXTS = ["y'all", "     \nx", "4 ½", "1234567 89", "DON'T you've I'M she'LL", "Hello world's 123  foo!!\n\nbar",
         "café naïve 日本語 한국어", " \t\tx  ", "HeLLo WORLDs McDonald's", "a/b//c\n/ d", "3.14159, $5+x=<y>",
         "\n\n\n", "ǅungla ǈ", "αβγ ΑΒΓ Ωmega", "x\u0303y \u0303", "🙂!! ok", "  leading", "(hi) x  \n\n  y", "\r\n\r\nz"]
import unicodedata
def cstr(s):
    out = '"'
    pend_hex = False
    for c in s:
        if pend_hex and c in "0123456789abcdefABCDEF": out += '""'
        pend_hex = False
        if c == '"': out += '\\"'
        elif c == '\\': out += '\\\\'
        elif c == '\n': out += '\\n'
        elif c == '\r': out += '\\r'
        elif c == '\t': out += '\\t'
        elif unicodedata.category(c)[0] in "MZC" and c != ' ':
            out += "".join('\\x%02X' % b for b in c.encode()); pend_hex = True
        else: out += c
    return out + '"'
for pre, pats in PRES.items():
    print(f"    // {pre}")
    for t in TEXTS:
        parts = split(t, pats)
        assert "".join(parts) == t
        print("    {" + cstr(pre) + ", " + cstr(t) + ", {" + ", ".join(cstr(p) for p in parts) + "}},")
