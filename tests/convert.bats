#!/usr/bin/env bats
# shard-convert: Spark's CSV dialect, types, partitions, compression, and every
# way a row can be bad.

load helpers

SCHEMA='id:int64,name:str,score:float64,ok:bool,day:date,ts:timestamp,vec:ndarray:float32:3'

setup() {
	cd "$BATS_TEST_TMPDIR"
	printf '%s\n' 'id,name,score,ok,day,ts,vec' \
		'1,"Ann, A",1.5,true,2024-01-02,2024-01-02T03:04:05.123+01:00,"[1,2,3]"' \
		'2,"say \"hi\" and ""bye""",NaN,false,1970-01-01,2024-01-02T03:04:05Z,"[4,5,6]"' \
		'3,"two
lines",-Infinity,true,2000-02-29,2024-01-02 00:00:00,"[7,8,9]"' > a.csv
}

@test "Spark dialect: quotes, \\\" and \"\" escapes, embedded newlines, NaN and infinities" {
	run shard-convert -q --header -s "$SCHEMA" -o ds a.csv
	assert_success
	run shard-cat -c id,name,score ds
	assert_line --index 0 '{"id":1,"name":"Ann, A","score":1.5}'
	assert_line --index 1 '{"id":2,"name":"say \"hi\" and \"bye\"","score":NaN}'
	assert_line --index 2 '{"id":3,"name":"two\nlines","score":-Infinity}'
	run shard-index verify ds
	assert_success
}

@test "logical types: bool as 0/1, date as days, timestamp as UTC microseconds" {
	shard-convert -q --header -s "$SCHEMA" -o ds a.csv
	run shard-cat --raw -c ok,day,ts,vec ds
	assert_line --index 0 '{"ok":1,"day":19724,"ts":1704161045123000,"vec":[1.0,2.0,3.0]}'
	assert_line --index 2 '{"ok":1,"day":11016,"ts":1704153600000000,"vec":[7.0,8.0,9.0]}'
	# shard-cat shows them as what they are
	run shard-cat -c ok,day,ts ds
	assert_line --index 0 '{"ok":true,"day":"2024-01-02","ts":"2024-01-02T02:04:05.123000Z"}'
	assert_line --index 1 '{"ok":false,"day":"1970-01-01","ts":"2024-01-02T03:04:05.000000Z"}'
	run shard-cat -f csv --no-header -c day,ok -r 2:3 ds
	assert_output '2000-02-29,true'
	grep -q '"shardkit": {"logical_types": {"day": "date", "ok": "bool", "ts": "timestamp"}}' ds/index.json
	run shard-index info ds
	assert_line --regexp '^  ok +uint8 \(bool\) +1 bytes$'
	run shard-index info --json ds
	assert_output --partial '{"name":"day","encoding":"int32","size":4,"logical_type":"date"}'
}

@test "unquoted empty is null, quoted empty is the empty string" {
	printf 'a,b\n,""\n' > n.csv
	run shard-convert -q --header -s a:str,b:str -o ds n.csv
	assert_failure 1
	assert_output --partial "n.csv:2:1: column 'a': null"
	run shard-convert -q --header -s a:str,b:str --fill a=NULL -o ds n.csv
	assert_success
	run shard-cat ds
	assert_output '{"a":"NULL","b":""}'
}

@test "--header: the files' columns in any order, each named once" {
	printf 'b,a\n1,2\n' > ro.csv
	run shard-convert -q --header -s a:int32,b:int32 -o ds ro.csv
	assert_success
	run shard-cat ds
	assert_output '{"a":2,"b":1}'
	printf 'a,a\n1,2\n' > dup.csv
	run shard-convert -q --header -s a:int32,b:int32 -o ds2 dup.csv
	assert_failure 1
	assert_output "shard-convert: dup.csv:1:2: header column 'a' is named twice"
	[ ! -e ds2/index.json ]
	# a --pack column is written, not read from the files
	printf 'a,f\n1,2\n' > pk.csv
	run shard-convert -q --header -s a:int32,b:int32 --pack f=a,b:int32 -o ds3 pk.csv
	assert_failure 1
	assert_output "shard-convert: pk.csv:1:2: header column 'f' is not in the schema"
	printf 'a,c\n1,2\n' > other.csv
	run shard-convert -q --header -s a:int32,b:int32 -o ds4 other.csv
	assert_failure 1
	assert_output "shard-convert: other.csv:1:2: header column 'c' is not in the schema"
	printf 'a\n1\n' > few.csv
	run shard-convert -q --header -s a:int32,b:int32 -o ds5 few.csv
	assert_failure 1
	assert_output "shard-convert: few.csv:1: header has 1 columns, the schema 2"
}

@test "stdin, CRLF, a BOM, no header, TSV" {
	printf '\xef\xbb\xbf1\tx\r\n2\ty\r\n' | shard-convert -q -f tsv -s n:int32,s:str -o ds
	run shard-cat ds
	assert_output "$(printf '{"n":1,"s":"x"}\n{"n":2,"s":"y"}')"
}

@test "--quote, --escape and --null change the dialect" {
	# single quotes, ~ as the escape; a record's line break inside quotes too
	printf "'a,b',1\n'it''s ~'x~'',2\n'two\nlines',3\n\"q\",4\n" > sq.csv
	run shard-convert -q --quote "'" --escape '~' -s s:str,n:int32 -o ds1 sq.csv
	assert_success
	run shard-cat ds1
	assert_output "$(printf '%s\n' '{"n":1,"s":"a,b"}' '{"n":2,"s":"it'"'"'s '"'"'x'"'"'"}' \
		'{"n":3,"s":"two\nlines"}' '{"n":4,"s":"\"q\""}')"
	# no quoting: quotes are text
	printf '"a",1\n"b,2\n' > nq.csv
	run shard-convert -q --quote '' -s s:str,n:int32 -o ds2 nq.csv
	assert_success
	run shard-cat ds2
	assert_output "$(printf '%s\n' '{"n":1,"s":"\"a\""}' '{"n":2,"s":"\"b"}')"
	# no escape: a backslash before the closing quote is text, as Windows paths need
	printf '"C:\\dir\\",1\n' > esc.csv
	run shard-convert -q --escape '' -s s:str,n:int32 -o ds3 esc.csv
	assert_success
	run shard-cat ds3
	assert_output '{"n":1,"s":"C:\\dir\\"}'
	run shard-convert -q -s s:str,n:int32 -o ds4 esc.csv
	assert_failure 1
	assert_output "shard-convert: esc.csv:1:1: unterminated quoted field (the quote opened on line 1)"
	# --null NULL: that unquoted text is null, a quoted one and the empty field are not
	printf 'NULL,1\n"NULL",2\n,3\nx,NULL\n' > nl.csv
	run shard-convert -q --null NULL -s s:str,n:int32 --fill s=F --fill n=-1 -o ds5 nl.csv
	assert_success
	run shard-cat ds5
	assert_output "$(printf '%s\n' '{"n":1,"s":"F"}' '{"n":2,"s":"NULL"}' '{"n":3,"s":""}' '{"n":-1,"s":"x"}')"
	run shard-convert -q --null NULL -s s:str,n:int32 -o ds6 nl.csv
	assert_failure 1
	# every column that held a null is named, each at its first, and nothing is written
	assert_output "$(printf '%s\n' "shard-convert: nl.csv:1:1: column 's': null, and str cannot hold a null (use s:str? or --fill s=VALUE)" \
		"shard-convert: nl.csv:4:2: column 'n': null, and int32 cannot hold a null (use n:int32? or --fill n=VALUE)" \
		"shard-convert: 2 columns held nulls where none may be; nothing was written")"
	[ ! -e ds6/index.json ] && [ -z "$(ls -A ds6)" ]
	# --null '': the default, the unquoted empty field
	run shard-convert -q --null '' -s s:str,n:str --fill s=F -o ds7 nl.csv
	assert_success
	run shard-cat -c s ds7
	assert_output "$(printf '%s\n' '{"s":"NULL"}' '{"s":"NULL"}' '{"s":"F"}' '{"s":"x"}')"
	run shard-convert -q --quote ab -s s:str -o ds8 nl.csv
	assert_failure 2
	assert_output --partial "--quote takes a single character"
}

