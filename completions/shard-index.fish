# fish completion for shard-index(1): subcommands, each one's options, hash
# names for --hashes, and directories for DIR and --output.

set -l subcommands create merge verify info prune

# Hash names for the last element of a comma-separated --hashes list; names
# already listed are left out.
function __shard_index_hashes
    set -l tok (commandline -ct | string replace -r -- '^--hashes=' '')
    set -l prefix (string match -r -- '^.*,' "$tok")
    set -l have (string split , -- "$prefix")
    for h in blake2b blake2s md5 sha1 sha224 sha256 sha384 sha512 \
            sha3_224 sha3_256 sha3_384 sha3_512 xxh128 xxh32 xxh3_128 xxh3_64 xxh64
        contains -- $h $have; or echo "$prefix$h"
    end
end

complete -c shard-index -f

complete -c shard-index -n "not __fish_seen_subcommand_from $subcommands" -a create -d 'Write DIR/index.json for the shard files in DIR'
complete -c shard-index -n "not __fish_seen_subcommand_from $subcommands" -a merge -d 'Join the index.json files below DIR into one'
complete -c shard-index -n "not __fish_seen_subcommand_from $subcommands" -a verify -d 'Check every byte of a dataset'
complete -c shard-index -n "not __fish_seen_subcommand_from $subcommands" -a info -d 'Samples, shards, bytes and columns of a dataset'
complete -c shard-index -n "not __fish_seen_subcommand_from $subcommands" -a prune -d 'Remove the files index.json does not reference'
complete -c shard-index -n "not __fish_seen_subcommand_from $subcommands" -s V -l version -d 'Show the version'
complete -c shard-index -s h -l help -d 'Show help'

complete -c shard-index -n "__fish_seen_subcommand_from create merge verify prune" -s q -l quiet -d 'Print nothing on success'
complete -c shard-index -n "__fish_seen_subcommand_from create" -l force -d 'Replace an existing index.json'
complete -c shard-index -n "__fish_seen_subcommand_from create merge" -l no-sync -d 'Do not flush the shards and index.json to disk (scratch data)'
complete -c shard-index -n "__fish_seen_subcommand_from create" -l hashes -x -a '(__shard_index_hashes)' -d 'Hashes to record (ALGO,...)'
complete -c shard-index -n "__fish_seen_subcommand_from merge" -s o -l output -x -a '(__fish_complete_directories)' -d 'Directory to write index.json in'
complete -c shard-index -n "__fish_seen_subcommand_from verify info" -l json -d 'Print JSON'
complete -c shard-index -n "__fish_seen_subcommand_from verify" -l max-problems -x -d 'Stop after N problems (default 100)'
complete -c shard-index -n "__fish_seen_subcommand_from verify" -l strict -d 'Unreferenced files are problems, not warnings'
complete -c shard-index -n "__fish_seen_subcommand_from verify" -l expect-schema -x -d 'Columns expected (NAME:TYPE[?],...)'
complete -c shard-index -n "__fish_seen_subcommand_from verify" -l expect-samples -x -d 'Number of samples expected'
complete -c shard-index -n "__fish_seen_subcommand_from prune" -s n -l dry-run -d 'Print what would be removed, remove nothing'

# DIR; merge -o DIR - reads index entries on standard input
complete -c shard-index -n "__fish_seen_subcommand_from $subcommands" -a '(__fish_complete_directories)'
complete -c shard-index -n "__fish_seen_subcommand_from merge; and __fish_contains_opt -s o output" -a - -d 'Index entries on standard input'
