# fish completion for shard-convert(1): options, their values (formats,
# policies, codecs, hashes, column types, time zones), and inputs (files, Spark export
# directories, - for stdin).

# --schema NAME:TYPE,...: after a column's colon, the types (after
# "ndarray:", the element types), for the last element of the list.
function __shard_convert_schema
    set -l tok (commandline -ct | string replace -r -- '^--schema=' '')
    set -l dtypes int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64
    set -l types int8 int16 int32 int64 uint8 uint16 uint32 uint64 int float16 float32 float64 \
        str bytes json str_int str_float str_decimal bool date timestamp timestamp_ntz ndarray:
    if string match -qr -- '(^|,)[^,:]+:ndarray:[^,:]*$' "$tok"
        set -l prefix (string replace -r -- '[^:]*$' '' "$tok")
        printf '%s\n' $prefix$dtypes
    else if string match -qr -- '(^|,)[^,:]+:[^,:]*$' "$tok"
        set -l prefix (string replace -r -- '[^:]*$' '' "$tok")
        printf '%s\n' $prefix$types
    end
end

# --pack NAME=COL,...:DTYPE: the element type after the colon.
function __shard_convert_pack
    set -l tok (commandline -ct | string replace -r -- '^--pack=' '')
    if string match -qr -- '=.*:' "$tok"
        set -l prefix (string replace -r -- '[^:]*$' '' "$tok")
        printf '%s\n' $prefix{int8,int16,int32,int64,uint8,uint16,uint32,uint64,float16,float32,float64}
    end
end

# --timezone: UTC, and the IANA names in the zoneinfo directory (its data
# files, and the posix/ and right/ copies, left out).
function __shard_convert_timezones
    set -l dir /usr/share/zoneinfo
    set -q TZDIR; and set dir $TZDIR
    echo UTC
    test -d $dir; or return
    find -L $dir -type f | string replace -- "$dir/" '' | string match -rv -- '^(posix|right)/|\.|(^|/)[^A-Z][^/]*$'
end

# --hashes: a comma-separated list; names already listed are left out.
function __shard_convert_hashes
    set -l tok (commandline -ct | string replace -r -- '^--hashes=' '')
    set -l prefix (string match -r -- '^.*,' "$tok")
    set -l have (string split , -- "$prefix")
    test -z "$prefix"; and echo none
    for h in blake2b blake2s md5 sha1 sha224 sha256 sha384 sha512 sha3_224 sha3_256 sha3_384 sha3_512 \
        xxh128 xxh32 xxh3_128 xxh3_64 xxh64
        contains -- $h $have; or echo "$prefix$h"
    end
end

complete -c shard-convert -s o -l output -x -a '- (__fish_complete_directories)' -d 'Dataset directory, or - for a shard stream on stdout'
complete -c shard-convert -s s -l schema -x -a '(__shard_convert_schema)' -d 'Columns as NAME:TYPE,...'
complete -c shard-convert -l schema-from -r -F -d 'Schema from Spark: DDL, df.schema.json() or a file'
complete -c shard-convert -l pack -x -a '(__shard_convert_pack)' -d 'Columns NAME=COL,...:DTYPE as one ndarray column'
complete -c shard-convert -s H -l header -d 'Every input file starts with a header line'
complete -c shard-convert -s f -l format -x -a 'csv\t"Comma-separated values (default)" tsv\t"Tab-separated values" jsonl\t"JSON Lines"' -d 'Input format'
complete -c shard-convert -l delimiter -x -a 'tab ,' -d 'Field delimiter'
complete -c shard-convert -l quote -x -d 'Quote character (empty: none)'
complete -c shard-convert -l escape -x -d 'Escape character inside quotes (empty: none)'
complete -c shard-convert -l null -x -d 'Unquoted text that means null'
complete -c shard-convert -s c -l compression -x -a 'zstd gz bz2 br snappy none' -d 'Shard compression[:LEVEL]'
complete -c shard-convert -l hashes -x -a '(__shard_convert_hashes)' -d 'Shard hashes, sorted'
complete -c shard-convert -l size-limit -x -d 'Bytes per shard before compression'
complete -c shard-convert -l samples-per-shard -x -d 'At most N samples per shard'
complete -c shard-convert -l on-error -x -a 'fail\t"Stop with exit status 1 (default)" skip\t"Leave it out, into --rejects"' -d 'What a bad row does'
complete -c shard-convert -l rejects -r -F -d 'File for rejected rows'
complete -c shard-convert -l fill -x -d 'COL=VALUE for nulls in COL'
complete -c shard-convert -l no-nulls -d 'No column keeps nulls'
complete -c shard-convert -l type -x -d 'COL=TYPE: another type for COL'
complete -c shard-convert -l select -x -d 'Write only these columns'
complete -c shard-convert -l rename -x -d 'COL=NAME: write COL as NAME'
complete -c shard-convert -l case-sensitive -d 'Header names and JSON keys match exactly'
complete -c shard-convert -l overwrite -d 'Replace a dataset already in DEST'
complete -c shard-convert -l timezone -x -a '(__shard_convert_timezones)' -d 'Zone of timestamps without an offset (default UTC)'
complete -c shard-convert -l json -d 'Summary as JSON'
complete -c shard-convert -l entries -d 'For RDD.pipe(): part directory, index entries on stdout'
complete -c shard-convert -l no-sync -d 'Do not flush the shards and index.json to disk (scratch data)'
complete -c shard-convert -s q -l quiet -d 'No summary'
complete -c shard-convert -s h -l help -d 'Show help'
complete -c shard-convert -s V -l version -d 'Show the version'

# INPUT: a file or a Spark export directory (file completion), or - for
# standard input
complete -c shard-convert -a - -d 'Standard input'
