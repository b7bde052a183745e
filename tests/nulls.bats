#!/usr/bin/env bats
# Nulls survive: a nullable column keeps its nulls in a uint8 validity column
# beside it (shard-mds(5), NULLS), shard-cat shows the logical table, and
# what shard-cat prints reads back to the same dataset.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# validity DIR: index.json's validity map, keys sorted
validity() {
	python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["shardkit"]["validity"], sort_keys=True))' "$1/index.json"
}

# every type text can hold, nullable; row 2 is null throughout, row 3 holds
# the "empty" values that must stay distinct from null
ALL='i8:int8?,i16:int16?,i32:int32?,i64:int64?,u8:uint8?,u16:uint16?,u32:uint32?,u64:uint64?,f16:float16?,f32:float32?,f64:float64?,s:str?,by:bytes?,sd:str_decimal?,si:str_int?,sf:str_float?,b:bool?,d:date?,ts:timestamp?,nd:ndarray:float32:2?,nv:ndarray:int32?,j:json?'

all_csv() {
	printf '%s\n' \
		'-1,-2,-3,-4,1,2,3,4,0.5,1.5,2.5,text,raw,1.25,7,0.125,true,2024-02-29,2024-02-29T12:34:56.789012Z,"[1,2]","[3]","{""k"":1}"' \
		',,,,,,,,,,,,,,,,,,,,,' \
		'0,0,0,0,0,0,0,0,0.0,0.0,0.0,"","",0.00,0,0.0,false,1970-01-01,1970-01-01T00:00:00Z,"[0,0]","[0]",null'
}

@test "every type keeps its nulls: null apart from zero, false, the epoch and the empty string" {
	all_csv > all.csv
	run shard-convert -q -s "$ALL" -o ds all.csv
	assert_success
	run shard-cat -c i8,u64,f32,s,by,sd,b,d,ts,nd,nv,j ds
	assert_success
	assert_line --index 0 '{"i8":-1,"u64":4,"f32":1.5,"s":"text","by":"cmF3","sd":"1.25","b":true,"d":"2024-02-29","ts":"2024-02-29T12:34:56.789012Z","nd":[1.0,2.0],"nv":[3],"j":{"k":1}}'
	assert_line --index 1 '{"i8":null,"u64":null,"f32":null,"s":null,"by":null,"sd":null,"b":null,"d":null,"ts":null,"nd":null,"nv":null,"j":null}'
	assert_line --index 2 '{"i8":0,"u64":0,"f32":0.0,"s":"","by":"","sd":"0.00","b":false,"d":"1970-01-01","ts":"1970-01-01T00:00:00.000000Z","nd":[0.0,0.0],"nv":[0],"j":null}'
	# no validity columns in the logical table
	run shard-cat -r 1:2 ds
	refute_output --partial '.valid'
	# every nullable column but json has one, uint8, named in index.json
	run python3 -c '
import json, sys
ix = json.load(open("ds/index.json"))
v = ix["shardkit"]["validity"]
sh = ix["shards"][0]
enc = dict(zip(sh["column_names"], sh["column_encodings"]))
assert "j" not in v, v
assert len(v) == 21, len(v)
for c, vc in v.items():
    assert vc == c + ".valid" and enc[vc] == "uint8", (c, vc)
print("ok")'
	assert_output ok
	# --raw: the stored table, placeholders and validity
	run shard-cat --raw -r 1:2 -c i32,i32.valid,s,s.valid,sd,d,nv ds
	assert_output '{"i32":0,"i32.valid":0,"s":"","s.valid":0,"sd":"0","d":0,"nv":[0]}'
	run shard-cat -c s.valid ds
	assert_output "$(printf '{"s.valid":1}\n{"s.valid":0}\n{"s.valid":1}')"
}

@test "shard-cat -f csv and -f jsonl read back through shard-convert to the same dataset, every type" {
	# (bytes print as base64 and are read as the text's bytes: not in the round trip)
	all_csv | cut -d, -f1-12,14- > all.csv
	ALL=${ALL/by:bytes?,/}
	shard-convert -q -s "$ALL" -o ds all.csv
	shard-cat -f csv ds > out.csv
	# the columns come out sorted by name: the schema in that order
	sorted=$(echo "$ALL" | tr ',' '\n' | sed 's/:/ /' | sort -k1,1 | sed 's/ /:/' | paste -sd,)
	run shard-convert -q --header -s "$sorted" -o back-csv out.csv
	assert_success
	diff <(shard-cat --raw ds) <(shard-cat --raw back-csv)
	shard-cat ds > out.jsonl
	run shard-convert -q -f jsonl -s "$ALL" -o back-jsonl out.jsonl
	assert_success
	diff <(shard-cat --raw ds) <(shard-cat --raw back-jsonl)
	cmp <(shard-cat -f csv ds) <(shard-cat -f csv back-jsonl)
}

@test "a fill gives a value instead of the null, and no validity column" {
	printf '1,\n,x\n' > f.csv
	run shard-convert -q -s 'a:int32?,b:str?' --fill a=-1 -o ds f.csv
	assert_success
	run shard-cat --raw ds
	assert_output "$(printf '{"a":1,"b":"","b.valid":0}\n{"a":-1,"b":"x","b.valid":1}')"
	[ "$(validity ds)" = '{"b": "b.valid"}' ]
}

