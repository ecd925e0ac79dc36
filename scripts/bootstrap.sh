#!/usr/bin/env bash
# Install everything the harness needs, then run the demo or the test suite.
#
#   bash scripts/bootstrap.sh demo   # install, then diff the candidate on the synthetic slice
#   bash scripts/bootstrap.sh test   # install, then run the test suite
#
# Idempotent: R and mclust are installed only when missing, the virtual
# environment in .venv only when pyproject.toml changed since the last install.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode="${1:-}"
shift || true

log() { printf '[bootstrap] %s\n' "$*" >&2; }

install_r() {
    if command -v Rscript >/dev/null 2>&1 && Rscript -e 'quit(status = !requireNamespace("mclust", quietly = TRUE))' >/dev/null 2>&1; then
        log "R $(Rscript -e 'cat(R.version$major, R.version$minor, sep=".")' 2>/dev/null) with mclust: present"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "R with the mclust package is missing and apt-get is not available."
        log "Install R (4.2 or newer) and mclust by hand, then run this script again."
        exit 2
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    log "installing R and mclust from Debian (r-base-core r-cran-mclust)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        r-base-core r-cran-mclust >/dev/null
}

install_python() {
    local python="${PYTHON:-python3.11}"
    if ! command -v "$python" >/dev/null 2>&1; then
        log "$python not found: the harness needs Python 3.11 (set PYTHON=/path/to/python3.11)."
        exit 2
    fi
    if [ ! -x .venv/bin/python ]; then
        log "creating .venv with $python"
        "$python" -m venv .venv
    fi
    local stamp=".venv/.harness-install-stamp"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c 'import harness' 2>/dev/null; then
        log "Python packages: up to date"
        return
    fi
    log "installing Python packages into .venv (the first time takes a few minutes: torch is large)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[test]"
    echo "$want" > "$stamp"
}

case "$mode" in
    demo|test) ;;
    *)
        echo "usage: bash scripts/bootstrap.sh demo|test [extra arguments]" >&2
        exit 2
        ;;
esac

install_r
install_python

if [ "$mode" = demo ]; then
    exec .venv/bin/harness demo "$@"
fi

tmp_root="${TMPDIR:-/tmp}"
log "free space for test folders in $tmp_root: $(df -h --output=avail "$tmp_root" | tail -1 | tr -d ' ') (the DLPFC end-to-end tests write about 6 GB at once)"
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    log "pytest collected no tests: counted as a failure"
    exit 1
fi
exit "$status"
