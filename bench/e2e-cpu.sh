# CPU accounting for the end-to-end benchmarks (diagnostics on stderr),
# sourced by bench/e2e-datapath.sh and bench/e2e-routing.sh after
# scripts/lab-lib.sh (lab_agent_pid) and their own log().
#
# cpu_mark: remembers the machine's busy/total ticks and, for each running
# agent, its packet thread's (weft-dp) ticks.  cpu_report LABEL logs their
# use since the mark, in % of one CPU.
declare -A CPU0=()
_cpu_machine() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i;
  print t - $5 - $6, t; exit }' /proc/stat; }
_cpu_dp() { # PID: utime+stime of its weft-dp thread(s)
  local t s=0 f
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = weft-dp ] || continue
    # Fields after "PID (COMM) ": state is [0], utime [11], stime [12].
    read -r -a f < <(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
    s=$((s + f[11] + f[12]))
  done
  echo "$s"
}
cpu_mark() {
  local h pid
  read -r 'CPU0[busy]' 'CPU0[total]' < <(_cpu_machine)
  for h in h1 h2; do
    pid=$(lab_agent_pid "$h")
    [ -n "$pid" ] && CPU0[$h]=$(_cpu_dp "$pid")
  done
}
cpu_report() {
  local busy total h pid msg ncpu span
  read -r busy total < <(_cpu_machine)
  ncpu=$(nproc)
  span=$((total - CPU0[total] + 1))
  msg="machine CPU busy $(((busy - CPU0[busy]) * 100 * ncpu / span))% of one CPU"
  msg+=" ($ncpu CPUs)"
  for h in h1 h2; do
    pid=$(lab_agent_pid "$h")
    if [ -z "$pid" ] || [ -z "${CPU0[$h]:-}" ]; then continue; fi
    msg+=", $h weft-dp $((($(_cpu_dp "$pid") - CPU0[$h]) * 100 * ncpu / span))%"
  done
  log "$1: $msg"
}
