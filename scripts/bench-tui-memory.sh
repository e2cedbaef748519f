#!/bin/bash
# Issue 18's TUI figures: BIN in tmux (120x40) with CONFIG (one MicroStrategy profile whose
# password comes from $M18_PW), wait until the Datasources tab shows COUNT, 1 s more, then
# VmRSS and VmHWM of the process. The load time is counted from 0.5 s after the spawn (when
# the pid is read) to the first poll (every 0.1 s) that sees the count.
# Usage: scripts/bench-tui-memory.sh BIN CONFIG COUNT
set -u
BIN=$1; CONFIG=$2; COUNT=$3; S=dsconsole-mem$$
tmux new-session -d -s $S -x 120 -y 40 "env M18_PW=${M18_PW:-demo-password} $BIN --config $CONFIG"
sleep 0.5
PID=$(pgrep -f "^$BIN --config $CONFIG" | head -1)
start=$(date +%s.%N)
for _ in $(seq 1 600); do
  tmux capture-pane -p -t $S | grep -q "Datasources ($COUNT)" && break
  sleep 0.1
done
loaded=$(date +%s.%N)
sleep 1
echo "$BIN: loaded after $(echo "$loaded - $start" | bc) s; $(grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \n' ' ')"
tmux kill-session -t $S
