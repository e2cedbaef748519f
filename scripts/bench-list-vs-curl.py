#!/usr/bin/env python3
"""Issue 18's `list` figures, alternated in one run: a plain curl of the three MicroStrategy
list answers (login, then the three GETs concurrently), then each given build's
`list m --output ndjson` with stdout read and discarded: time to the first output byte
(the load), wall, CPU (user + system) and peak resident size (wait4's ru_maxrss = VmHWM).

Usage: scripts/bench-list-vs-curl.py CONFIG BASE_URL RUNS BIN...
CONFIG has a MicroStrategy profile `m` whose password comes from $M18_PW; BASE_URL is the
simulator's MicroStrategy URL (`dsconsole sim --scale 100000` prints it).
"""
import os, statistics, subprocess, sys, time

cfg, base, runs, bins = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
os.environ.setdefault("M18_PW", "demo-password")
CURL = r"""
B=%s/api; J=$(mktemp)
T=$(curl -s -c $J -D - -o /dev/null -H 'Content-Type: application/json' \
  -d '{"loginMode":1,"username":"administrator","password":"demo-password"}' $B/auth/login \
  | tr -d '\r' | awk -F': ' 'tolower($1)=="x-mstr-authtoken"{print $2}')
for p in datasources datasources/connections datasources/logins; do
  curl -s -b $J -H "X-MSTR-AuthToken: $T" -o /dev/null $B/$p &
done; wait; rm -f $J
""" % base


def one(b):
    t = time.time()
    p = subprocess.Popen([b, "--config", cfg, "list", "m", "--output", "ndjson"], stdout=subprocess.PIPE)
    p.stdout.read(1)
    t1 = time.time()
    while p.stdout.read(1 << 20):
        pass
    _, status, ru = os.wait4(p.pid, 0)
    assert status == 0, b
    return (t1 - t, time.time() - t, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)


def mmm(xs):
    xs = sorted(xs)
    return f"{xs[0]:.2f} / {statistics.median(xs):.2f} / {xs[-1]:.2f}"


res = {b: [] for b in bins}
curl = []
for _ in range(runs):
    t = time.time()
    subprocess.run(["bash", "-c", CURL], check=True)
    curl.append(time.time() - t)
    for b in bins:
        res[b].append(one(b))
print(f"curl of the three answers, wall s (min / median / max): {mmm(curl)}")
for b in bins:
    r = res[b]
    print(f"{b}: load (first byte) s {mmm([x[0] for x in r])}; wall s {mmm([x[1] for x in r])}; "
          f"cpu s {mmm([x[2] for x in r])}; peak MiB {mmm([x[3] for x in r])}")
