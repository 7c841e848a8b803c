# shellcheck shell=bash
# Assertion helpers for the system tests (tests/system/test-*.sh).
#
#   source "$(dirname "$0")/lib.sh"     # also sources scripts/lab-lib.sh
#   require_root
#   require_tools ip tcpdump socat
#   test_deadline 170                   # the test fails past this many s
#   check "b11 reaches b21" lab_ping b11 198.19.1.21
#   check_fails "red cannot reach blue" lab_exec r11 ping -c1 -W1 198.19.1.12
#   require "lab is up" setup_lab       # like check; aborts the test on failure
#   finish                              # tally, cleanup, exit status
#
# Every check prints "ok - DESC" or "FAIL - DESC" followed by the command's
# output.  finish prints "N passed, N failed" as the last line and exits
# non-zero when a check failed or when no check was made at all.  A missing
# tool or missing root privileges is a failure, never a silent skip.

SYSTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lab-lib.sh
source "$SYSTEST_DIR/../../scripts/lab-lib.sh"

T_PASS=0
T_FAIL=0
T_NAME=$(basename "${0%.sh}")
T_START=$SECONDS
T_WATCHDOG=
# The tally and ok/FAIL lines always go to the test's own stdout, also when
# finish runs from inside a check (whose output is being captured).
exec {T_OUT}>&1

_t_out() { sed -e 's/^/    | /' | tail -n "${CHECK_OUTPUT_LINES:-40}"; }

_t_pass() {
  T_PASS=$((T_PASS + 1))
  echo "ok - $1" >&"$T_OUT"
}

_t_fail() {
  T_FAIL=$((T_FAIL + 1))
  LAB_FAILED=1
  echo "FAIL - $1" >&"$T_OUT"
}

# check DESC CMD...: passes when CMD exits 0.  CMD runs in the current shell
# (shell functions work); its output is shown only on failure, or always when
# VERBOSE=1.
check() {
  local desc=$1
  shift
  local out rc
  out=$(mktemp)
  T_CUR_DESC=$desc T_CUR_OUT=$out
  "$@" >"$out" 2>&1
  rc=$?
  T_CUR_DESC='' T_CUR_OUT=''
  if [ "$rc" -eq 0 ]; then
    _t_pass "$desc"
    [ -n "${VERBOSE:-}" ] && _t_out <"$out" >&"$T_OUT"
  else
    _t_fail "$desc"
    echo "    (exit status $rc: $*)" >&"$T_OUT"
    _t_out <"$out" >&"$T_OUT"
  fi
  rm -f "$out"
  return "$rc"
}

# check_fails DESC CMD...: passes when CMD exits non-zero.
check_fails() {
  local desc=$1
  shift
  local out rc
  out=$(mktemp)
  T_CUR_DESC=$desc T_CUR_OUT=$out
  "$@" >"$out" 2>&1
  rc=$?
  T_CUR_DESC='' T_CUR_OUT=''
  if [ "$rc" -ne 0 ]; then
    _t_pass "$desc"
    [ -n "${VERBOSE:-}" ] && _t_out <"$out" >&"$T_OUT"
    rm -f "$out"
    return 0
  fi
  _t_fail "$desc"
  echo "    (succeeded but must fail: $*)" >&"$T_OUT"
  _t_out <"$out" >&"$T_OUT"
  rm -f "$out"
  return 1
}

# require DESC CMD...: a check whose failure ends the test (e.g. setup).
require() {
  check "$@" && return 0
  echo "# aborting: a required step failed" >&"$T_OUT"
  finish
}

# fail DESC [DETAIL...]: records a failure without running anything.
fail() {
  _t_fail "$1"
  shift
  [ "$#" -gt 0 ] && echo "    $*" >&"$T_OUT"
  return 0
}

# require_root: fails the test (never skips) unless running as root.
require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    fail "running as root" "system tests need root for network namespaces; run with sudo"
    finish
  fi
}

# require_tools TOOL...: fails the test, naming what is missing.
require_tools() {
  local t missing=()
  for t in "$@"; do
    if [[ "$t" == /* ]]; then
      [ -x "$t" ] || missing+=("$t")
    else
      command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    fi
  done
  if [ "${#missing[@]}" -ne 0 ]; then
    fail "required tools present" "missing: ${missing[*]} (install with: make deps)"
    finish
  fi
}

# require_agent: fails the test when the agent binary is not built.
require_agent() {
  local a=${WEFT_AGENT:-${WEFT_BUILD:-$LAB_REPO/build/asan}/bin/weft-agent}
  if [ ! -x "$a" ]; then
    fail "agent binary present" "not found: $a (build with: make VARIANT=asan build)"
    finish
  fi
}

_t_watchdog_fired() {
  fail "test finished within its ${T_DEADLINE} s deadline"
  finish
}

_t_stop_watchdog() {
  if [ -n "$T_WATCHDOG" ]; then
    kill -TERM "$T_WATCHDOG" 2>/dev/null
    lab_wait_pid "$T_WATCHDOG" 5
    T_WATCHDOG=
  fi
}

# test_deadline SECONDS: past SECONDS the test records a failure and stops
# (at the end of the command running then; every command is time-bounded).
test_deadline() {
  T_DEADLINE=$1
  trap '_t_watchdog_fired' USR1
  (
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$T_DEADLINE" &
    s=$!
    wait "$s"
    # Signal the test only while it is still our parent (never a PID that
    # was reused after the test died).
    read -r _ _ _ ppid _ </proc/$BASHPID/stat
    [ "$ppid" = "$$" ] && kill -USR1 $$ 2>/dev/null
  ) &
  T_WATCHDOG=$!
}

# check_agents_stop_cleanly: every running agent exits 0 on SIGTERM, and no
# agent log holds a sanitizer report.
check_agents_stop_cleanly() {
  local h
  for h in "${LAB_HOSTS[@]}"; do
    [ -n "${LAB_AGENT_PID[$h]:-}" ] || continue
    check "agent on $h exits with status 0 on SIGTERM" lab_stop_agent "$h"
  done
  check "no sanitizer report in any agent log" lab_sanitizer_clean
}

# The shell exited without finish (e.g. a `set -u` error inside a check):
# report it as a failure, with the output of the check that was running, and
# still print the tally.  Called by lab-lib's EXIT trap or our own.
lab_exit_hook() {
  local rc=$1
  trap - EXIT USR1
  _t_stop_watchdog
  if [ -n "${T_CUR_DESC:-}" ]; then
    _t_fail "$T_CUR_DESC (the test exited inside this check, status $rc)"
    [ -f "$T_CUR_OUT" ] && _t_out <"$T_CUR_OUT" >&"$T_OUT" && rm -f "$T_CUR_OUT"
  else
    _t_fail "test script exited before finish (status $rc)"
  fi
  echo "$T_PASS passed, $T_FAIL failed" >&"$T_OUT"
  exit 1
}
trap 'lab_exit_hook $?' EXIT
T_CUR_DESC=
T_CUR_OUT=

# finish: cleans the lab up, prints the tally as the last line, exits.
finish() {
  trap - USR1
  _t_stop_watchdog
  if [ $((T_PASS + T_FAIL)) -eq 0 ]; then
    fail "the test made at least one check"
  fi
  if declare -F lab_cleanup >/dev/null; then
    lab_cleanup >&"$T_OUT" 2>&1
  fi
  echo "# $T_NAME: $((SECONDS - T_START)) s" >&"$T_OUT"
  echo "$T_PASS passed, $T_FAIL failed" >&"$T_OUT"
  trap - EXIT
  [ "$T_FAIL" -eq 0 ] && exit 0
  exit 1
}