@test "a Spark output directory: part files in order, _SUCCESS and .crc skipped, gzip and bzip2" {
	mkdir -p out
	printf 'id,v\n1,a\n2,b\n' | gzip > out/part-00000-x-c000.csv.gz
	printf 'id,v\n3,c\n' | bzip2 > out/part-00001-x-c000.csv.bz2
	printf 'id,v\n4,d\n' > out/part-00002-x-c000.csv
	: > out/_SUCCESS
	printf 'junk' > out/.part-00000-x-c000.csv.gz.crc
	run shard-convert --header -s id:int32,v:str -o ds out
	assert_success
	assert_output --partial "4 rows read, 4 written, 0 rejected"
	run shard-cat -c id ds
	assert_output "$(printf '{"id":1}\n{"id":2}\n{"id":3}\n{"id":4}')"
}

@test "key=value partition directories become columns" {
	mkdir -p out/year=2024/kind=a out/year=2025/kind=b
	printf '1\n' > out/year=2024/kind=a/part-00000.csv
	printf '2\n' > out/year=2025/kind=b/part-00000.csv
	run shard-convert -q -s id:int32,year:int16 -o ds out
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"id":1,"kind":"a","year":2024}\n{"id":2,"kind":"b","year":2025}')"
}

@test "Hadoop block-framed snappy and lz4 are refused with advice, and leave nothing behind" {
	advice='write the export with option("compression", "gzip") or "bzip2" (or none) instead'
	mkdir out
	printf '\x00\x00\x00\x05junk' > out/part-00000.csv.snappy
	run shard-convert -q -s a:str -o ds out
	assert_failure 1
	assert_output "shard-convert: out/part-00000.csv.snappy: Hadoop's block-framed snappy cannot be read outside Hadoop; $advice"
	[ ! -e ds/index.json ]
	# Hadoop's lz4: big-endian uncompressed then compressed length, then a raw
	# lz4 block (here one token of 9 literals), not the lz4 frame format
	mkdir h
	printf '\x00\x00\x00\x09\x00\x00\x00\x0a\x90id,v\n3,c\n' > h/part-00000.csv.lz4
	run shard-convert -q --header -s id:int32,v:str -o ds2 h/part-00000.csv.lz4
	assert_failure 1
	assert_output "shard-convert: h/part-00000.csv.lz4: Hadoop's block-framed lz4 is not the lz4 frame format; $advice"
	[ ! -e ds2/index.json ]
	# refused after earlier inputs' shards were written: those are removed
	seq 1 50 | sed 's/$/,x/' > good.csv
	run shard-convert -q -s id:int32,v:str --samples-per-shard 10 -o ds3 good.csv h/part-00000.csv.lz4
	assert_failure 1
	assert_output --partial "h/part-00000.csv.lz4: Hadoop's block-framed lz4"
	[ -d ds3 ] && [ -z "$(ls -A ds3)" ]
	run shard-convert -q -s id:int32,v:str --samples-per-shard 10 -o ds4 good.csv out/part-00000.csv.snappy
	assert_failure 1
	[ -d ds4 ] && [ -z "$(ls -A ds4)" ]
}

@test "a bad value names file, line and column; nothing that looks complete is left" {
	printf 'a,b\n1,2\n3,x\n' > bad.csv
	run shard-convert -q --header -s a:int32,b:int32 -o ds bad.csv
	assert_failure 1
	assert_output "shard-convert: bad.csv:3:2: column 'b': 'x' is not an int32"
	[ ! -e ds/index.json ]
	[ -z "$(ls ds)" ]
}

# bad_input FILE MESSAGE: converting good.csv (several shards) then FILE fails
# with exactly MESSAGE and status 1, and leaves neither index.json nor shards
bad_input() {
	rm -rf ds
	run shard-convert -q -s a:int32,b:str --samples-per-shard 10 -o ds good.csv "$1"
	assert_failure 1
	assert_output "shard-convert: $2"
	[ -d ds ] && [ ! -e ds/index.json ] && [ -z "$(ls -A ds)" ]
}

@test "each kind of bad input: FILE:LINE:COLUMN, status 1, and no shard or index.json left behind" {
	seq 1 50 | sed 's/$/,x/' > good.csv
	printf '1,x\n2,y\nz,w\n' > value.csv
	bad_input value.csv "value.csv:3:1: column 'a': 'z' is not an int32"
	printf '1,x\n,y\n' > null.csv
	bad_input null.csv "null.csv:2:1: column 'a': null, and int32 cannot hold a null (use a:int32? or --fill a=VALUE)"
	# a ragged row names the first field missing, or the first one too many
	printf '1,x\n2\n' > short.csv
	bad_input short.csv "short.csv:2:2: row has 1 fields, expected 2"
	printf '1,x\n\n2,y,z,w\n' > long.csv
	bad_input long.csv "long.csv:3:3: row has 4 fields, expected 2"
	printf '1,x\n2,y"\n3,"z\n4,w\n' > quote.csv
	bad_input quote.csv "quote.csv:3:2: unterminated quoted field (the quote opened on line 3)"
	printf '1,x\n2,a\xffb\n' > utf8.csv
	bad_input utf8.csv "utf8.csv:2:2: column 'b': invalid UTF-8 at byte 1 of a str value"
}

