"""malformed_corpus.py GRADC DIR: every malformed program is rejected cleanly.

Runs `GRADC grad FILE` on every *.grad file in DIR (tests/malformed: syntax,
names, shapes, limits, bytes that are not text) and requires of each:

- exit status exactly 1 (death by a signal, a sanitizer's abort included, or
  no answer within the timeout is a failure, as is any other status);
- nothing on stdout, and no sanitizer report on stderr;
- at least one located error, `FILE:LINE:COL: error: MESSAGE` with FILE the
  path as given and LINE, COL >= 1 inside the file; an error without a
  location is accepted only for an empty file, and after located errors only
  the "too many errors emitted" line may lack one;
- every located diagnostic (error, warning, note) followed by the source line
  it names, echoed as gradc echoes it (non-printable bytes as '?', a long
  line as a window marked with "..."), and then a caret line `^[ \\t]*\\^~*`
  whose caret stands under column COL of that line;
- no other line on stderr.

Prints one line per failure, `FAIL: NAME: REASON` (gradc's stderr goes to
this script's stderr), then the summary
`N malformed programs: all rejected with a located error`, and exits 0 only
if every program passed and there are at least MIN_PROGRAMS of them.
"""
import concurrent.futures
import os
import re
import signal
import subprocess
import sys

MIN_PROGRAMS = 60
TIMEOUT = float(os.environ.get("MALFORMED_TIMEOUT", "120"))  # seconds a file
SAN_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
               "runtime error:", "MemorySanitizer", "ThreadSanitizer")
CARET = re.compile(r"[ \t]*\^~*")
TOO_MANY = "too many errors emitted, stopping now"
# As in compiler/diag.c: lines longer than this are echoed as a window.
DIAG_WIDTH = 160


def echo_of(raw):
    """gradc's echo of one source line: tabs and printable ASCII kept, every
    other byte shown as '?'."""
    return "".join(c if c == "\t" or " " <= c <= "~" else "?" for c in raw)


def source_lines(data):
    """The lines of a source as gradc numbers them (only '\\n' ends a line; the
    '\\r' of a '\\r\\n' is not shown, a lone '\\r' is a byte like any other)."""
    text = data.decode("latin-1")
    lines = text.split("\n")
    last = len(lines) - 1  # the last piece has no '\n' after it
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # a final newline does not start another line
    return [ln[:-1] if ln.endswith("\r") and i < last else ln for i, ln in enumerate(lines)]


def check_show(lines, line, col, echo, caret):
    """None if `echo` and `caret` show column `col` of line `line`, else why
    not."""
    if line > len(lines):
        return "line %d is past the end of the file (%d lines)" % (line, len(lines))
    raw = lines[line - 1]
    if col > len(raw) + 1:
        shown = ""
        if caret is not None and CARET.fullmatch(caret) and len(raw) <= DIAG_WIDTH:
            shown = ", the caret is under column %d" % (caret.index("^") + 1)
        return "column %d is past the end of line %d (%d bytes shown%s)" % (
            col, line, len(raw), shown)
    if echo is None:
        return "no source line after the diagnostic"
    if caret is None or not CARET.fullmatch(caret):
        return "no caret line after the source line (got %r)" % caret
    want = echo_of(raw)
    at = caret.index("^")
    width = len(caret) - at  # caret and tildes
    if len(want) <= DIAG_WIDTH:
        if echo != want:
            return "source line echoed as %r, expected %r" % (echo[:200], want[:200])
        if at != col - 1:
            return "caret under column %d, the diagnostic says column %d" % (at + 1, col)
        if caret[:at] != "".join("\t" if c == "\t" else " " for c in raw[:at]):
            return "the blanks before the caret do not follow the line's tabs"
        if at + width > max(len(want), col):
            return "the caret's '~' run goes past the end of the line"
        return None
    # A window of a long line: "...CORE...", either mark optional.
    left, right = echo.startswith("..."), echo.endswith("...")
    core = echo[3 if left else 0:len(echo) - 3 if right else len(echo)]
    if not left and not right:
        return "a %d-byte line echoed without a window mark: %r" % (len(raw), echo[:200])
    if left:
        if not caret.startswith("   "):
            return "caret line not shifted under a '...' mark"
        at -= 3
    starts = [i for i in range(len(want) - len(core) + 1)
              if want.startswith(core, i)]
    if not starts:
        return "windowed echo %r is not part of line %d" % (echo[:200], line)
    if not any(s + at == col - 1 for s in starts):
        return "caret of the windowed echo not under column %d" % col
    return None