@test "plain numbers with nulls: the fast path sets validity, a null row takes the general one" {
	# enough rows for several chunks; every 1000th row holds nulls
	awk 'BEGIN { for (i = 0; i < 300000; i++) if (i % 1000 == 7) print i ",," ; else print i "," i * 0.5 "," (-i) }' > n.csv
	run shard-convert -q -s 'id:int64,x:float64?,y:int32?' -o ds n.csv
	assert_success
	run shard-cat -r 6:9 ds
	assert_output "$(printf '{"id":6,"x":3.0,"y":-6}\n{"id":7,"x":null,"y":null}\n{"id":8,"x":4.0,"y":-8}')"
	[ "$(shard-cat -c x.valid ds | grep -c ':0}')" -eq 300 ]
	[ "$(shard-cat -c y ds | grep -c null)" -eq 300 ]
}

@test "--schema-from: Spark's nullable fields keep their nulls, NOT NULL ones do not" {
	printf '1,,\n2,x,2024-01-01\n' > s.csv
	run shard-convert -q --schema-from 'id BIGINT NOT NULL, s STRING, d DATE' -o ds s.csv
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"d":null,"id":1,"s":null}\n{"d":"2024-01-01","id":2,"s":"x"}')"
	[ "$(validity ds)" = '{"d": "d.valid", "s": "s.valid"}' ]
	json='{"type":"struct","fields":[{"name":"id","type":"long","nullable":false,"metadata":{}},{"name":"s","type":"string","nullable":true,"metadata":{}},{"name":"d","type":"date","nullable":true,"metadata":{}}]}'
	run shard-convert -q --schema-from "$json" -o ds2 s.csv
	assert_success
	diff <(shard-cat --raw ds) <(shard-cat --raw ds2)
	# a null in a NOT NULL field is an error naming it
	printf ',x,\n' > nn.csv
	run shard-convert -q --schema-from 'id BIGINT NOT NULL, s STRING, d DATE' -o ds3 nn.csv
	assert_failure 1
	assert_output --partial "nn.csv:1:1: column 'id': null, and int64 cannot hold a null"
}

@test "--no-nulls: with --schema-from every nullable field without a fill is named before any data is read" {
	printf '1,a,2024-01-01,\n' > ok.csv
	# a FIFO nobody writes: reading it would hang
	mkfifo never
	run timeout 10 shard-convert -q --no-nulls --schema-from 'id BIGINT NOT NULL, s STRING, d DATE, x DOUBLE' --fill x=0 -o ds never
	assert_failure 2
	assert_output --partial "--no-nulls: the Spark schema says s, d may hold nulls; give each a --fill COL=VALUE"
	[ ! -e ds ]
	run shard-convert -q --no-nulls --schema-from 'id BIGINT NOT NULL, s STRING, d DATE, x DOUBLE' --fill s=- --fill d=1970-01-01 --fill x=NaN -o ds ok.csv
	assert_success
	run shard-cat --raw ds
	assert_output '{"d":19723,"id":1,"s":"a","x":NaN}'
	# with --schema, '?' gives way to --no-nulls
	printf '1,\n' > n.csv
	run shard-convert -q --no-nulls -s 'a:int32,b:str?' -o ds2 n.csv
	assert_failure 1
	assert_output "shard-convert: n.csv:1:2: column 'b': null, and str cannot hold a null (use --fill b=VALUE)"
}

@test "nulls in JSON Lines and in partition directories" {
	printf '{"a":1,"b":"x"}\n{"a":null}\n{"b":""}\n' > j.jsonl
	run shard-convert -q -f jsonl -s 'a:int64?,b:str?' -o ds j.jsonl
	assert_success
	run shard-cat ds
	assert_output "$(printf '{"a":1,"b":"x"}\n{"a":null,"b":null}\n{"a":null,"b":""}')"
	mkdir -p exp/k=a exp/k=__HIVE_DEFAULT_PARTITION__
	echo 1 > exp/k=a/part-0.csv
	echo 2 > exp/k=__HIVE_DEFAULT_PARTITION__/part-0.csv
	run shard-convert -q -s 'id:int32' -o ds2 exp
	assert_success
	run shard-cat ds2
	assert_output "$(printf '{"id":2,"k":null}\n{"id":1,"k":"a"}')"
	# a partition column in the schema, not nullable: an error
	run shard-convert -q -s 'id:int32,k:str' -o ds3 exp
	assert_failure 1
	assert_output --partial "column 'k': null"
}

@test "a validity column's name taken by another column is refused" {
	printf '1,2\n' > c.csv
	run shard-convert -q -s 'a:int32?,a.valid:int32' -o ds c.csv
	assert_failure 2
	assert_output --partial "column 'a' is nullable, and its validity column 'a.valid' is taken by another column"
}

@test "validity travels: stream, shuffle, merge keep the map and the columns" {
	printf '1,\n,x\n3,y\n' > t.csv
	shard-convert -q -s 'a:int32?,b:str?' -o - t.csv | shard-cat - -o ds
	[ "$(validity ds)" = '{"a": "a.valid", "b": "b.valid"}' ]
	shard-shuffle -q ds --seed 1 -o sh
	diff <(shard-cat ds | sort) <(shard-cat sh | sort)
	run shard-index info ds
	assert_success
}

@test "shard-gpu-bench takes a validity column like any other" {
	awk 'BEGIN { for (i = 0; i < 5000; i++) if (i % 10 == 3) print i ","; else print i "," i }' > g.csv
	shard-convert -q -s 'id:int64,x:float32?' -o ds g.csv
	run shard-gpu-bench --device cpu --columns x,x.valid --batch 256 --json ds
	assert_success
	echo "$output" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
assert r["samples"] == 5000, r
assert r["columns"] == ["x", "x.valid"], r["columns"]
print("ok")'
}