@test "a link planted at a temporary name is never written through: the run fails, shards removed" {
	seq 1 50 | sed 's/$/,x/' > good.csv
	mkdir ds
	run planted -s ds/shard.00000.mds shard-convert -q -c none -s a:int32,b:str -o ds good.csv
	refused_link
	[ "$(ls ds)" = "$(cd ds && ls shard.00000.mds.tmp.*)" ]
	rm ds/*
	run planted -h ds/shard.00002.mds.zstd shard-convert -q -s a:int32,b:str --samples-per-shard 10 -o ds good.csv
	refused_link
	[ "$(stat -c %h target)" -eq 2 ] && [ "$(ls ds)" = "$(cd ds && ls shard.00002.mds.zstd.tmp.*)" ]
	rm ds/*
	# index.json's too: its shards are removed and no index.json written
	run planted -s ds/index.json shard-convert -q -s a:int32,b:str --samples-per-shard 10 -o ds good.csv
	refused_link
	[ "$(ls ds)" = "$(cd ds && ls index.json.tmp.*)" ]
	rm ds/*
	# a link under a shard's final name is replaced by the shard, its target untouched
	ln -s "$PWD/target" ds/shard.00000.mds.zstd
	run shard-convert -q -s a:int32,b:str -o ds good.csv
	assert_success
	[ "$(cat target)" = precious ] && [ ! -L ds/shard.00000.mds.zstd ]
	shard-index verify -q ds
}

@test "a stray temporary file of a run killed under the same process id is replaced" {
	seq 1 50 | sed 's/$/,x/' > good.csv
	mkdir ds
	run planted -f ds/shard.00000.mds.zstd shard-convert -q -s a:int32,b:str -o ds good.csv
	assert_success
	[ "$(ls ds)" = "$(printf 'index.json\nshard.00000.mds.zstd')" ]
	shard-index verify -q ds
}

@test "SIGINT, SIGTERM and SIGHUP: the shards written are removed and the status is 128+N" {
	for sig in INT TERM HUP; do
		rm -rf ds
		yes 12345,abcdefghij | env --default-signal=INT,TERM,HUP \
			shard-convert -q -s a:int64,b:str --size-limit 64KiB -o ds - 3>&- &
		pid=$!
		signalled "$sig" ds
		run shard-index create ds
		assert_failure 1
		assert_output "shard-index: ds: no shard files (*.mds or *.mds.EXT)"
	done
	# --entries: the part directory's shards too
	rm -rf ds
	yes 12345,abcdefghij | env --default-signal=TERM \
		shard-convert -q --entries -s a:int64,b:str --size-limit 64KiB -o ds - > entries 3>&- &
	pid=$!
	signalled TERM ds
}

@test "a signal ignored when it started (nohup, trap '' SIG) stays ignored: the run goes on to a whole dataset" {
	mkfifo in
	(trap '' TERM; exec shard-convert -q -s a:int64,b:str --size-limit 64KiB -o ds - < in) 3>&- &
	pid=$!
	exec 4> in
	yes 12345,abcdefghij | head -n 3000000 >&4
	for i in $(seq 150); do [ -z "$(ls ds 2>/dev/null)" ] || break; sleep 0.1; done
	kill -TERM "$pid"
	sleep 0.5
	kill -0 "$pid"	# still reading its input
	yes 12345,abcdefghij | head -n 1000000 >&4
	exec 4>&-
	wait "$pid"
	shard-index verify -q ds
	[ "$(shard-index info --json ds | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')" -eq 4000000 ]
}

@test "a failed run into a shard stream ends without its end frame, which its reader refuses" {
	seq 1 50 | sed 's/$/,x/' > good.csv
	printf '1,x\n2,y\nz,w\n' > value.csv
	rc=0
	shard-convert -q -s a:int32,b:str --samples-per-shard 10 -o - good.csv value.csv > s.bin 2> err.txt || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(cat err.txt)" = "shard-convert: value.csv:3:1: column 'a': 'z' is not an int32" ]
	[ -s s.bin ]
	run shard-cat -q - -o copy < s.bin
	assert_failure 1
	assert_output --regexp '^shard-cat: <stdin>: truncated stream: input ended at frame [0-9]+ without an end frame$'
	[ ! -e copy/index.json ]
	# the same run without the bad file is a stream its reader takes whole
	shard-convert -q -s a:int32,b:str --samples-per-shard 10 -o - good.csv | shard-cat -q - -o whole
	run shard-index info --json whole
	assert_output --partial '"samples":50'
}

@test "range checks: integers, floats and dates" {
	printf '300\n' > r.csv
	run shard-convert -q -s a:int8 -o ds r.csv
	assert_failure 1
	assert_output "shard-convert: r.csv:1:1: column 'a': '300' is not an int8"
	printf '1e999\n' > big.csv
	run shard-convert -q -s a:float64 -o ds big.csv
	assert_failure 1
	assert_output --partial "'1e999' is not a float64 (out of range)"
	run shard-convert -q -s a:float64 -c frob -o nodir big.csv
	assert_failure 2
	[ ! -e nodir ]
	printf '2023-02-29\n' > d.csv
	run shard-convert -q -s d:date -o ds d.csv
	assert_failure 1
	assert_output --partial "is not a date"
}

@test "an unterminated quote or an over-long record: FILE:LINE:COLUMN, from rows, header and inference alike" {
	printf '1,x\n2,"abc\n3,y\n' > q.csv
	run shard-convert -q -s a:int8,b:str -o ds q.csv
	assert_failure 1
	assert_output "shard-convert: q.csv:2:2: unterminated quoted field (the quote opened on line 2)"
	[ ! -e ds/index.json ]
	printf 'a,"b\n1,2\n' > qh.csv
	run shard-convert -q --header -s a:int8,b:str -o ds qh.csv
	assert_failure 1
	assert_output "shard-convert: qh.csv:1:2: unterminated quoted field (the quote opened on line 1)"
	run shard-convert -q -o ds q.csv
	assert_failure 1
	assert_output "shard-convert: q.csv:2:2: unterminated quoted field (the quote opened on line 2)"
	# 66 MiB: cut into a chunk and refused by the reader; 72 MiB: refused while
	# looking for the record's end
	{ printf '1,2\nx,'; head -c 66M /dev/zero | tr '\0' a; printf '\n'; } > long1.csv
	run shard-convert -q -s a:str,b:str -o ds long1.csv
	assert_failure 1
	assert_output "shard-convert: long1.csv:2:2: record longer than 67108864 bytes"
	{ printf '1,2\nx,y,'; head -c 72M /dev/zero | tr '\0' a; printf '\n'; } > long2.csv
	run shard-convert -q -s a:str,b:str -o ds long2.csv
	assert_failure 1
	assert_output "shard-convert: long2.csv:2:3: record longer than 67108864 bytes"
	[ ! -e ds/index.json ]
}

@test "--on-error skip writes every rejected row verbatim with its reason" {
	printf 'a,b\n1,2\n3,x\n4\n5,6\n' > bad.csv
	run shard-convert --header -s a:int32,b:int32 --on-error skip --rejects rej.txt -o ds bad.csv
	assert_success
	assert_output --partial "4 rows read, 2 written, 2 rejected"
	run cat rej.txt
	assert_line --index 0 "# bad.csv:3:2: column 'b': 'x' is not an int32"
	assert_line --index 1 "3,x"
	assert_line --index 2 "# bad.csv:4:2: row has 1 fields, expected 2"
	assert_line --index 3 "4"
	run shard-convert --header -s a:int32,b:int32 --on-error skip -o ds2 bad.csv
	assert_failure 2
}

@test "--json summary, shard stream output, size limits" {
	seq 1 5000 | sed 's/$/,abc/' > big.csv
	run shard-convert --json -s n:int64,s:str --samples-per-shard 1000 -c zstd:5 --hashes sha1,xxh64 -o ds big.csv
	assert_success
	assert_output '{"rows_read":5000,"rows_written":5000,"rows_rejected":0,"shards":5,"inputs":1}'
	run shard-index verify ds
	assert_success
	shard-convert -q -s n:int64,s:str -o - big.csv | shard-cat - -o ds2
	run shard-index info --json ds2
	assert_output --partial '"samples":5000'
}

@test "--rejects keeps each row byte for byte: quoted line breaks and delimiters, CRLF and CR line ends" {
	printf 'a,b\r\n"x\ny",1\r\n"p,q",z\r\n"ok",2\r\n"m\r\nn",w\r\n"r,s",t' > rj.csv
	run shard-convert -q --header -s a:str,b:int32 --on-error skip --rejects rj.txt -o ds rj.csv
	assert_success
	# the last row has no line end in the file: it gets a LF, and only it
	{
		printf "# rj.csv:4:2: column 'b': 'z' is not an int32\n"'"p,q",z\r\n'
		printf "# rj.csv:6:2: column 'b': 'w' is not an int32\n"'"m\r\nn",w\r\n'
		printf "# rj.csv:8:2: column 'b': 't' is not an int32\n"'"r,s",t\n'
	} > expected.txt
	cmp rj.txt expected.txt
	run shard-cat ds
	assert_output "$(printf '{"a":"x\\ny","b":1}\n{"a":"ok","b":2}')"
	# a bare CR ends a row, and stays as it was
	printf '1,x\r2,3\r"4\r5",y\r' > cr.csv
	run shard-convert -q -s a:str,b:int32 --on-error skip --rejects cr.txt -o ds2 cr.csv
	assert_success
	{
		printf "# cr.csv:1:2: column 'b': 'x' is not an int32\n1,x\r"
		printf "# cr.csv:3:2: column 'b': 'y' is not an int32\n\"4\r5\",y\r"
	} > expected.txt
	cmp cr.txt expected.txt
}

@test "the summary counts rows read, written and rejected, and shards: JSON on stdout, or on stderr beside a stream" {
	printf 'a,b\n1,2\n3,x\n4\n5,6\n7,8\n' > bad.csv
	opts='--header -s a:int32,b:int32 --samples-per-shard 2 --on-error skip --rejects rej.txt'
	summary='{"rows_read":5,"rows_written":3,"rows_rejected":2,"shards":2,"inputs":1}'
	shard-convert --json $opts -o ds bad.csv > out.txt 2> err.txt
	[ "$(cat out.txt)" = "$summary" ]
	[ ! -s err.txt ]
	# with -o - standard output carries the stream, untouched by the summary
	shard-convert --json $opts -o - bad.csv > s.bin 2> err.txt
	[ "$(cat err.txt)" = "$summary" ]
	run shard-cat -c a - < s.bin
	assert_output "$(printf '{"a":1}\n{"a":5}\n{"a":7}')"
	shard-convert --json $opts --entries -o parts bad.csv > entries.txt 2> err.txt
	[ "$(cat err.txt)" = "$summary" ]
	[ "$(grep -c '"raw_data"' entries.txt)" -eq 2 ]
	run shard-convert $opts -o ds2 bad.csv
	assert_success
	assert_output "shard-convert: 5 rows read, 3 written, 2 rejected; 2 shards"
	# -q silences the plain summary, not the one asked for with --json
	run shard-convert -q $opts -o ds3 bad.csv
	assert_success
	assert_output ''
	run shard-convert -q --json $opts -o ds4 bad.csv
	assert_output "$summary"
	[ "$(grep -c '^# ' rej.txt)" -eq 2 ]
}

@test "on a terminal, a progress line of rows, bytes read and rate, cleared for the summary; none elsewhere" {
	seq 1 5000 | sed 's/$/,abc/' > p.csv
	summary='shard-convert: 5000 rows read, 5000 written, 0 rejected; 1 shards'
	run on_tty shard-convert -s id:int64,s:str -o ds p.csv
	assert_success
	assert_output --regexp $'\r'"$(progress_line shard-convert rows)"
	assert_output --partial '5,000 rows, '
	[ "$(screen <<< "$output")" = "$summary" ]
	shard-convert -s id:int64,s:str -o ds2 p.csv 2> err.txt
	[ "$(cat err.txt)" = "$summary" ]
	# -q, or a JSON summary on standard error: nothing but the summary asked for
	run on_tty shard-convert -q -s id:int64,s:str -o ds3 p.csv
	assert_success
	assert_output ''
	run on_tty shard-convert --json -s id:int64,s:str -o - p.csv
	assert_success
	refute_output --partial 'rows/s'
	[ "$(screen <<< "$output")" = '{"rows_read":5000,"rows_written":5000,"rows_rejected":0,"shards":1,"inputs":1}' ]
	run shard-cat -c id -r 4999: - < tty.out
	assert_output '{"id":5000}'
	# a stream on stdout goes on down a pipeline, whose last program shows
	# the progress: here only the summary
	run on_tty shard-convert -s id:int64,s:str -o - p.csv
	assert_success
	refute_output --regexp 'rows/s|samples/s|B/s'
	[ "$(screen <<< "$output")" = "$summary" ]
}

@test "on a terminal, an error after progress was shown starts on a clean line" {
	# two chunks: the first is shown, the second holds the bad row
	{ seq 1 400000 | sed 's/$/,abcdefgh/'; echo 'x,bad'; } > b.csv
	run on_tty shard-convert -s id:int64,s:str -o ds b.csv
	assert_failure 1
	assert_output --regexp "$(progress_line shard-convert rows)"
	[ "$(screen <<< "$output")" = "shard-convert: b.csv:400001:1: column 'id': 'x' is not an int64" ]
}

@test "--size-limit: a new shard before one would pass the limit, every row kept in order" {
	# each row is a 23-byte sample: int32, str length and text, and its offset
	seq 1 2000 | sed 's/$/,hello world/' > sl.csv
	run shard-convert -s n:int32,s:str -c none --size-limit 8KiB -o ds sl.csv
	assert_success
	assert_output "shard-convert: 2000 rows read, 2000 written, 0 rejected; 6 shards"
	run python3 - ds <<'PY'
import json, os, sys
d = sys.argv[1]
shards = json.load(open(os.path.join(d, "index.json")))["shards"]
for i, s in enumerate(shards):
    raw = s["raw_data"]
    size = os.path.getsize(os.path.join(d, raw["basename"]))
    assert size == raw["bytes"] <= 8192 == s["size_limit"], (i, size, raw)
    # full: one more row would have passed the limit
    assert i == len(shards) - 1 or size + 23 > 8192, (i, size)
print(len(shards), sum(s["samples"] for s in shards))
PY
	assert_success
	assert_output "6 2000"
	diff <(shard-cat --format jsonl ds) <(seq 1 2000 | sed 's/.*/{"n":&,"s":"hello world"}/')
	# 0: no limit but MDS's 32-bit offsets
	run shard-convert -s n:int32,s:str --size-limit 0 -o ds0 sl.csv
	assert_output "shard-convert: 2000 rows read, 2000 written, 0 rejected; 1 shards"
	grep -q '"size_limit": null' ds0/index.json
}

