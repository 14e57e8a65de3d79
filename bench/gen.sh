#!/usr/bin/env bash
# gen.sh: time `mirrorsteer gen` against issue 12's targets, on two
# synthetic inventories (bench/mkinventory): 400 mirrors with 2 releases
# x 2 architectures, and 2,000 mirrors. For each, RUNS times (default
# 5): a first run into an empty directory, an unchanged rerun, and
# `cp -a` of the tree the first run wrote; it prints the medians, peak
# memory and the two ratios the issue sets:
#
#   unchanged rerun / first run  <= 0.10
#   first run / cp -a            <= 1.5
#
# gen makes its tree durable before publishing it (syncfs); cp -a does
# not sync. Each step starts with nothing dirty (sync, not timed). No
# snapshot (-s) is given, as in the issue's figures. Run it on a quiet
# machine: both cores are used. MIRRORSTEER=path times another build;
# TMPDIR chooses the filesystem. Nothing is removed until the end, so
# the filesystem needs about 55,000 inodes a run (274,000 for 5): the
# default mkfs.ext4 of a 3 GiB image has 196,608, too few; make it with
# one inode per 4 KiB, for a journaled ext4 on a loop device:
#
#   truncate -s 3G /tmp/j.img && mkfs.ext4 -q -i 4096 /tmp/j.img &&
#     mkdir -p /mnt/j && mount -o loop /tmp/j.img /mnt/j &&
#     TMPDIR=/mnt/j RUNS=5 bench/gen.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=${MIRRORSTEER:-$work/mirrorsteer}
[ -n "${MIRRORSTEER:-}" ] || go build -o "$bin" ./cmd/mirrorsteer
go run ./bench/mkinventory -n 400 -releases 2 -archs 2 > "$work/400.toml"
go run ./bench/mkinventory -n 2000 > "$work/2000.toml"

# timed file command...: runs command, appends "seconds KiB" to file.
# What the steps before left dirty is written back first, so that gen's
# syncfs does not pay for the copy cp -a left in the page cache.
timed() {
	local f=$1
	shift
	sync
	if ! /usr/bin/time -f "%e %M" -o "$work/t" "$@" > /dev/null 2> "$work/err"; then
		echo "gen.sh: $* failed:" >&2
		tail -5 "$work/err" >&2
		df -h -i "$work" >&2
		exit 1
	fi
	cat "$work/t" >> "$f"
}

# median column file: the median of a column of numbers.
median() {
	cut -d' ' -f"$1" "$2" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# verdict value limit: "met" or "NOT met".
verdict() {
	awk -v v="$1" -v l="$2" 'BEGIN {print (v <= l) ? "met" : "NOT met"}'
}

echo "gen: medians of $runs runs on $(nproc) cores (first run, unchanged rerun, cp -a of the tree)"
printf '%-34s %7s %8s %8s %8s %10s  %-22s %s\n' inventory files first rerun "cp -a" "peak RSS" "rerun/first <= 0.10" "first/cp-a <= 1.5"
for inv in 400 2000; do
	name="$inv mirrors, 2 releases x 2 archs"
	rm -f "$work/first" "$work/rerun" "$work/cp"
	for i in $(seq "$runs"); do
		# Nothing is removed until the end: on an ext4 without a journal,
		# creating files next to many just deleted ones is slow
		# (find_inode_bit skips recently deleted inodes one by one).
		out=$work/$inv/out-$i
		mkdir -p "$work/$inv"
		timed "$work/first" "$bin" gen -c "$work/$inv.toml" -o "$out"
		timed "$work/rerun" "$bin" gen -c "$work/$inv.toml" -o "$out"
		timed "$work/cp" cp -a "$(readlink -f "$out")" "$work/$inv/copy-$i"
	done
	files=$(find "$work/$inv/copy-1" -type f | wc -l)
	first=$(median 1 "$work/first")
	rerun=$(median 1 "$work/rerun")
	cp=$(median 1 "$work/cp")
	rss=$(median 2 "$work/first")
	r1=$(awk -v a="$rerun" -v b="$first" 'BEGIN {printf "%.3f", a / b}')
	r2=$(awk -v a="$first" -v b="$cp" 'BEGIN {printf "%.2f", a / b}')
	printf '%-34s %7d %6.2f s %6.2f s %6.2f s %6.1f MiB  %-22s %s\n' "$name" "$files" "$first" "$rerun" "$cp" \
		"$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$r1 $(verdict "$r1" 0.10)" "$r2 $(verdict "$r2" 1.5)"
done
