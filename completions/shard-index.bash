# bash completion for shard-index(1): subcommands, each one's options,
# hash names for --hashes, and directories for DIR and --output.

_shard_index_hashes='blake2b blake2s md5 sha1 sha224 sha256 sha384 sha512
sha3_224 sha3_256 sha3_384 sha3_512 xxh128 xxh32 xxh3_128 xxh3_64 xxh64'

# Complete directories into COMPREPLY.
_shard_index_dirs()
{
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null
	COMPREPLY+=($(compgen -d -- "$1"))
}

# Complete the last element of a comma-separated list of hash names.
_shard_index_hash_list()
{
	local cur=$1 prefix= last=$1
	if [[ $cur == *,* ]]; then
		prefix=${cur%,*},
		last=${cur##*,}
	fi
	local h
	for h in $_shard_index_hashes; do
		# leave out names already in the list
		[[ ,$prefix == *,"$h",* ]] && continue
		[[ $h == "$last"* ]] && COMPREPLY+=("$prefix$h")
	done
	compopt -o nospace 2>/dev/null
}

_shard_index()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W 'create merge verify info prune -h --help -V --version' -- "$cur"))
		return 0
	fi

	local sub=${COMP_WORDS[1]} opts
	case $sub in
	create) opts='-q --quiet --force --no-sync --hashes --help' ;;
	merge) opts='-o --output --no-sync -q --quiet --help' ;;
	verify) opts='--json -q --quiet --strict --expect-schema --expect-samples --max-problems --help' ;;
	info) opts='--json --help' ;;
	prune) opts='-n --dry-run -q --quiet --help' ;;
	*) return 0 ;;
	esac

	# An option's value: "-o VAL", "--output VAL", and "--output=VAL", which
	# bash splits into "--output" "=" "VAL" when COMP_WORDBREAKS holds "=".
	local opt= val= joined=
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		val=${cur#*=}
		joined=1
	elif [[ $cur == = && $prev == --* ]]; then
		opt=$prev
	elif [[ $prev == = ]] && ((COMP_CWORD >= 3)); then
		opt=${COMP_WORDS[COMP_CWORD - 2]}
		val=$cur
	elif [[ $prev == -* ]]; then
		opt=$prev
		val=$cur
	fi
	case $opt in
	--hashes)
		_shard_index_hash_list "$val"
		;;
	-o | --output)
		_shard_index_dirs "$val"
		;;
	--max-problems | --expect-schema | --expect-samples) ;;
	*) opt= ;;
	esac
	if [[ -n $opt ]]; then
		[[ -n $joined ]] && COMPREPLY=("${COMPREPLY[@]/#/$opt=}")
		return 0
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return 0
	fi

	# DIR; merge -o DIR also takes '-' (index entries on standard input)
	if [[ $sub == merge ]]; then
		local w
		for w in "${COMP_WORDS[@]:2:COMP_CWORD-2}"; do
			if [[ $w == -o || $w == --output || $w == --output=* ]]; then
				[[ - == "$cur"* ]] && COMPREPLY+=(-)
				break
			fi
		done
	fi
	_shard_index_dirs "$cur"
	return 0
}

complete -F _shard_index shard-index