@test "usage errors exit 2" {
	run shard-convert -s a:int8 a.csv
	assert_failure 2
	run shard-convert -o ds -s a:int8 --schema-from 'a INT' a.csv
	assert_failure 2
	run shard-convert -o ds -s a:frob a.csv
	assert_failure 2
	assert_output --partial "unknown encoding 'frob'"
	run shard-convert -o ds -s a:int8 --fill a=999 a.csv
	assert_failure 2
	run shard-convert -o ds -s a:int8,a:str a.csv
	assert_failure 2
	run shard-convert -o ds -s a:jpeg a.csv
	assert_failure 2
}

@test "logical types travel through shard-cat copies and streams" {
	shard-convert -q --header -s "$SCHEMA" -o ds a.csv
	shard-cat -q ds -o c1
	shard-cat -q ds -o - | shard-cat -q - -o c2
	grep -q '"logical_types": {"day": "date"' c1/index.json
	grep -q '"logical_types": {"day": "date"' c2/index.json
	# a copy mixing datasets that disagree keeps none
	shard-cat -q ds "$REF" -o c3
	run grep -c logical_types c3/index.json
	assert_output 0
}

@test "JSON Lines: members by name, missing or null is null, strings decoded, json columns keep JSON" {
	printf '%s\n' '{"id":1,"name":"a\u00e9\n","x":1.5,"tags":[1,2],"meta":{"k":null},"ok":true}' \
		'{"id":2,"x":NaN,"tags":[3,4],"meta":null,"ok":false,"name":"b"}' '' \
		'{"id":3,"tags":[5,6],"meta":[1],"ok":true,"x":-Infinity}' > j.jsonl
	run shard-convert -q -f jsonl -s 'id:int32,name:str,x:float32,tags:ndarray:int64:2,meta:json,ok:bool' -o ds j.jsonl
	assert_failure 1
	assert_output --partial "j.jsonl:4:2: column 'name': null"
	run shard-convert -q -f jsonl -s 'id:int32,name:str,x:float32,tags:ndarray:int64:2,meta:json,ok:bool' \
		--fill name=? -o ds j.jsonl
	assert_success
	run shard-cat ds
	assert_line --index 0 '{"id":1,"meta":{"k":null},"name":"aé\n","ok":true,"tags":[1,2],"x":1.5}'
	assert_line --index 1 '{"id":2,"meta":null,"name":"b","ok":false,"tags":[3,4],"x":NaN}'
	assert_line --index 2 '{"id":3,"meta":[1],"name":"?","ok":true,"tags":[5,6],"x":-Infinity}'
}

@test "JSON Lines: unknown keys and broken objects are errors with their line" {
	printf '{"id":1}\n{"id":2,"zz":2}\n' > u.jsonl
	run shard-convert -q -f jsonl -s id:int32 -o ds u.jsonl
	assert_failure 1
	assert_output 'shard-convert: u.jsonl:2: key "zz" is not in the schema'
	printf '{"id":1,\n' > b.jsonl
	run shard-convert -q -f jsonl -s id:int32 -o ds b.jsonl
	assert_failure 1
	assert_output --partial "b.jsonl:1: invalid JSON"
	run shard-convert -q -f jsonl -s id:int32 --on-error skip --rejects r.txt -o ds u.jsonl b.jsonl
	assert_success
	run cat r.txt
	assert_line --index 0 '# u.jsonl:2: key "zz" is not in the schema'
	assert_line --index 1 '{"id":2,"zz":2}'
}

