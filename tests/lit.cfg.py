# lit configuration for gradc's golden tests (tests/grad, tests/diag, ...).
#
# Run through `make test` (or `make lit`), which passes the binary of the
# selected build:
#   python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv --param gradc=$PWD/build/gradc tests
# Without --param gradc, the GRADC environment variable is used, then
# build/gradc next to this directory.
#
# Substitutions in RUN lines:
#   gradc          the gradc binary under test
#   FileCheck, not LLVM 19's tools
#   %examples      the examples/ directory
#   %build         the build directory (libgradcrt.a is there)
#   %python        /usr/bin/python3 (with NumPy)
#   %expect_exit   %expect_exit N CMD...: runs CMD, passes if it exits with status
#                  exactly N (and did not crash)
#
# Features: `sanitizers` when gradc was built with SAN flags (`make check-asan`;
# --param sanitizers=1): a test that cannot work then (e.g. one that loads a
# generated .so into an uninstrumented program) says `UNSUPPORTED: sanitizers`.
# `gradc-check` when `gradc check` works on a trivial program; tests
# compare gradients with finite differences under `%if gradc-check %{ ... %}`.
# --param check=1 forces the feature on (a broken `gradc check` then fails
# those tests instead of skipping them; `make test` and `make check-asan` pass
# it), --param check=0 forces it off.

import os
import subprocess

import lit.formats

config.name = "gradc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".grad", ".test"]
# tests/unit holds C programs run by `make unit`; Inputs/ holds files tests use.
config.excludes = ["unit", "Inputs", "lit.cfg.py", "tests.mk"]

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
config.test_source_root = here


def param(name, env, default):
    v = lit_config.params.get(name) or (os.environ.get(env) if env else None)
    return v or default


gradc = os.path.abspath(param("gradc", "GRADC", os.path.join(root, "build", "gradc")))
build = os.path.abspath(param("build", None, os.path.dirname(gradc)))
llvm_tools = param("llvm_tools", None, "/usr/lib/llvm-19/bin")
python = param("python", None, "/usr/bin/python3")
examples = os.path.join(root, "examples")

# Temporary files (%t) go under the build directory, not the source tree.
config.test_exec_root = os.path.join(build, "lit")

if not os.access(gradc, os.X_OK):
    lit_config.warning("gradc binary not found at %s (build it with `make`)" % gradc)

# Environment: lit clears most variables; keep what the sanitizers and the
# tools need, and put the tools on PATH.
for var in ["ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH",
            "TMPDIR", "HOME", "LANG", "LC_ALL"]:
    if var in os.environ:
        config.environment[var] = os.environ[var]
config.environment["PATH"] = os.pathsep.join(
    [os.path.dirname(gradc), llvm_tools, os.environ.get("PATH", "/usr/bin:/bin")])


def tool(name):
    # A tool name as a whole word, not part of a path or an option.
    return r"(?<![\w./%-])" + name + r"(?![\w/-])"


config.substitutions.append((tool("gradc"), gradc))
config.substitutions.append((tool("FileCheck"), os.path.join(llvm_tools, "FileCheck")))
config.substitutions.append((tool("not"), os.path.join(llvm_tools, "not")))
config.substitutions.append(("%examples", examples))
config.substitutions.append(("%build", build))
config.substitutions.append(("%python", python))
config.substitutions.append(
    ("%expect_exit", "%s %s" % (python, os.path.join(here, "Inputs", "expect_exit.py"))))


def gradc_check_works():
    """True when `gradc check` runs on a trivial program (the JIT is in)."""
    if not os.access(gradc, os.X_OK):
        return False
    probe = os.path.join(here, "Inputs", "probe.grad")
    try:
        r = subprocess.run([gradc, "check", probe], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60,
                           env=dict(os.environ, **config.environment))
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


if param("sanitizers", None, "0") == "1":
    config.available_features.add("sanitizers")

check = param("check", "GRADC_LIT_CHECK", "auto")
if check == "1" or (check == "auto" and gradc_check_works()):
    config.available_features.add("gradc-check")
elif check == "auto":
    lit_config.note("`gradc check` does not run on tests/Inputs/probe.grad: the "
                    "finite-difference checks (%if gradc-check) are skipped")
