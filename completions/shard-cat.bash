# bash completion for shard-cat(1): options, formats, column names of the
# dataset already on the command line, and inputs (datasets, shards, -).

# Column names of the first dataset directory among the words, one a line.
_shard_cat_columns()
{
	local w
	for w in "$@"; do
		if [[ $w != -* && -f $w/index.json ]]; then
			shard-index info "$w" 2>/dev/null |
				sed -n '/^columns:/,$s/^  \([^ ][^ ]*\) .*/\1/p'
			return
		fi
	done
}

_shard_cat()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	local IFS=$'\n'
	COMPREPLY=()

	# An option's value: "-f VAL", "--format VAL", and "--format=VAL", which
	# bash splits into "--format" "=" "VAL" when COMP_WORDBREAKS holds "=".
	local opt= val= joined=
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		val=${cur#*=}
		joined=1
	elif [[ $cur == = && $prev == --* ]]; then
		opt=$prev
	elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
		opt=${COMP_WORDS[COMP_CWORD - 2]}
		val=$cur
	elif [[ $prev == -* ]]; then
		opt=$prev
		val=$cur
	fi

	case $opt in
	-f | --format)
		COMPREPLY=($(compgen -W $'jsonl\ncsv\ntsv' -- "$val"))
		;;
	-o | --output)
		[[ - == "$val"* ]] && COMPREPLY=(-)
		compopt -o filenames 2>/dev/null
		COMPREPLY+=($(compgen -d -- "$val"))
		;;
	-c | --columns)
		local prefix= last=$val c
		if [[ $val == *,* ]]; then
			prefix=${val%,*},
			last=${val##*,}
		fi
		for c in $(_shard_cat_columns "${COMP_WORDS[@]:1}"); do
			# leave out names already in the list
			[[ ,$prefix == *,"$c",* ]] && continue
			[[ $c == "$last"* ]] && COMPREPLY+=("$prefix$c")
		done
		compopt -o nospace 2>/dev/null
		;;
	-r | --range | --in-flight | --read-ahead | --cache-size)
		;;
	--cache)
		COMPREPLY=($(compgen -d -- "$val"))
		;;
	*)
		opt=
		;;
	esac
	if [[ -n $opt ]]; then
		[[ -n $joined ]] && COMPREPLY=("${COMPREPLY[@]/#/$opt=}")
		return 0
	fi

	if [[ $cur == -?* ]]; then
		COMPREPLY=($(compgen -W $'-o\n--output\n-f\n--format\n-c\n--columns\n-r\n--range\n--no-header\n--rfc4180\n--raw\n--no-verify\n--force\n--no-sync\n--in-flight\n--read-ahead\n--cache\n--cache-size\n-q\n--quiet\n-h\n--help\n-V\n--version' -- "$cur"))
		return 0
	fi

	# INPUT: a dataset directory, an index.json, a shard file, or - (stdin)
	[[ - == "$cur"* ]] && COMPREPLY=(-)
	compopt -o filenames 2>/dev/null
	COMPREPLY+=($(compgen -d -- "$cur"))
	COMPREPLY+=($(compgen -f -X '!*.mds' -- "$cur"))
	COMPREPLY+=($(compgen -f -X '!*.mds.*' -- "$cur"))
	COMPREPLY+=($(compgen -f -X '!*index.json' -- "$cur"))
	return 0
}

complete -F _shard_cat shard-cat
