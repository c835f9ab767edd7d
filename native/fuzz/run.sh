#!/bin/sh
# Builds the libFuzzer targets (make fuzz) and runs each one in turn.
#
#   fuzz/run.sh [--seconds N]   fuzz each target N seconds (default 60) on a copy of its seed
#                               corpus under build/fuzz/corpus/, crashes in build/fuzz/artifacts/
#   fuzz/run.sh --target NAME   only that target (e.g. frame_fuzz), with either mode
#   fuzz/run.sh --regression    run each target once over the seed corpus (used by make test);
#                               without clang++ it prints why and succeeds
#   fuzz/run.sh --session [--seconds N] [--seed N] [--clients K]
#                               the session fuzzer (session_fuzz.cc: engine + WsServer on the real
#                               kernel, ASan + UBSan, g++), N seconds (default 60) from a fresh seed
#                               unless one is given; the seed is printed first and on failure
#
# Runs under `nice -n 10`: the machine is shared. FUZZ_BUILD_DIR (default build/fuzz) moves the
# binaries, corpus copies, logs and artifacts elsewhere, e.g. out of a build/ that others clean.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
native=$(dirname "$here")
seconds=60
regression=0
session=0
seed=
clients=
only=
while [ $# -gt 0 ]; do
  case "$1" in
    --session) session=1; shift ;;
    --seed) seed=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    --regression) regression=1; shift ;;
    --target) only=$2; shift 2 ;;
    *) echo "usage: fuzz/run.sh [--seconds N] [--target NAME] [--regression] | --session [--seconds N] [--seed N] [--clients K]" >&2; exit 2 ;;
  esac
done

if [ "$session" = 1 ]; then
  make -s -C "$native" session-fuzz
  [ -n "$seed" ] || seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
  exec nice -n 10 "$native/build-test/session_fuzz" --seed "$seed" --seconds "$seconds" \
    ${clients:+--clients "$clients"}
fi

fuzz_cxx=${FUZZ_CXX:-clang++}
if ! command -v "$fuzz_cxx" >/dev/null 2>&1; then
  echo "fuzz: skipped, $fuzz_cxx not found (install it: apt-get install -y clang libclang-rt-14-dev)"
  [ "$regression" = 1 ] && exit 0 || exit 1
fi

out=${FUZZ_BUILD_DIR:-$native/build/fuzz}
make -s -C "$native" fuzz FUZZ_CXX="$fuzz_cxx" FUZZ_BUILD="$out"

# UBSan findings must stop the run like ASan's do.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for target in "$here"/*_fuzz.cc; do
  name=$(basename "$target" .cc)
  [ "$name" = session_fuzz ] && continue  # not libFuzzer: --session
  [ -n "$only" ] && [ "$name" != "$only" ] && continue
  bin="$out/$name"
  seeds="$here/corpus/$name"
  if [ "$regression" = 1 ]; then
    if nice -n 10 "$bin" -runs=0 "$seeds" >"$out/$name.log" 2>&1; then
      echo "fuzz: $name replayed $(ls "$seeds" | wc -l) seed inputs, no findings"
    else
      echo "fuzz: $name FAILED on its seed corpus, see $out/$name.log"; status=1
    fi
    continue
  fi
  work="$out/corpus/$name"
  artifacts="$out/artifacts/$name/"
  mkdir -p "$work" "$artifacts"
  cp -n "$seeds"/* "$work"/ 2>/dev/null || true
  before=$(ls "$artifacts" | wc -l)
  log="$out/$name.log"
  echo "fuzz: $name for ${seconds}s ..."
  set +e
  nice -n 10 "$bin" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts" "$work" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  found=$(( $(ls "$artifacts" | wc -l) - before ))
  echo "fuzz: $name ran ${seconds}s, $execs execs, $cov, corpus $(ls "$work" | wc -l) inputs, $found new artifacts"
  if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
    echo "fuzz: $name FOUND a failure (exit $rc); see $log and $artifacts"; status=1
  fi
done
exit $status
