# fish completion for shard-cat(1): options, formats, column names of the
# dataset already on the command line, and inputs (datasets, shards, -).

# Column names of the first dataset directory on the command line, for the
# last element of a comma-separated list; names already listed are left out.
function __shard_cat_columns
    set -l tok (commandline -ct | string replace -r -- '^--columns=' '')
    set -l prefix (string match -r -- '^.*,' "$tok")
    set -l have (string split , -- "$prefix")
    for w in (commandline -opc)[2..-1]
        if not string match -q -- '-*' $w; and test -f $w/index.json
            for c in (shard-index info $w 2>/dev/null | sed -n '/^columns:/,$s/^  \([^ ][^ ]*\) .*/\1/p')
                contains -- $c $have; or echo "$prefix$c"
            end
            return
        end
    end
end

complete -c shard-cat -s o -l output -x -a '- (__fish_complete_directories)' -d 'Copy shards: - for a stream on stdout, else a dataset directory'
complete -c shard-cat -s f -l format -x -a 'jsonl csv tsv' -d 'Text output format'
complete -c shard-cat -s c -l columns -x -a '(__shard_cat_columns)' -d 'Only these columns, in this order'
complete -c shard-cat -s r -l range -x -d 'Samples A (inclusive) to B (exclusive): A:B'
complete -c shard-cat -l no-header -d 'No header line in csv/tsv output'
complete -c shard-cat -l raw -d 'Stored columns: logical types as numbers, validity columns'
complete -c shard-cat -l rfc4180 -d 'CSV with doubled quotes, not backslash escapes'
complete -c shard-cat -l no-verify -d 'Do not check shard hashes'
complete -c shard-cat -l force -d 'Write a binary stream even to a terminal'
complete -c shard-cat -l no-sync -d 'Do not flush the shards and index.json to disk (scratch data)'
complete -c shard-cat -l in-flight -x -d 'Remote datasets: shards fetched at once (default 4)'
complete -c shard-cat -l read-ahead -x -d 'Remote datasets: the most bytes fetched ahead (256M)'
complete -c shard-cat -l cache -x -a '(__fish_complete_directories)' -d 'Keep fetched shards in this directory'
complete -c shard-cat -l cache-size -x -d 'The cache limit, least recently used out first (10G)'
complete -c shard-cat -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c shard-cat -s h -l help -d 'Show help'
complete -c shard-cat -s V -l version -d 'Show the version'

# INPUT: a dataset directory, an index.json or shard file (file completion),
# or - for a shard stream on standard input
complete -c shard-cat -a - -d 'Shard stream on standard input'
