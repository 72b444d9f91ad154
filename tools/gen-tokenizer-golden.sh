#!/usr/bin/env bash
# Regenerates the tokenizer golden fixtures from llama.cpp's `llama-tokenize` on the teacher GGUF:
#   Tests/RetortImportTests/Fixtures/tokenizer-golden.tsv         varied strings → token ids
#   Tests/RetortImportTests/Fixtures/tokenizer-golden-hamlet.txt  first 4 KB of Hamlet (input)
#   Tests/RetortImportTests/Fixtures/tokenizer-golden-hamlet.ids  its token ids
#   Tests/RetortImportTests/Fixtures/tokenizer-golden-corpus.tsv  per corpus split: size, token
#                                                                 count and FNV-1a-64 of the ids
# Needs tools/setup.sh --llama-cpp (teacher, corpus, llama.cpp peer tools) and python3.
# The strings are tokenized one by one with --no-bos (the teacher's add_bos_token is false anyway)
# and --no-escape (bytes verbatim), with or without --no-parse-special as the row says.
#
# tokenizer-golden.tsv: one row per string, '#' lines are comments:
#   <parse_special 0|1> TAB <input, escaped> TAB <ids, comma-separated>
# Escapes in the input: \\ \t \n \r and \xHH for any other byte below 0x20 or 0x7F; other bytes
# (including non-ASCII UTF-8) are literal.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
source "$here/lib.sh"
need_cmd python3
tokenize="$RETORT_CACHE/llama.cpp/bin/llama-tokenize"
teacher="$RETORT_CACHE/teacher/SmolLM2-135M-Instruct.Q4_1.gguf"
hamlet="$RETORT_CACHE/corpus/texts/hamlet_gut.txt"
[[ -x "$tokenize" ]] || die "missing $tokenize; run tools/setup.sh --llama-cpp"
[[ -f "$teacher" ]] || die "missing $teacher; run tools/setup.sh"
[[ -f "$hamlet" ]] || die "missing $hamlet; run tools/setup.sh"
out="$repo/Tests/RetortImportTests/Fixtures"
mkdir -p "$out"

python3 - "$tokenize" "$teacher" "$hamlet" "$RETORT_CACHE/corpus" "$out" <<'PY'
import os, subprocess, sys, tempfile

tokenize, teacher, hamlet, corpus, out = sys.argv[1:]

def ids_of(data: bytes, parse_special: bool) -> list[int]:
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
        path = f.name
    try:
        args = [tokenize, "-m", teacher, "-f", path, "--ids", "--log-disable", "--no-escape", "--no-bos"]
        if not parse_special:
            args.append("--no-parse-special")
        res = subprocess.run(args, capture_output=True, check=True)
    finally:
        os.unlink(path)
    line = res.stdout.decode().strip().splitlines()[-1]
    assert line.startswith("[") and line.endswith("]"), line
    return [int(x) for x in line[1:-1].split(",") if x.strip()]

def escape(data: bytes) -> str:
    s = []
    for b in data:
        if b == 0x5C: s.append("\\\\")
        elif b == 0x09: s.append("\\t")
        elif b == 0x0A: s.append("\\n")
        elif b == 0x0D: s.append("\\r")
        elif b < 0x20 or b == 0x7F: s.append("\\x%02X" % b)
        else: s.append(chr(b))
    return "".join(s).encode("latin-1").decode("utf-8")  # bytes ≥ 0x80 stay as the UTF-8 they are

