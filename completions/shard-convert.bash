# bash completion for shard-convert(1): options, their values (formats,
# policies, codecs, hashes, column types, time zones), and inputs (files, Spark export
# directories, - for stdin).

_shard_convert()
{
	local IFS=$'\n'
	local line cur prev w
	local -a words
	COMPREPLY=()

	# The words up to the cursor split at blanks only: bash also splits at
	# ":" and "=" (COMP_WORDBREAKS), which would cut "id:int64,x:float32" and
	# "--format=csv" apart.
	line=${COMP_LINE-}
	line=${line:0:${COMP_POINT:-${#line}}}
	if [[ -n $line ]]; then
		IFS=$' \t\n' read -ra words <<<"$line"
		[[ $line == *[[:blank:]] ]] && words+=("")
	else
		words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
	fi
	cur=${words[${#words[@]} - 1]}
	prev=
	((${#words[@]} > 1)) && prev=${words[${#words[@]} - 2]}

	local types=$'int8\nint16\nint32\nint64\nuint8\nuint16\nuint32\nuint64\nint\nfloat16\nfloat32\nfloat64\nstr\nbytes\njson\nstr_int\nstr_float\nstr_decimal\nbool\ndate\ntimestamp\ntimestamp_ntz\nndarray:'
	local dtypes=$'int8\nint16\nint32\nint64\nuint8\nuint16\nuint32\nuint64\nfloat16\nfloat32\nfloat64'
	local hashes=$'blake2b\nblake2s\nmd5\nsha1\nsha224\nsha256\nsha384\nsha512\nsha3_224\nsha3_256\nsha3_384\nsha3_512\nxxh128\nxxh32\nxxh3_128\nxxh3_64\nxxh64'

	# An option's value: "-f VAL", "--format VAL" or "--format=VAL".
	local opt= val= pre=
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		val=${cur#*=}
		pre=$opt=
	elif [[ $prev == -?* ]]; then
		opt=$prev
		val=$cur
	fi

	local prefix last
	case $opt in
	-o | --output)
		[[ - == "$val"* ]] && COMPREPLY=(-)
		compopt -o filenames 2>/dev/null
		COMPREPLY+=($(compgen -d -- "$val"))
		;;
	-f | --format)
		COMPREPLY=($(compgen -W $'csv\ntsv\njsonl' -- "$val"))
		;;
	-c | --compression)
		COMPREPLY=($(compgen -W $'zstd\ngz\nbz2\nbr\nsnappy\nnone' -- "$val"))
		;;
	--hashes)
		# a comma-separated list: its last element, leaving out names
		# already listed
		prefix= last=$val
		if [[ $val == *,* ]]; then
			prefix=${val%,*},
			last=${val##*,}
			for w in $hashes; do
				[[ ,$prefix == *,"$w",* ]] && continue
				[[ $w == "$last"* ]] && COMPREPLY+=("$prefix$w")
			done
		else
			COMPREPLY=($(compgen -W "none"$'\n'"$hashes" -- "$last"))
		fi
		compopt -o nospace 2>/dev/null
		;;
	--on-error)
		COMPREPLY=($(compgen -W $'fail\nskip' -- "$val"))
		;;
	--rejects | --schema-from)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$val"))
		;;
	-s | --schema)
		# NAME:TYPE,...: after a column's colon, the types, and after
		# "ndarray:", the dtypes
		last=${val##*,}
		if [[ $last == *:ndarray:* ]]; then
			prefix=${val%"$last"}${last%%:*}:ndarray:
			for w in $dtypes; do
				[[ $w == "${last#*:ndarray:}"* ]] && COMPREPLY+=("$prefix$w")
			done
		elif [[ $last == *:* ]]; then
			prefix=${val%"$last"}${last%%:*}:
			for w in $types; do
				[[ $w == "${last#*:}"* ]] && COMPREPLY+=("$prefix$w")
			done
		fi
		compopt -o nospace 2>/dev/null
		;;
	--pack)
		# NAME=COL,...:DTYPE: after the colon, the dtypes
		if [[ $val == *=*:* ]]; then
			prefix=${val%:*}:
			for w in $dtypes; do
				[[ $w == "${val##*:}"* ]] && COMPREPLY+=("$prefix$w")
			done
		fi
		;;
	--delimiter)
		COMPREPLY=($(compgen -W $'tab\n,' -- "$val"))
		;;
	--timezone)
		# UTC, or an IANA name from the zoneinfo directory, a folder at a
		# time (its data files, and the posix/ and right/ copies, left out)
		local zdir=${TZDIR:-/usr/share/zoneinfo}
		COMPREPLY=($(compgen -W $'UTC' -- "$val"))
		if [[ -d $zdir ]]; then
			for w in $(cd "$zdir" && compgen -f -- "$val"); do
				[[ ${w##*/} == [[:upper:]]* && ${w##*/} != *.* ]] || continue
				if [[ -d $zdir/$w ]]; then
					COMPREPLY+=("$w/")
					compopt -o nospace 2>/dev/null
				elif [[ $w != UTC ]]; then
					COMPREPLY+=("$w")
				fi
			done
		fi
		;;
	--quote | --escape | --null | --size-limit | --samples-per-shard | --fill | --type | --select | --rename)
		;;
	*)
		opt=
		;;
	esac
	if [[ -n $opt ]]; then
		[[ -n $pre ]] && COMPREPLY=("${COMPREPLY[@]/#/$pre}")
	elif [[ $cur == -?* ]]; then
		COMPREPLY=($(compgen -W $'-o\n--output\n-s\n--schema\n--schema-from\n--pack\n-H\n--header\n-f\n--format\n--delimiter\n--quote\n--escape\n--null\n-c\n--compression\n--hashes\n--size-limit\n--samples-per-shard\n--on-error\n--rejects\n--fill\n--no-nulls\n--type\n--select\n--rename\n--case-sensitive\n--overwrite\n--timezone\n--json\n--entries\n--no-sync\n-q\n--quiet\n-h\n--help\n-V\n--version' -- "$cur"))
	else
		# INPUT: a file, a Spark export directory, or - (stdin)
		[[ - == "$cur"* ]] && COMPREPLY=(-)
		compopt -o filenames 2>/dev/null
		COMPREPLY+=($(compgen -f -- "$cur"))
	fi

	# bash replaces only the text after the word's last ":" or "=": drop
	# what comes before it from each completion
	w=${COMP_WORDS[COMP_CWORD]-}
	if [[ $cur != "$w" && $cur == *"$w" ]]; then
		prefix=${cur%"$w"}
		COMPREPLY=("${COMPREPLY[@]#"$prefix"}")
	fi
	return 0
}

complete -F _shard_convert shard-convert