# jsonl_refused FILE MESSAGE: shard-convert -f jsonl under schema $s refuses FILE with FILE:MESSAGE, status 1
jsonl_refused() {
	run shard-convert -q -f jsonl ${s:+-s "$s"} -o ds "$1"
	assert_failure 1
	assert_output "shard-convert: $1:$2"
}

@test "JSON Lines: a lone surrogate escape or a key twice in one object is refused at its byte" {
	cd "$BATS_TEST_TMPDIR"
	s='id:int32,name:str,meta:json'
	# FILE:LINE:COLUMN, the column the byte of the escape or of the repeated key's quote
	printf '%s\n' '{"id":1,"name":"ok \ud83d\ude00"}' '{"id":2,"name":"a\ud800"}' > hi.jsonl
	jsonl_refused hi.jsonl '2:18: lone surrogate escape \ud800 (a high surrogate without its low one)'
	printf '%s\n' '{"id":1,"name":"\udc00\ud800"}' > lo.jsonl
	jsonl_refused lo.jsonl '1:17: lone surrogate escape \udc00 (a low surrogate without its high one)'
	# in a key, and deep in a json column's value, too
	printf '%s\n' '{"id":1,"meta":{"a":["\ud800x"]}}' > deep.jsonl
	jsonl_refused deep.jsonl '1:23: lone surrogate escape \ud800 (a high surrogate without its low one)'
	printf '%s\n' '{"id":1,"name":"a","id":2}' > dup.jsonl
	jsonl_refused dup.jsonl '1:20: key "id" is in this object already'
	# the same key however escaped, and in a nested object
	printf '%s\n' '{"id":1,"\u0069d":2}' > esc.jsonl
	jsonl_refused esc.jsonl '1:9: key "\u0069d" is in this object already'
	printf '%s\n' '{"id":1,"meta":{"k":1,"j":[{"k":1}],"k":2}}' > nested.jsonl
	jsonl_refused nested.jsonl '1:37: key "k" is in this object already'
	# two keys that name one column, matched without case
	printf '%s\n' '{"id":1,"ID":2}' > case.jsonl
	jsonl_refused case.jsonl "1:9: key \"ID\" names column 'id', as the key at byte 2 does (use --case-sensitive to tell them apart)"
	# schema inference reads the same way
	s='' jsonl_refused dup.jsonl '1:20: key "id" is in this object already'
	# skipped rows go to the rejects file with their reason
	run shard-convert -q -f jsonl -s "$s" --on-error skip --rejects r.txt -o ds hi.jsonl dup.jsonl
	assert_success
	run cat r.txt
	assert_line '# hi.jsonl:2:18: lone surrogate escape \ud800 (a high surrogate without its low one)'
	assert_line '# dup.jsonl:1:20: key "id" is in this object already'
	[ "$(shard-index info --json ds | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')" -eq 1 ]
}

@test "--entries: each writer gets its own part directory; merge builds index.json from the entries" {
	seq 1 3000 | sed 's/$/;true/' |
		shard-convert -q -s n:int32,b:bool --delimiter ';' --samples-per-shard 1000 --entries -o pd > e1.jsonl
	seq 3001 3500 | sed 's/$/;false/' | shard-convert -q -s n:int32,b:bool --delimiter ';' --entries -o pd > e2.jsonl
	# a failed attempt's leftovers: shards on disk whose entries nobody collected
	seq 1 10 | sed 's/$/;true/' | shard-convert -q -s n:int32,b:bool --delimiter ';' --entries -o pd > /dev/null
	[ "$(ls pd | wc -l)" -eq 3 ]
	[ ! -e pd/index.json ]
	head -n 1 e1.jsonl | grep -qx '{"shardkit":{"logical_types":{"b":"bool"}}}'
	[ "$(grep -c '"raw_data"' e1.jsonl)" -eq 3 ]
	cat e1.jsonl e2.jsonl | shard-index merge -q -o pd -
	run shard-index verify pd
	assert_success
	assert_output --partial "4 shards, 3500 samples"
	run shard-cat -r 3499: pd
	assert_output '{"b":false,"n":3500}'
}

@test "--entries into a directory that holds a merged dataset is refused, and adds nothing" {
	seq 1 20 | shard-convert -q -s n:int32 --entries -o pd > e1.jsonl
	shard-index merge -q -o pd - < e1.jsonl
	before=$(find pd | sort)
	run shard-convert -q -s n:int32 --entries -o pd <<<"21"
	assert_failure 2
	assert_output "shard-convert: pd: already holds a dataset (index.json); remove it or choose another directory"
	[ "$(find pd | sort)" = "$before" ]
	# as -o DIR is
	run shard-convert -q -s n:int32 -o pd <<<"21"
	assert_failure 2
	assert_output --partial "pd: already holds a dataset (index.json)"
	[ "$(find pd | sort)" = "$before" ]
	# with the index set aside, a new part goes in; merging all entries adds it
	mv pd/index.json index.old
	seq 21 30 | shard-convert -q -s n:int32 --entries -o pd > e2.jsonl
	cat e1.jsonl e2.jsonl | shard-index merge -q -o pd -
	run shard-index verify pd
	assert_success
	assert_output --partial "2 shards, 30 samples"
}

@test "--pack: columns into one fixed-shape ndarray, the features/label split" {
	printf 'a,b,c,y\n1,2,3,0\n4.5,,6,1\n' > p.csv
	run shard-convert -q --header -s a:float32,b:float32,c:float32,y:int32 --pack feats=a,b,c:float32 -o ds p.csv
	assert_failure 1
	assert_output --partial "p.csv:3:2: column 'b' (packed into 'feats'): null"
	run shard-convert -q --header -s a:float32,b:float32,c:float32,y:int32 --pack feats=c,a,b:float32 \
		--fill b=NaN -o ds p.csv
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"feats":[3.0,1.0,2.0],"y":0}\n{"feats":[6.0,4.5,NaN],"y":1}')"
	run shard-index info --json ds
	assert_output --partial '{"name":"feats","encoding":"ndarray:float32:3","size":12}'
	run shard-convert -q -s a:float32 --pack f=a,zz:float32 -o ds2 p.csv
	assert_failure 2
	assert_output --partial "no column 'zz'"
}

@test "--schema-from: a Spark DDL string, df.schema.json(), or a file of either" {
	printf '1,x,2.5,true,2024-01-02,"[1.5,2.5]",9.99\n' > s.csv
	run shard-convert -q --schema-from 'id BIGINT, `name` STRING COMMENT "n, m", x DOUBLE NOT NULL, ok BOOLEAN, d DATE, v ARRAY<FLOAT>, price DECIMAL(10,2)' -o ds s.csv
	assert_success
	run shard-index info --json ds
	assert_output --partial '"encoding":"int64"'
	assert_output --partial '{"name":"v","encoding":"ndarray:float32","size":null}'
	assert_output --partial '{"name":"price","encoding":"str_decimal","size":null}'
	run shard-cat ds
	assert_output '{"d":"2024-01-02","id":1,"name":"x","ok":true,"price":"9.99","v":[1.5,2.5],"x":2.5}'
	cat > schema.json <<'JSON'
{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"name","type":"string","nullable":true,"metadata":{}},{"name":"x","type":"double","nullable":true,"metadata":{}},{"name":"ok","type":"boolean","nullable":true,"metadata":{}},{"name":"d","type":"date","nullable":true,"metadata":{}},{"name":"v","type":{"type":"array","elementType":"float","containsNull":true},"nullable":true,"metadata":{}},{"name":"price","type":"decimal(10,2)","nullable":true,"metadata":{}}]}
JSON
	run shard-convert -q --schema-from schema.json -o ds2 s.csv
	assert_success
	diff <(shard-cat ds) <(shard-cat ds2)
	run shard-convert -q --schema-from 'm MAP<STRING,INT>, c CALENDAR' -o ds3 s.csv
	assert_failure 2
	assert_output --partial "type 'calendar' has no MDS encoding"
}

