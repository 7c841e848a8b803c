# Shared by the end-to-end benchmarks (bench/e2e-datapath.sh,
# bench/e2e-routing.sh), sourced after scripts/lab-lib.sh and their own
# log(): CPU accounting (diagnostics on stderr) and the RTT measurement.
#
# cpu_mark: remembers the machine's busy/total ticks and, for each running
# agent, its packet thread's (weft-dp) ticks, all and system time.  cpu_report LABEL logs their
# use since the mark, in % of one CPU, and leaves the agents' packet
# threads' sum in CPU_DP_SUM.
declare -A CPU0=()
_cpu_machine() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i;
  print t - $5 - $6, t; exit }' /proc/stat; }
_cpu_dp() { # PID [sys]: utime+stime of its weft-dp thread(s), or stime
  local t s=0 f
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = weft-dp ] || continue
    # Fields after "PID (COMM) ": state is [0], utime [11], stime [12].
    read -r -a f < <(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
    if [ "${2:-}" = sys ]; then s=$((s + f[12])); else s=$((s + f[11] + f[12])); fi
  done
  echo "$s"
}
cpu_mark() {
  local h pid
  read -r 'CPU0[busy]' 'CPU0[total]' < <(_cpu_machine)
  for h in h1 h2; do
    pid=$(lab_agent_pid "$h")
    [ -n "$pid" ] && CPU0[$h]=$(_cpu_dp "$pid") && CPU0[$h.sys]=$(_cpu_dp "$pid" sys)
  done
}
cpu_report() {
  local busy total h pid msg ncpu span pct
  CPU_DP_SUM=0 # the agents' packet threads, % of one CPU, summed
  read -r busy total < <(_cpu_machine)
  ncpu=$(nproc)
  span=$((total - CPU0[total] + 1))
  msg="machine CPU busy $(((busy - CPU0[busy]) * 100 * ncpu / span))% of one CPU"
  msg+=" ($ncpu CPUs)"
  for h in h1 h2; do
    pid=$(lab_agent_pid "$h")
    if [ -z "$pid" ] || [ -z "${CPU0[$h]:-}" ]; then continue; fi
    pct=$((($(_cpu_dp "$pid") - CPU0[$h]) * 100 * ncpu / span))
    CPU_DP_SUM=$((CPU_DP_SUM + pct))
    msg+=", $h weft-dp $pct% (in the kernel $((($(_cpu_dp "$pid" sys) - CPU0[$h.sys]) * 100 * ncpu / span))%)"
  done
  log "$1: $msg"
}

# _cpu_steal: the machine's steal ticks (time the hypervisor ran someone
# else while a vCPU wanted to run) and total ticks.
_cpu_steal() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t; exit }' /proc/stat; }

# measure_rtt TAG IP: ping vm1 -> IP, RTT_COUNT samples 10 ms apart;
# R[p50_TAG], R[p99_TAG] in microseconds (R: the caller's declare -A).
measure_rtt() {
  local tag=$1 ip=$2 out=$LAB_DIR/ping-$1.txt sorted=$LAB_DIR/rtt-$1.txt n st0 st1
  st0=$(_cpu_steal)
  cpu_mark
  lab_exec vm1 timeout $((RTT_COUNT / 50 + 20)) \
    ping -n -c "$RTT_COUNT" -i 0.01 -W 1 "$ip" >"$out" 2>&1
  sed -nE 's/.* time=([0-9.]+) ms.*/\1/p' "$out" |
    awk '{ printf "%.1f\n", $1 * 1000 }' | sort -n >"$sorted"
  n=$(wc -l <"$sorted")
  st1=$(_cpu_steal)
  cpu_report "$tag: ping"
  log "$tag: ping: $(grep -E 'packets transmitted' "$out");" \
    "$(awk '$1 > 1000 { n++ } END { print n + 0 }' "$sorted") samples over 1 ms;" \
    "steal $(awk -v a="$st0" -v b="$st1" 'BEGIN { split(a, x); split(b, y)
      printf "%.1f", (y[2] - x[2] > 0 ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0) }')% of CPU time"
  [ "$n" -ge $((RTT_COUNT / 2)) ] || { log "$tag: only $n RTT samples"; return 1; }
  R[p50_$tag]=$(awk -v n="$n" 'NR == int(n * 0.50 + 0.999999) { print; exit }' "$sorted")
  R[p99_$tag]=$(awk -v n="$n" 'NR == int(n * 0.99 + 0.999999) { print; exit }' "$sorted")
  log "$tag: RTT us: min $(head -1 "$sorted") p50 ${R[p50_$tag]}" \
    "p90 $(awk -v n="$n" 'NR == int(n * 0.90 + 0.999999)' "$sorted")" \
    "p99 ${R[p99_$tag]} max $(tail -1 "$sorted") ($n samples)"
}
