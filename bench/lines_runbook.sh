# Sourced by bench/headless_lines.sh and bench/headless_ab.sh: the one-step runbook whose step
# is `seq 1 N`, whose lines both count as ` gen | `.
# Usage: lines_runbook N FILE
lines_runbook() {
    cat >"$2" <<YAML
name: headless lines
phases:
  - id: bench
    title: Bench
    steps:
      - id: gen
        title: seq 1 $1
        run: seq 1 $1
YAML
}