@test "--schema-from: ByteType and ShortType (TINYINT, SMALLINT; byte, short) are the signed int8 and int16" {
	printf -- '-1,-1\n-128,-32768\n127,32767\n' > t.csv
	cat > schema.json <<'JSON'
{"type":"struct","fields":[{"name":"a","type":"byte","nullable":true,"metadata":{}},{"name":"b","type":"short","nullable":true,"metadata":{}}]}
JSON
	for spec in 'a TINYINT, b SMALLINT' schema.json; do
		rm -rf ds
		run shard-convert -q --schema-from "$spec" -o ds t.csv
		assert_success
		run shard-cat --format jsonl ds
		assert_output "$(printf '{"a":-1,"b":-1}\n{"a":-128,"b":-32768}\n{"a":127,"b":32767}')"
		run shard-index info ds
		assert_line --regexp '^  a +int8 +1 bytes$'
		assert_line --regexp '^  b +int16 +2 bytes$'
	done
	printf '128,1\n' > over.csv
	run shard-convert -q --schema-from 'a TINYINT, b SMALLINT' -o ds2 over.csv
	assert_failure 1
	assert_output "shard-convert: over.csv:1:1: column 'a': '128' is not an int8"
}

@test "no schema: inferred from the first rows of the first file, and said" {
	printf 'id,x,ok,d,ts,name,n\n1,2.5,true,2024-01-01,2024-01-01T00:00:00Z,a,\n2,3,false,2024-01-02,2024-01-02 01:02:03,b,7\n' > inf.csv
	run shard-convert --header --fill n=0 -o ds inf.csv
	assert_success
	# n held a null in the sample: nullable (the --fill then gives a value instead)
	assert_line --partial "inferred from inf.csv: --schema 'id:int64,x:float64,ok:bool,d:date,ts:timestamp,name:str,n:int64?'"
	run shard-cat -c id,x,ok,d ds
	assert_line --index 1 '{"id":2,"x":3.0,"ok":false,"d":"2024-01-02"}'
	printf '1,a\n2,b\n' > nohdr.csv
	run shard-convert -q -o ds2 nohdr.csv
	assert_success
	run shard-cat ds2
	assert_output "$(printf '{"_c0":1,"_c1":"a"}\n{"_c0":2,"_c1":"b"}')"
	printf '{"a":1,"b":"x","c":[1,2],"d":{"k":1}}\n{"a":2,"b":"y","c":[3],"d":null}\n' > inf.jsonl
	run shard-convert -f jsonl -o ds3 inf.jsonl
	assert_success
	assert_line --partial "--schema 'a:int64,b:str,c:ndarray:float64,d:json'"
	run shard-convert -o ds4 < nohdr.csv
	assert_failure 2
	assert_output --partial "not stdin"
	# every sampled value must parse under the inferred type, not only the last:
	# 5 then a date, or 1.5 then true, leave only str; int then float widens
	printf 'a,b,c,d,e,f\n5,1.5,1,2024-01-01,1,0\n2024-01-01,true,2.5,2024-01-02T03:04:05Z,true,1\n' > mix.csv
	run shard-convert --header -o ds5 mix.csv
	assert_success
	assert_line --partial "--schema 'a:str,b:str,c:float64,d:timestamp,e:bool,f:int64'"
	run shard-cat ds5
	assert_line --index 0 '{"a":"5","b":"1.5","c":1.0,"d":"2024-01-01T00:00:00.000000Z","e":true,"f":0}'
	assert_line --index 1 '{"a":"2024-01-01","b":"true","c":2.5,"d":"2024-01-02T03:04:05.000000Z","e":true,"f":1}'
}

@test "xz, zstd and lz4-frame inputs are recognised from their content" {
	# lz4 comes with scripts/deps.sh: a missing one is a failure, not a skip
	printf 'id,v\n1,a\n' | xz > p1.data
	printf 'id,v\n2,b\n' | zstd -q > p2.data
	printf 'id,v\n3,c\n4,d\n' | lz4 -q > p3.lz4
	[ "$(head -c 4 p3.lz4 | od -An -tx1 | tr -d ' ')" = 04224d18 ]
	run shard-convert -q --header -s id:int32,v:str -o ds p1.data p2.data p3.lz4
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"id":1,"v":"a"}\n{"id":2,"v":"b"}\n{"id":3,"v":"c"}\n{"id":4,"v":"d"}')"
}

@test "--timezone: text without an offset is wall-clock time there, DST and history included; with one, it stands" {
	printf '%s\n' 2024-07-01T12:00:00 '2024-01-15 12:00:00.5' 2024-07-01 1850-06-01T12:00:00 1883-11-18T12:00:00 \
		1943-06-01T12:00:00 2099-07-01T12:00:00 2024-07-01T12:00:00Z 2024-07-01T12:00:00+02:00 > z.csv
	run shard-convert -q -s ts:timestamp --timezone America/New_York -o ds z.csv
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"ts":"%s"}\n' 2024-07-01T16:00:00.000000Z 2024-01-15T17:00:00.500000Z \
		2024-07-01T04:00:00.000000Z 1850-06-01T16:56:02.000000Z 1883-11-18T16:56:02.000000Z \
		1943-06-01T16:00:00.000000Z 2099-07-01T16:00:00.000000Z 2024-07-01T12:00:00.000000Z \
		2024-07-01T10:00:00.000000Z)"
	# UTC stays the default
	run shard-convert -q -s ts:timestamp -o ds2 z.csv
	assert_success
	run shard-cat -r 0:1 ds2
	assert_output '{"ts":"2024-07-01T12:00:00.000000Z"}'
}

@test "--timezone: a time in a DST gap moves on by the gap, one in an overlap takes the earlier offset (Spark's rule)" {
	# New York: 02:00-03:00 on 2024-03-10 does not exist; 01:00-02:00 on 2024-11-03 happens twice
	printf '%s\n' 2024-03-10T01:59:59 2024-03-10T02:30:00 2024-03-10T03:00:00 2024-11-03T00:59:59 \
		2024-11-03T01:30:00 2024-11-03T02:00:00 > d.csv
	run shard-convert -q -s ts:timestamp --timezone America/New_York -o ds d.csv
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"ts":"%s"}\n' 2024-03-10T06:59:59.000000Z 2024-03-10T07:30:00.000000Z \
		2024-03-10T07:00:00.000000Z 2024-11-03T04:59:59.000000Z 2024-11-03T05:30:00.000000Z \
		2024-11-03T07:00:00.000000Z)"
	# a 30-minute DST (Lord Howe Island), a day skipped (Apia, 2011-12-30), winter DST (Dublin)
	printf '2024-10-06T02:15:00,2011-12-30T12:00:00,2024-10-27T01:30:00\n' > e.csv
	for z in Australia/Lord_Howe Pacific/Apia Europe/Dublin; do
		rm -rf "ds-${z%%/*}"
		shard-convert -q -s a:timestamp,b:timestamp,c:timestamp --timezone "$z" -o "ds-${z%%/*}" e.csv
	done
	run shard-cat -c a ds-Australia
	assert_output '{"a":"2024-10-05T15:45:00.000000Z"}'
	run shard-cat -c b ds-Pacific
	assert_output '{"b":"2011-12-30T22:00:00.000000Z"}'
	run shard-cat -c c ds-Europe
	assert_output '{"c":"2024-10-27T00:30:00.000000Z"}'
}

