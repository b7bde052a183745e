# bash completion for shard-shuffle(1): options, their values, and the input.

_shard_shuffle()
{
	local cur prev
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-o|--output|--tmpdir)
		COMPREPLY=($(compgen -d -- "$cur"))
		[ "$prev" = --tmpdir ] || COMPREPLY+=($(compgen -W '-' -- "$cur"))
		return ;;
	-c|--compression)
		COMPREPLY=($(compgen -W 'zstd gz bz2 br snappy none' -- "$cur"))
		return ;;
	--hashes)
		COMPREPLY=($(compgen -W 'xxh64 xxh3_64 xxh128 xxh32 md5 sha1 sha256 sha512 blake2b blake2s none' -- "$cur"))
		return ;;
	--seed|--epoch|--rank|--world|--batch|--skip|--buffer|--memory|--size-limit)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '-o --output --seed --epoch --rank --world --batch --pad --skip --block
			--buffer --memory --tmpdir -c --compression --hashes --size-limit --no-sync -q --quiet -h --help
			-V --version' -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -d -- "$cur") $(compgen -W '-' -- "$cur"))
}
complete -o filenames -F _shard_shuffle shard-shuffle
