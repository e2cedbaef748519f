#!/usr/bin/env bash
# The layering of src/, checked from the code: each top-level module may use only modules on
# a lower layer (`use crate::X` or a `crate::X::` path). Prints every violation; exit 1 if any.
#   9 main   8 cli   7 tui, headless   6 ui   5 app   4 ops, config   3 vendors   2 sim, filter, impact, overview
#   1 model, logging, signals, keystore   0 text, redact
set -euo pipefail
cd "$(dirname "$0")/.."

rank() {
  case "$1" in
    main) echo 9 ;; cli) echo 8 ;; tui|headless) echo 7 ;; ui) echo 6 ;; app) echo 5 ;;
    ops|config) echo 4 ;; vendors) echo 3 ;; sim|filter|impact|overview) echo 2 ;;
    model|logging|signals|keystore) echo 1 ;; text|redact) echo 0 ;; lib) echo 10 ;;
    *) echo "unknown" ;;
  esac
}

bad=0
while IFS= read -r file; do
  module=${file#src/}
  module=${module%%/*}
  module=${module%.rs}
  from=$(rank "$module")
  if [ "$from" = unknown ]; then
    echo "layers: $file: module '$module' has no layer (add it to .ci/layers.sh)"
    bad=1
    continue
  fi
  # Code lines only (not // comments), every crate:: path they name.
  for used in $(grep -v '^\s*//' "$file" | grep -o 'crate::[a-z_]*' | sed 's/crate:://' | sort -u); do
    [ "$used" = "$module" ] && continue
    to=$(rank "$used")
    if [ "$to" = unknown ] || [ "$to" -ge "$from" ]; then
      echo "layers: $file uses crate::$used (layer $to) from $module (layer $from)"
      bad=1
    fi
  done
done < <(find src -name '*.rs' | sort)

if [ "$bad" = 0 ]; then
  echo "layers: ok"
fi
exit "$bad"