@test "offsets with seconds (-04:56:02, -045602), +HH and +HHMM are read; beyond 18 hours is refused" {
	printf '%s\n' 1850-06-01T12:00:00-04:56:02 1850-06-01T12:00:00-045602 2024-01-01T00:00:00+05 \
		2024-01-01T00:00:00+0530 2024-01-01T00:00:00.000001-18:00 > o.csv
	run shard-convert -q -s ts:timestamp -o ds o.csv
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"ts":"%s"}\n' 1850-06-01T16:56:02.000000Z 1850-06-01T16:56:02.000000Z \
		2023-12-31T19:00:00.000000Z 2023-12-31T18:30:00.000000Z 2024-01-01T18:00:00.000001Z)"
	for bad in 2024-01-01T00:00:00+18:00:01 2024-01-01T00:00:00-19 2024-01-01T00:00:00+05:3 2024-01-01T00:00:00+05:30:0; do
		echo "$bad" > b.csv
		run shard-convert -q -s ts:timestamp --timezone America/New_York -o ds2 b.csv
		assert_failure 1
		assert_output "shard-convert: b.csv:1:1: column 'ts': '$bad' is not a timestamp (yyyy-MM-ddTHH:mm:ss[.ffffff][Z|+HH:MM[:SS]])"
	done
}

@test "--timezone: UTC, Z and fixed offsets; an unknown zone is a usage error naming it, a broken zone file an error" {
	printf '2024-01-01T00:00:00\n' > f.csv
	for z in UTC Z +05:30 -0800 UTC+01 GMT-03:30; do
		rm -rf ds
		run shard-convert -q -s ts:timestamp --timezone "$z" -o ds f.csv
		assert_success
		shard-cat ds >> all.jsonl
	done
	run cat all.jsonl
	assert_output "$(printf '{"ts":"%s"}\n' 2024-01-01T00:00:00.000000Z 2024-01-01T00:00:00.000000Z \
		2023-12-31T18:30:00.000000Z 2024-01-01T08:00:00.000000Z 2023-12-31T23:00:00.000000Z \
		2024-01-01T03:30:00.000000Z)"
	for z in Mars/Olympus ../../etc/passwd America +18:30 ''; do
		run shard-convert -q -s ts:timestamp --timezone "$z" -o ds3 f.csv
		assert_failure 2
		assert_line --index 0 --partial "shard-convert: --timezone: unknown time zone '$z'"
		[ ! -e ds3 ]
	done
	# the zone files come from TZDIR when it is set: a cut one is refused by name
	mkdir -p zi/Cut
	head -c 2000 /usr/share/zoneinfo/America/New_York > zi/Cut/Zone
	TZDIR=$PWD/zi run shard-convert -q -s ts:timestamp --timezone Cut/Zone -o ds3 f.csv
	assert_failure 1
	assert_output --partial "time zone 'Cut/Zone': a truncated TZif file"
	[ ! -e ds3 ]
}

@test "--timezone: timestamp partition directories (Spark writes them in local time, no offset) are read there" {
	mkdir -p 'out/ts=2024-03-10 01%3A30%3A00' 'out/ts=2024-11-03 01%3A30%3A00' 'out/ts=1850-06-01 12%3A00%3A00.25' \
		'out/ts=__HIVE_DEFAULT_PARTITION__'
	printf '1\n' > 'out/ts=2024-03-10 01%3A30%3A00/part-00000.csv'
	printf '2\n' > 'out/ts=2024-11-03 01%3A30%3A00/part-00000.csv'
	printf '3\n' > 'out/ts=1850-06-01 12%3A00%3A00.25/part-00000.csv'
	printf '4\n' > 'out/ts=__HIVE_DEFAULT_PARTITION__/part-00000.csv'
	run shard-convert -q -s id:int32,ts:timestamp --fill ts=1970-01-01 --timezone America/New_York -o ds out
	assert_success
	run shard-cat ds
	assert_output "$(printf '%s\n' '{"id":3,"ts":"1850-06-01T16:56:02.250000Z"}' '{"id":1,"ts":"2024-03-10T06:30:00.000000Z"}' \
		'{"id":2,"ts":"2024-11-03T05:30:00.000000Z"}' '{"id":4,"ts":"1970-01-01T05:00:00.000000Z"}')"
}

@test "--schema-from: TIMESTAMP_NTZ is wall-clock time kept as if in UTC whatever --timezone; TIMESTAMP_LTZ is a timestamp" {
	printf '2024-03-10T02:30:00,2024-03-10T02:30:00,2024-03-10 02:30:00\n' > n.csv
	cat > schema.json <<'JSON'
{"type":"struct","fields":[{"name":"a","type":"timestamp_ntz","nullable":true,"metadata":{}},{"name":"b","type":"timestamp","nullable":true,"metadata":{}},{"name":"c","type":"timestamp_ltz","nullable":true,"metadata":{}}]}
JSON
	for spec in 'a TIMESTAMP_NTZ, b TIMESTAMP, c TIMESTAMP_LTZ' schema.json; do
		rm -rf ds
		run shard-convert -q --schema-from "$spec" --timezone America/New_York -o ds n.csv
		assert_success
		run shard-cat ds
		assert_output '{"a":"2024-03-10T02:30:00.000000Z","b":"2024-03-10T07:30:00.000000Z","c":"2024-03-10T07:30:00.000000Z"}'
		run shard-index info --json ds
		assert_output --partial '{"name":"a","encoding":"int64","size":8,"logical_type":"timestamp"}'
	done
	# wall-clock text has no offset: Spark refuses one for TIMESTAMP_NTZ, and so do we
	printf '2024-03-10T02:30:00Z,2024-03-10T02:30:00Z,2024-03-10T02:30:00Z\n' > z.csv
	run shard-convert -q --schema-from 'a TIMESTAMP_NTZ, b TIMESTAMP, c TIMESTAMP_LTZ' -o ds2 z.csv
	assert_failure 1
	assert_output "shard-convert: z.csv:1:1: column 'a': '2024-03-10T02:30:00Z' is not a timestamp without an offset (yyyy-MM-ddTHH:mm:ss[.ffffff])"
	# and --schema takes the type by name too
	printf '2024-03-10T02:30:00\n' > one.csv
	run shard-convert -q -s a:timestamp_ntz --timezone Asia/Kolkata -o ds3 one.csv
	assert_success
	run shard-cat ds3
	assert_output '{"a":"2024-03-10T02:30:00.000000Z"}'
}

@test "--type: a decimal as float64, a long as int32 with its range checked; nullability kept" {
	printf 'id,price\n1,1.50\n12345678901,\n' > ty.csv
	run shard-convert -q --header --schema-from 'id BIGINT, price DECIMAL(10,2)' --type price=float64 -o ds ty.csv
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"id":1,"price":1.5}\n{"id":12345678901,"price":null}')"
	run shard-convert -q --header --schema-from 'id BIGINT, price DECIMAL(10,2)' --type id=int32 -o ds2 ty.csv
	assert_failure 1
	assert_output "shard-convert: ty.csv:3:1: column 'id': '12345678901' is not an int32"
	run shard-convert -q --header --schema-from 'id BIGINT' --type nope=int32 -o ds3 ty.csv
	assert_failure 2
	assert_output --partial "--type: no column 'nope' in the schema"
}

