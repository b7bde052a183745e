#!/usr/bin/env bats
# shard-shuffle: every sample exactly once, determinism, ranks, batches,
# resumption, the three modes, memory bounds and temporary files.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	# 1000 samples with unique ids, several shards
	seq 0 999 | sed 's/$/,x/' | shard-convert -q -s id:int64,s:str --samples-per-shard 100 -o ds
}

ids() { shard-cat -c id "$1" | tr -dc '0-9\n'; }

@test "a full shuffle holds every sample exactly once, in a new order" {
	run shard-shuffle -q --seed 7 -o out ds
	assert_success
	run shard-index verify out
	assert_success
	[ "$(ids out | sort -n | tr '\n' ' ')" = "$(seq 0 999 | tr '\n' ' ')" ]
	[ "$(ids out | tr '\n' ' ')" != "$(seq 0 999 | tr '\n' ' ')" ]
}

@test "the same arguments give the same bytes; seeds and epochs give other orders" {
	shard-shuffle -q --seed 7 --epoch 2 -o a ds
	shard-shuffle -q --seed 7 --epoch 2 -o b ds
	cmp a/index.json b/index.json
	shard-shuffle -q --seed 8 --epoch 2 -o c ds
	shard-shuffle -q --seed 7 --epoch 3 -o d ds
	[ "$(ids a)" != "$(ids c)" ]
	[ "$(ids a)" != "$(ids d)" ]
	[ "$(ids c)" != "$(ids d)" ]
}

