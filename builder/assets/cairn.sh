#!/bin/sh
# cairn — Cairn's helpers inside a build container (installed by the builder as ~/.cairn/bin/cairn,
# also answering as `circleci`). POSIX sh + awk; nothing here talks to the network.
#
#   cairn tests split [--split-by=name|filesize|timings] [--timings-type=filename|classname|testname]
#                     [--index=N] [--total=N] [--timings-file=FILE] [LIST_FILE...]
#       Reads test names (one a line) from LIST_FILEs or stdin and prints this slice's share.
#       The slice is CIRCLE_NODE_INDEX of CIRCLE_NODE_TOTAL unless --index/--total say otherwise.
#       Every slice computes the same partition (deterministic), so the shares are disjoint and
#       together complete. name: round robin over the sorted names. filesize and timings: greedy
#       bin packing, largest first, each to the lightest slice (ties: the lower index); a name
#       with no timing weighs the average of those that have one.
#   cairn tests glob PATTERN...
#       Prints the files matching the patterns (`**` matches across directories), sorted, once each.
set -u

die() { echo "cairn: $*" >&2; exit 2; }
TAB=$(printf '\t')

split() {
  by=name ttype=filename index=${CIRCLE_NODE_INDEX:-${CAIRN_NODE_INDEX:-0}} total=${CIRCLE_NODE_TOTAL:-${CAIRN_NODE_TOTAL:-1}}
  timings=${CAIRN_TIMINGS_FILE:-${HOME:-/root}/.cairn/timings.tsv}
  while [ $# -gt 0 ]; do
    case $1 in
      --split-by=*) by=${1#*=} ;;
      --split-by) [ $# -ge 2 ] || die "--split-by needs a value"; by=$2; shift ;;
      --timings-type=*) ttype=${1#*=} ;;
      --timings-type) [ $# -ge 2 ] || die "--timings-type needs a value"; ttype=$2; shift ;;
      --index=*) index=${1#*=} ;;
      --total=*) total=${1#*=} ;;
      --timings-file=*) timings=${1#*=} ;;
      --show-counts|--verbose) ;;
      --) shift; break ;;
      -*) die "tests split: unknown option $1" ;;
      *) break ;;
    esac
    shift
  done
  case $by in name|filesize|timings) ;; *) die "--split-by must be name, filesize or timings, not $by" ;; esac
  case $ttype in filename|classname|testname) ;; *) die "--timings-type must be filename, classname or testname, not $ttype" ;; esac
  case $index$total in *[!0-9]*|'') die "the slice index and total must be numbers ($index of $total)" ;; esac
  [ "$total" -ge 1 ] && [ "$index" -lt "$total" ] || die "slice index $index is outside 0..$((total - 1))"

  # Names, once each, in first-seen order: "order<TAB>name".
  names=$(cat "$@" | awk 'NF && !seen[$0]++ { print ++n "\t" $0 }') || die "cannot read the list of names"
  [ -n "$names" ] || exit 0

  case $by in
    name)
      # Round robin over the names in byte order.
      printf '%s\n' "$names" | LC_ALL=C sort -t "$TAB" -k2 |
        awk -F '\t' -v i="$index" -v t="$total" '(NR - 1) % t == i { print $1 "\t" $2 }' |
        sort -t "$TAB" -k1,1n | cut -f2-
      return ;;
    filesize)
      weighed=$(printf '%s\n' "$names" | while IFS="$TAB" read -r order name; do
        if [ -f "$name" ]; then size=$(wc -c <"$name" | tr -d ' '); else size=0; fi
        printf '%s\t%s\t%s\n' "$size" "$order" "$name"
      done) ;;
    timings)
      [ -f "$timings" ] || timings=/dev/null
      kind=file; [ "$ttype" = classname ] && kind=classname; [ "$ttype" = testname ] && kind=testname
      weighed=$(printf '%s\n' "$names" | awk -F '\t' -v kind="$kind" -v tf="$timings" -v OFS='\t' '
        function norm(s) { sub(/^\.\//, "", s); return s }
        FILENAME == tf { if ($1 == kind) { t[norm($2)] = $3; sum += $3; known++ } ; next }
        { order[++n] = $1; name[n] = $2 }
        END {
          avg = known ? sum / known : 1
          for (i = 1; i <= n; i++) { k = norm(name[i]); print ((k in t) ? t[k] : avg), order[i], name[i] }
        }' "$timings" -) ;;
  esac
  # Greedy: heaviest first (ties by name), each to the lightest slice (ties: fewer names, then lower index).
  printf '%s\n' "$weighed" | LC_ALL=C sort -t "$TAB" -k1,1nr -k3 |
    awk -F '\t' -v i="$index" -v t="$total" '
      BEGIN { for (b = 0; b < t; b++) { load[b] = 0; count[b] = 0 } }
      {
        best = 0
        for (b = 1; b < t; b++) if (load[b] < load[best] || (load[b] == load[best] && count[b] < count[best])) best = b
        load[best] += $1; count[best]++
        if (best == i) print $2 "\t" $3
      }' |
    sort -t "$TAB" -k1,1n | cut -f2-
}

glob() {
  [ $# -gt 0 ] || die "tests glob needs at least one pattern"
  if command -v bash >/dev/null 2>&1; then
    bash -O globstar -O nullglob -O dotglob -c 'for p in "$@"; do for f in $p; do [ -f "$f" ] && printf "%s\n" "$f"; done; done' cairn-glob "$@"
  else
    for p in "$@"; do for f in $p; do [ -f "$f" ] && printf '%s\n' "$f"; done; done
  fi | LC_ALL=C sort -u
}

case ${1:-} in
  tests)
    shift
    case ${1:-} in
      split) shift; split "$@" ;;
      glob) shift; glob "$@" ;;
      *) die "usage: cairn tests split|glob ..." ;;
    esac ;;
  *) die "usage: cairn tests split|glob ... (this is Cairn's in-container helper)" ;;
esac