strings = [
    # words, contractions (llama.cpp's smollm/gpt2 contractions are lower-case only)
    "Hello world", "hello", " hello", "  hello", "HELLO WORLD",
    "I'm can't won't we'll they've he'd she's you're it's",
    "I'LL BE THERE, DON'T WORRY; WE'VE GOT IT", "O'Neil's rock'n'roll 'til '90s",
    "don't stop 'til 1999's end", "'s 's' ''", "rock ‘n’ roll — it’s “quoted”",
    # punctuation
    "Hello!!! What?! ... (really) [sic] {x} <tag/> a--b a---b", "!!!???...,,,;;;:::", "#$%&*+-/=@^_`|~",
    "\"quoted\" and 'single'", "end.", "e.g. i.e. etc.", "a/b\\c",
    # digits and numbers
    "0 1 2 3 4 5 6 7 8 9", "12345678901234567890", "3.14159265358979", "1,000,000.00", "-42 +7 1e-10 0x1F 0b1010",
    "2024-01-15T12:34:56Z", "Call 555-0123 or +1 (800) 555-0199", "v1.2.3-rc.1", "1st 2nd 3rd 4th", "x²+y³=z¹ ½ ¾ Ⅻ ٣ ४ ①",
    "１２３ ＡＢＣ",
    # whitespace
    " ", "  ", "   ", "a  b", "a   b", "a    b", "trailing   ", "   leading", "\t", "\ttab", "a\tb\t\tc", "\t\t\tx",
    "\n", "\n\n", "line1\nline2", "para1\n\npara2", "a\n\n\nb", "x \n y", "x  \n\n  y", "crlf\r\nline\r\n", "\r", "a\rb",
    "  \t \n \t  ", "spaces before newline   \nnext", "\x0b\x0c vertical tab and form feed", "nbsp\u00a0here", "ideographic\u3000space",
    "em\u2003space", "line\u2028separator", "zero\u200bwidth", "next\u0085line",
    # Unicode letters
    "café naïve résumé", "Ångström Øre Æsir œuvre ß", "e\u0301 a\u0308 (combining)", "Привет, мир! Как дела?", "Ελληνικά γράμματα",
    "日本語のテキストです。", "中文字符测试，你好！", "한국어 텍스트", "مرحبا بالعالم", "नमस्ते दुनिया", "שלום עולם", "ไทย ภาษา",
    "Ünïcödé ÜBER straße",
    # emoji and symbols
    "I ❤️ NY 🤖!", "😀😃😄", "👍🏽 👨‍👩‍👧 🇫🇷", "→ ← ↑ ↓ ∀x ∈ ℝ: x² ≥ 0", "© ® ™ € £ ¥ ₿", "★☆♠♣♥♦",
    # Shakespeare
    "To be, or not to be: that is the question:",
    "Whether 'tis nobler in the mind to suffer\nThe slings and arrows of outrageous fortune,",
    "O Romeo, Romeo! wherefore art thou Romeo?",
    "  HAMLET. Alas, poor Yorick! I knew him, Horatio.",
    "Enter KING CLAUDIUS, QUEEN GERTRUDE, HAMLET, POLONIUS, LAERTES, VOLTIMAND,\n    CORNELIUS, Lords, and Attendants",
    "Exeunt.\n\n\n\nSCENE II.",
    # code
    "def f(x):\n    return x**2 + 1  # square\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "let json = {\"key\": [1, 2, 3], \"nested\": {\"a\": null}};",
    "<div class=\"x\">Hello &amp; bye</div>", "SELECT * FROM users WHERE id = 42;", "$ ls -la | grep '.swift' > out.txt",
    "if x == 1 && y != 2 || !z { return }", "    indented\n        more\n    less",
    # URLs, mail
    "https://example.com/path?q=1&r=two#frag", "Visit www.huggingface.co or mail me@example.org!", "C:\\Users\\me\\file.txt",
    # repetition
    "a" * 100, "=" * 64, "ab" * 40, " " * 40 + "x", "\n" * 12, "ha" * 30 + "!",
    # special-token lookalikes, not parsed
    "<|im_start|>user\nHi<|im_end|>", "<|endoftext|>", "<repo_name>x<file_sep>", "<|im_start", "im_end|>",
]
special_strings = [
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat's 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>", "a<|endoftext|>b", "<|im_start|><|im_end|>", "x <|im_end|> y", "<|im_start|>  \n", "<|im_start", "<repo_name>proj<file_sep>main.py\n",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output>", "<<|im_end|>>", "<|im_end|><|im_end|>",
]

rows = ["# Generated by tools/gen-tokenizer-golden.sh from llama.cpp llama-tokenize on the teacher GGUF.",
        "# parse_special\tinput (escaped)\tids"]
for parse_special, group in ((False, strings), (True, special_strings)):
    for s in group:
        data = s.encode("utf-8")
        ids = ids_of(data, parse_special)
        rows.append("%d\t%s\t%s" % (parse_special, escape(data), ",".join(map(str, ids))))
with open(os.path.join(out, "tokenizer-golden.tsv"), "w", encoding="utf-8") as f:
    f.write("\n".join(rows) + "\n")

text = open(hamlet, "rb").read()[:4096]
with open(os.path.join(out, "tokenizer-golden-hamlet.txt"), "wb") as f:
    f.write(text)
with open(os.path.join(out, "tokenizer-golden-hamlet.ids"), "w") as f:
    f.write(",".join(map(str, ids_of(text, False))) + "\n")

def fnv1a64(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for b in (i & 0xFFFFFFFF).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h

rows = ["# Generated by tools/gen-tokenizer-golden.sh: llama-tokenize over $RETORT_CACHE/corpus/<split>.txt.",
        "# split\tbytes\ttokens\tfnv1a64 of the ids (each as 4 little-endian bytes)"]
for split in ("train", "validation", "test"):
    data = open(os.path.join(corpus, split + ".txt"), "rb").read()
    ids = ids_of(data, False)
    rows.append("%s\t%d\t%d\t%016x" % (split, len(data), len(ids), fnv1a64(ids)))
with open(os.path.join(out, "tokenizer-golden-corpus.tsv"), "w") as f:
    f.write("\n".join(rows) + "\n")
print("wrote tokenizer golden fixtures to", out)
PY