@test "ranks are disjoint, cover the epoch and differ by at most one sample" {
	for w in 1 2 3 7 16 64; do
		rm -rf r && mkdir r
		for ((r = 0; r < w; r++)); do
			shard-shuffle -q --seed 3 --rank $r --world $w -o - ds | shard-cat -c id | tr -dc '0-9\n' > r/$r
		done
		[ "$(cat r/* | sort -n | tr '\n' ' ')" = "$(seq 0 999 | tr '\n' ' ')" ] || { echo "world $w"; false; }
		min=$(wc -l r/* | grep -v total | awk '{print $1}' | sort -n | head -1)
		max=$(wc -l r/* | grep -v total | awk '{print $1}' | sort -n | tail -1)
		[ $((max - min)) -le 1 ] || { echo "world $w: $min..$max"; false; }
	done
}

@test "--batch deals whole batches; the remainder is dropped, or padded with --pad" {
	for r in 0 1 2; do shard-shuffle -q --seed 1 --batch 64 --rank $r --world 3 -o - ds | shard-cat -c id > b$r; done
	[ "$(wc -l < b0)" -eq 320 ] && [ "$(wc -l < b1)" -eq 320 ] && [ "$(wc -l < b2)" -eq 320 ]
	[ "$(cat b0 b1 b2 | sort -u | wc -l)" -eq 960 ]
	for r in 0 1 2; do shard-shuffle -q --seed 1 --batch 64 --pad --rank $r --world 3 -o - ds | shard-cat -c id > p$r; done
	[ "$(wc -l < p0)" -eq 384 ] && [ "$(wc -l < p2)" -eq 384 ]
	[ "$(cat p0 p1 p2 | sort -u | wc -l)" -eq 1000 ]
}

@test "through temporary buckets (small --memory) the order is the same, --pad repeats included" {
	shard-shuffle -q --seed 11 --batch 64 --pad --rank 1 --world 3 -o inmem ds
	mkdir tmp
	shard-shuffle -q --seed 11 --batch 64 --pad --rank 1 --world 3 --memory 2KiB --tmpdir tmp -o buckets ds
	cmp inmem/index.json buckets/index.json
	[ -z "$(ls -A tmp)" ]
}

@test "--skip resumes a rank where it stopped" {
	shard-shuffle -q --seed 5 --epoch 1 --rank 1 --world 4 -o - ds | shard-cat -c id > all
	shard-shuffle -q --seed 5 --epoch 1 --rank 1 --world 4 --skip 100 -o - ds | shard-cat -c id > rest
	[ "$(tail -n +101 all)" = "$(cat rest)" ]
	[ "$(wc -l < rest)" -eq 150 ]
}

@test "--skip does not read the shards it skips" {
	shard-shuffle -q --block --seed 6 -o - ds | shard-cat -c id | tr -dc '0-9\n' > all
	keep=$(( $(tail -n 1 all) / 100 ))
	cp -r ds holes
	for f in holes/shard.*.mds.zstd; do
		[ "$f" = "holes/shard.$(printf %05d $keep).mds.zstd" ] || rm "$f"
	done
	run bash -c 'shard-shuffle -q --block --seed 6 --skip 900 -o - holes | shard-cat -c id | tr -dc "0-9\n"'
	assert_success
	[ "$output" = "$(tail -n 100 all)" ]
}

@test "a shard stream in, a stream out; logical types travel" {
	printf 'true\nfalse\ntrue\n' | shard-convert -q -s b:bool -o bools
	run bash -c 'shard-cat -q bools -o - | shard-shuffle -q --seed 1 -o - - | shard-cat'
	assert_success
	[ "$(echo "$output" | sort | tr '\n' ' ')" = '{"b":false} {"b":true} {"b":true} ' ]
}

@test "--block keeps each input shard's samples together" {
	shard-shuffle -q --block --seed 2 -o blk ds
	ids blk | awk '{print int($1 / 100)}' | uniq | wc -l | grep -qx 10
	[ "$(ids blk | sort -n | tr '\n' ' ')" = "$(seq 0 999 | tr '\n' ' ')" ]
}

@test "--buffer: a windowed shuffle of a stream, every sample once" {
	run bash -c 'shard-cat -q ds -o - | shard-shuffle -q --buffer 50 --seed 4 -o - - | shard-cat -c id | tr -dc "0-9\n" | sort -n | tr "\n" " "'
	assert_output "$(seq 0 999 | tr '\n' ' ')"
}

@test "on a terminal, a progress line of samples, bytes read and rate, cleared for the summary; none elsewhere" {
	summary='shard-shuffle: 1000 samples (rank 0 of 1, seed 0, epoch 0)'
	run on_tty shard-shuffle -o out ds
	assert_success
	assert_output --regexp $'\r'"$(progress_line shard-shuffle samples)"
	[ "$(screen <<< "$output")" = "$summary" ]
	shard-shuffle -o out2 ds 2> err.txt
	[ "$(cat err.txt)" = "$summary" ]
	run on_tty shard-shuffle -q -o out3 ds
	assert_success
	assert_output ''
	# a windowed shuffle into a stream: the stream alone on stdout, and no
	# progress (the pipeline's last program shows it), only the summary
	run on_tty shard-shuffle --buffer 50 -o - ds
	assert_success
	refute_output --regexp 'rows/s|samples/s|B/s'
	[ "$(screen <<< "$output")" = "$summary" ]
	[ "$(ids - < tty.out | sort -n | tr '\n' ' ')" = "$(seq 0 999 | tr '\n' ' ')" ]
	run on_tty shard-shuffle --buffer 50 -o buffered ds
	assert_success
	assert_output --regexp "$(progress_line shard-shuffle samples)"
}

@test "memory stays within --memory on a dataset four times larger, same order" {
	seq 0 39999 | sed 's/$/,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/' |
		shard-convert -q -s id:int64,s:str -c none --samples-per-shard 2000 -o big
	raw=$(shard-index info --json big | grep -o '"bytes_raw":[0-9]*' | cut -d: -f2)
	limit=$((raw / 4))
	# small output shards: what is measured is the samples held for reordering
	/usr/bin/time -f %M -o rss.small shard-shuffle -q --seed 9 --memory $limit --size-limit 256KiB -o small big
	/usr/bin/time -f %M -o rss.whole shard-shuffle -q --seed 9 --memory 1GiB --size-limit 256KiB -o whole big
	cmp small/index.json whole/index.json
	echo "raw $raw; peak RSS KiB: $(cat rss.small) with --memory $limit, $(cat rss.whole) with 1GiB"
	# AddressSanitizer keeps freed memory in quarantine: its RSS says nothing here
	[ -z "${SHARDKIT_SANITIZED:-}" ] || return 0
	# the samples held stay within --memory, over what the program itself
	# takes (its code, libraries, pool threads and buffers: measured on a
	# dataset of one small shard, same options) ...
	seq 0 99 | sed 's/$/,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/' |
		shard-convert -q -s id:int64,s:str -c none -o tiny
	/usr/bin/time -f %M -o rss.base shard-shuffle -q --seed 9 --memory $limit --size-limit 256KiB -o tiny.out tiny
	echo "peak RSS KiB of the program on 100 samples: $(cat rss.base)"
	[ $(( $(cat rss.small) * 1024 )) -le $(( $(cat rss.base) * 1024 + limit + 4 * 1048576)) ]
	# ... where holding them all costs the whole dataset
	[ $(( $(cat rss.whole) * 1024 - $(cat rss.small) * 1024 )) -gt $((raw / 2)) ]
}

@test "temporary files are gone after an interrupted run" {
	mkdir tmp
	(shard-cat -q ds -o -; sleep 30) | shard-shuffle -q --tmpdir tmp -o out - &
	pid=$!
	for i in $(seq 50); do [ -n "$(ls tmp)" ] && break; sleep 0.1; done
	[ -n "$(ls tmp)" ]
	sleep 0.5
	pkill -TERM -f "shard-shuffle -q --tmpdir tmp" || kill -TERM $pid
	wait $pid || true
	[ -z "$(ls -A tmp)" ]
	[ ! -e out/index.json ]
}

@test "a link planted at an output shard's temporary name is refused; nothing is left" {
	mkdir out
	run planted -s out/shard.00003.mds.zstd shard-shuffle -q --size-limit 2KiB -o out ds
	refused_link
	[ "$(ls out)" = "$(cd out && ls shard.00003.mds.zstd.tmp.*)" ]
}

@test "SIGINT, SIGTERM and SIGHUP remove the shards written and the temporary files; the status is 128+N" {
	mkdir tmp
	for sig in INT TERM HUP; do
		# a windowed shuffle writes shards as it reads
		rm -rf out
		endless_stream | env --default-signal=INT,TERM,HUP shard-shuffle -q --buffer 100 --size-limit 64KiB \
			--tmpdir tmp -o out - 3>&- &
		pid=$!
		signalled "$sig" out
		run shard-index create out
		assert_failure 1
		assert_output --partial "no shard files"
		# a full shuffle of a stream spools it under --tmpdir first
		endless_stream | env --default-signal=INT,TERM,HUP shard-shuffle -q --tmpdir tmp -o out - 3>&- &
		pid=$!
		signalled "$sig" tmp
		[ -z "$(ls -A tmp)" ] && [ -z "$(ls -A out)" ]
	done
}

@test "usage errors exit 2" {
	run shard-shuffle ds
	assert_failure 2
	run shard-shuffle -o x --rank 4 --world 4 ds
	assert_failure 2
	run shard-shuffle -o x --pad ds
	assert_failure 2
	run shard-shuffle -o x --block --buffer 10 ds
	assert_failure 2
	run shard-shuffle -o x --seed -1 ds
	assert_failure 2
	run shard-shuffle -o x /nonexistent
	assert_failure 1
}

@test "a malformed shard whose entry says 0 samples is refused, named, in every mode (exit 1)" {
	zero_claim z
	for mode in "" --block "--memory 1" "--rank 1 --world 2"; do
		# shellcheck disable=SC2086
		run shard-shuffle -q --seed 3 $mode -o "out$RANDOM" z
		assert_failure 1
		assert_output "shard-shuffle: z/shard.00001.mds: sample 0: offset 209 is past the end of the shard (206 bytes)"
	done
}

@test "an unknown compression in index.json is bad data (exit 1), not a usage error" {
	unknown_codec bad
	run shard-shuffle -q --seed 1 -o out bad
	assert_failure 1
	assert_output --partial "unknown compression 'lz9'"
	run shard-shuffle -q --seed 1 --buffer 10 -o out2 bad
	assert_failure 1
}

@test "-o DIR flushes the shards and directory before index.json, and index.json after; --no-sync skips it" {
	traced s.log shard-shuffle -q --seed 1 -o out ds
	run synced s.log out
	assert_success
	traced n.log shard-shuffle -q --seed 1 --no-sync -o out2 ds
	run unsynced n.log
	assert_success
	cmp out/index.json out2/index.json
	# a stream's spool is scratch: only the output is flushed
	shard-cat -o - ds > s.bin
	traced p.log shard-shuffle -q --seed 1 -o out3 - < s.bin
	run synced p.log out3
	assert_success
	! grep -E 'fsync\([0-9]+<[^>]*spool' p.log
}