@test "decimal(P,S): values kept as written and checked, a fill scaled like them" {
	printf '1.50,1\n-0.07,2\n,3\n1E-2,4\n' > dec.csv
	run shard-convert -q -s 'd:decimal(5,2),i:int32' --fill d=0 -o ds dec.csv
	assert_success
	run shard-cat -c d ds
	assert_output "$(printf '{"d":"1.50"}\n{"d":"-0.07"}\n{"d":"0.00"}\n{"d":"1E-2"}')"
	printf '1.505,1\n' > over.csv
	run shard-convert -q -s 'd:decimal(5,2),i:int32' -o ds2 over.csv
	assert_failure 1
	assert_output "shard-convert: over.csv:1:1: column 'd': '1.505' is not a decimal(5,2)"
	printf '1234.5,1\n' > big.csv
	run shard-convert -q -s 'd:decimal(5,2),i:int32' -o ds3 big.csv
	assert_failure 1
	run shard-convert -q -s 'd:decimal(5,2),i:int32' --fill d=0.001 -o ds4 dec.csv
	assert_failure 2
	assert_output --partial "--fill d=0.001: '0.001' is not a decimal(5,2)"
	# Spark's DecimalType through --schema-from: the same type
	run shard-convert -q --schema-from 'd DECIMAL(5,2), i INT' --fill d=7 -o ds5 dec.csv
	assert_success
	run shard-cat -c d -r 2:3 ds5
	assert_output '{"d":"7.00"}'
}

@test "--select and --rename: columns read and left out, columns written under another name" {
	printf 'a,b,c\n1,x,2.5\n2,y,3.5\n' > sel.csv
	run shard-convert -q --header -s 'a:int32,b:str,c:float64?' --select a,c --rename c=score -o ds sel.csv
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"a":1,"score":2.5}\n{"a":2,"score":3.5}')"
	grep -q '"score.valid"' ds/index.json
	# numbers only: the fast path passes over a column not written
	seq 1 50000 | awk '{ print $1 "," $1 * 2 "," $1 * 3 }' > num.csv
	run shard-convert -q -s 'a:int64,b:int64,c:int64' --select a,c -o ds2 num.csv
	assert_success
	run shard-cat -r 49999: ds2
	assert_output '{"a":50000,"c":150000}'
	run shard-convert -q -s 'a:int32,b:str' --rename a=b -o ds3 sel.csv
	assert_failure 2
	assert_output --partial "two columns would be written as 'b'"
}

@test "header names match ignoring case as in Spark, exactly with --case-sensitive; odd names in backquotes" {
	printf 'ID,Name\n1,x\n' > case.csv
	run shard-convert -q --header -s 'id:int32,name:str' -o ds case.csv
	assert_success
	run shard-cat ds
	assert_output '{"id":1,"name":"x"}'
	run shard-convert -q --header --case-sensitive -s 'id:int32,name:str' -o ds2 case.csv
	assert_failure 1
	assert_output "shard-convert: case.csv:1:1: header column 'ID' is not in the schema"
	run shard-convert -q --header -s 'id:int32,Id:int32' -o ds3 <(printf 'iD,Name\n')
	assert_failure
	# JSON keys too
	printf '{"ID":1,"NAME":"x"}\n' > case.jsonl
	run shard-convert -q -f jsonl -s 'id:int32,name:str' -o ds4 case.jsonl
	assert_success
	run shard-cat ds4
	assert_output '{"id":1,"name":"x"}'
	# names with , : = and a backquote, from Spark's schema and in --schema
	printf 'a:b,c=d,"e,f",g`h\n1,2,3,4\n' > odd.csv
	run shard-convert -q --header --schema-from '`a:b` INT, `c=d` INT, `e,f` INT NOT NULL, `g``h` INT' --fill '`c=d`=0' -o ds5 odd.csv
	assert_success
	run shard-cat ds5
	assert_output '{"a:b":1,"c=d":2,"e,f":3,"g`h":4}'
	run shard-convert -q --header -s '`a:b`:int32,`c=d`:int32,`e,f`:int32,`g``h`:int32' -o ds6 odd.csv
	assert_success
	diff <(shard-cat ds5) <(shard-cat ds6)
}

@test "--schema-from takes df.schema.simpleString(), and says what to pass for text it cannot read" {
	printf '1,x,1.50\n' > ss.csv
	run shard-convert -q --schema-from 'struct<id:bigint,name:string,price:decimal(10,2)>' -o ds ss.csv
	assert_success
	run shard-cat ds
	assert_output '{"id":1,"name":"x","price":"1.50"}'
	run shard-convert -q --schema-from 'struct<id:bigint,name:string' -o ds2 ss.csv
	assert_failure 2
	assert_output --partial "pass df.schema.json() or a DDL string"
}

@test "an input that is a pipe, not a file, is read whole" {
	run shard-convert -q -s 'a:int32,b:str' -o ds <(printf '1,x\n2,y\n')
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"a":1,"b":"x"}\n{"a":2,"b":"y"}')"
}

@test "--overwrite replaces a dataset: the old index goes first, the old shards it alone named after" {
	seq 1 3000 | sed 's/$/,x/' > big.csv
	seq 1 10 | sed 's/$/,y/' > small.csv
	shard-convert -q -s a:int32,b:str --samples-per-shard 100 -o ds big.csv
	[ "$(ls ds | grep -c '^shard')" -eq 30 ]
	run shard-convert -q -s a:int32,b:str -o ds small.csv
	assert_failure 2
	assert_output --partial "already holds a dataset"
	run shard-convert -q -s a:int32,b:str --overwrite -o ds small.csv
	assert_success
	[ "$(ls ds)" = "$(printf 'index.json\nshard.00000.mds.zstd')" ]
	run shard-index verify -q --strict ds
	assert_success
	[ "$(shard-cat ds | wc -l)" -eq 10 ]
	# a run that fails has removed the old index: nothing there looks whole
	shard-convert -q -s a:int32,b:str --samples-per-shard 100 --overwrite -o ds big.csv
	printf '1,x\nz,y\n' > bad.csv
	run shard-convert -q -s a:int32,b:str --overwrite -o ds bad.csv
	assert_failure 1
	[ ! -e ds/index.json ]
	run shard-convert -q -s a:int32,b:str --overwrite -o - small.csv
	assert_failure 2
}

@test "--entries --overwrite removes only the merged index, for the merge to write anew" {
	printf '1,x\n2,y\n' > p.csv
	shard-convert -q -s a:int32,b:str --entries -o ds p.csv > e1
	shard-index merge -q -o ds - < e1
	run shard-convert -q -s a:int32,b:str --entries -o ds p.csv
	assert_failure 2
	shard-convert -q -s a:int32,b:str --entries --overwrite -o ds p.csv > e2
	[ ! -e ds/index.json ]
	[ "$(ls -d ds/part-* | wc -l)" -eq 2 ]
	shard-index merge -q -o ds - < e2
	run shard-index prune ds
	assert_success
	[ "$(ls -d ds/part-* | wc -l)" -eq 1 ]
	[ "$(shard-cat ds | wc -l)" -eq 2 ]
}

@test "the shards and their directory reach the disk before index.json is renamed in, index.json after; --no-sync skips it" {
	cd "$BATS_TEST_TMPDIR"
	seq 1 30 | sed 's/$/,x/' > in.csv
	traced s.log shard-convert -q -s a:int32,b:str --samples-per-shard 10 -o ds in.csv
	run synced s.log ds
	assert_success
	[ "$(grep -c 'fsync(' s.log)" -eq 6 ]	# 3 shards, the directory, index.json, the directory again
	traced n.log shard-convert -q --no-sync -s a:int32,b:str --samples-per-shard 10 -o ds2 in.csv
	run unsynced n.log
	assert_success
	grep -q 'index.json"' n.log
	shard-index verify -q ds2
	# a task's part: its shards and directories flushed before it ends, and the driver's merge flushes index.json
	traced e.log shard-convert -q -s a:int32,b:str --samples-per-shard 10 --entries -o pd in.csv > e.jsonl
	part=$(cd pd && ls -d part-*)
	for f in "$part"/* "$part" ""; do
		grep -qE "fsync\([0-9]+<$(realpath "pd/$f")>\)" e.log
	done
	traced m.log shard-index merge -q -o pd - < e.jsonl
	run synced m.log pd
	assert_success
	# stdout: a stream, never flushed
	traced o.log shard-convert -q -s a:int32,b:str -o - in.csv > s.bin
	run unsynced o.log
	assert_success
}
