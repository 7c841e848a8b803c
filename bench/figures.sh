# shellcheck shell=bash
# Helpers for benchmark scripts that run a benchmark program more than
# once and report one figure per name (sourced, not run).

# figures_median FILE...: FILEs hold the `name: value unit` lines of one run
# each.  Prints, for every name in the order first seen, `name: median unit`
# (the middle value; with an even number of runs the mean of the two middle
# ones), and for every name ending in _cost_pct also `name_max: worst unit`,
# so the spread a median hides stays visible.  Other lines are ignored.
figures_median() {
  awk '
    NF == 3 && $1 ~ /^[a-z0-9_]+:$/ && $2 ~ /^-?[0-9]+(\.[0-9]+)?$/ {
      name = substr($1, 1, length($1) - 1)
      if (!(name in count)) {
        order[++names] = name
        unit[name] = $3
      }
      v[name, ++count[name]] = $2
    }
    END {
      for (i = 1; i <= names; i++) {
        name = order[i]
        n = count[name]
        for (a = 2; a <= n; a++) { # insertion sort, numerically
          x = v[name, a]
          for (b = a - 1; b >= 1 && v[name, b] + 0 > x + 0; b--) {
            v[name, b + 1] = v[name, b]
          }
          v[name, b + 1] = x
        }
        if (n % 2) {
          mid = v[name, (n + 1) / 2]
        } else {
          mid = sprintf("%.2f", (v[name, n / 2] + v[name, n / 2 + 1]) / 2)
        }
        printf "%s: %s %s\n", name, mid, unit[name]
        if (name ~ /_cost_pct$/) {
          printf "%s_max: %s %s\n", name, v[name, n], unit[name]
        }
      }
    }' "$@"
}
