# bash completion for shard-convert(1): options, their values, and inputs.

_shard_convert()
{
	local cur prev
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-o|--output)
		COMPREPLY=($(compgen -d -- "$cur") $(compgen -W '-' -- "$cur"))
		return ;;
	-f|--format)
		COMPREPLY=($(compgen -W 'csv tsv jsonl' -- "$cur"))
		return ;;
	-c|--compression)
		COMPREPLY=($(compgen -W 'zstd gz bz2 br snappy none' -- "$cur"))
		return ;;
	--hashes)
		COMPREPLY=($(compgen -W 'xxh64 xxh3_64 xxh128 xxh32 md5 sha1 sha256 sha512 blake2b blake2s none' -- "$cur"))
		return ;;
	--on-error)
		COMPREPLY=($(compgen -W 'fail skip' -- "$cur"))
		return ;;
	--rejects|--schema-from)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	-s|--schema|--pack|--delimiter|--quote|--escape|--null|--size-limit|--samples-per-shard|--fill)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '-o --output -s --schema --schema-from --pack -H --header -f --format --delimiter --quote
			--escape --null -c --compression --hashes --size-limit --samples-per-shard --on-error
			--rejects --fill --json --entries -q --quiet -h --help -V --version' -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _shard_convert shard-convert