def check_file(gradc, path):
    """The reasons `path` fails (empty if it passes)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        r = subprocess.run([gradc, "grad", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return ["no answer within %g s (a hang?)" % TIMEOUT], ""
    err = r.stderr.decode("latin-1")
    problems = []
    if r.returncode < 0:
        try:
            name = signal.Signals(-r.returncode).name
        except ValueError:
            name = "signal %d" % -r.returncode
        problems.append("crashed: killed by %s" % name)
    elif r.returncode != 1:
        problems.append("exit status %d, expected 1" % r.returncode)
    if r.stdout:
        first = r.stdout.decode("latin-1").split("\n", 1)[0]
        problems.append("%d bytes on stdout (first line %r)" % (len(r.stdout), first[:120]))
    for m in SAN_MARKERS:
        if m in err:
            problems.append("sanitizer report on stderr (%s)" % m)
            break
    if r.returncode < 0:
        return problems, err

    lines = source_lines(data)
    out = err.split("\n")
    if out and out[-1] == "":
        out.pop()
    located = re.compile(re.escape(path) + r":(\d+):(\d+): (error|warning|note): (.*)")
    unlocated = re.compile(r"(?:" + re.escape(path) + r"|gradc): (error|warning|note): (.*)")
    n_located_errors = 0
    i = 0
    while i < len(out):
        s = out[i]
        m = located.fullmatch(s)
        if m:
            line, col, kind = int(m.group(1)), int(m.group(2)), m.group(3)
            if line < 1 or col < 1:
                problems.append("line %d: location %d:%d is not 1-based: %r"
                                % (i + 1, line, col, s))
            else:
                echo = out[i + 1] if i + 1 < len(out) else None
                caret = out[i + 2] if i + 2 < len(out) else None
                why = check_show(lines, line, col, echo, caret)
                if why:
                    problems.append("%s at %d:%d: %s" % (kind, line, col, why))
            if kind == "error":
                n_located_errors += 1
            i += 3
            continue
        m = unlocated.fullmatch(s)
        if m and m.group(1) == "error":
            if m.group(2) == TOO_MANY and n_located_errors > 0:
                pass
            elif len(data) > 0:
                problems.append("error without a location: %r" % s[:200])
        elif m:
            problems.append("%s without a location: %r" % (m.group(1), s[:200]))
        else:
            problems.append("stray line %d on stderr: %r" % (i + 1, s[:200]))
        i += 1
    if n_located_errors == 0 and not (len(data) == 0 and r.returncode == 1):
        problems.append("no located error (FILE:LINE:COL: error: ...) on stderr")
    return problems, err


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: malformed_corpus.py GRADC DIR\n")
        return 2
    gradc, d = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(d) if n.endswith(".grad"))
    paths = [os.path.join(d, n) for n in names]
    workers = max(1, min(8, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        results = list(ex.map(lambda p: check_file(gradc, p), paths))
    failed = 0
    for name, (problems, err) in zip(names, results):
        if not problems:
            continue
        failed += 1
        for p in problems:
            print("FAIL: %s: %s" % (name, p))
        sys.stderr.write("---- gradc grad %s: stderr\n" % name)
        tail = err.split("\n")
        sys.stderr.write("\n".join(tail[:40]) + ("\n...\n" if len(tail) > 40 else "\n"))
    n = len(names)
    if failed:
        print("%d malformed programs: %d failed" % (n, failed))
        return 1
    if n < MIN_PROGRAMS:
        print("%d malformed programs: too few, at least %d are needed" % (n, MIN_PROGRAMS))
        return 1
    print("%d malformed programs: all rejected with a located error" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
