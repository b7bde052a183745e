#!/usr/bin/env bats
# Completions cannot drift: every long option a program's --help lists must be
# offered by its bash, zsh and fish completions, and each file must parse.

load helpers

long_opts() { "$1" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u; }

check_prog() {
	prog=$1
	# a program missing from PATH must fail, not list no options
	opts=$(long_opts "$prog") && [ -n "$opts" ] || { echo "$prog --help lists no options"; return 1; }
	for f in "$SRC/completions/$prog.bash" "$SRC/completions/_$prog" "$SRC/completions/$prog.fish"; do
		[ -f "$f" ] || { echo "missing $f"; return 1; }
		for o in $opts; do
			case $f in
			*.fish) grep -qE -- "-l ${o#--}( |$)" "$f" || { echo "$f lacks $o"; return 1; } ;;
			*) grep -qF -- "$o" "$f" || { echo "$f lacks $o"; return 1; } ;;
			esac
		done
	done
}

@test "shard-index completions offer every option" {
	run check_prog shard-index
	assert_success
}

@test "shard-cat completions offer every option" {
	run check_prog shard-cat
	assert_success
}

@test "shard-convert completions offer every option" {
	run check_prog shard-convert
	assert_success
}

@test "shard-shuffle completions offer every option" {
	run check_prog shard-shuffle
	assert_success
}

@test "shard-gpu-bench completions offer every option" {
	run check_prog shard-gpu-bench
	assert_success
}

@test "bash completions load and complete" {
	run bash -c 'source "$1/completions/shard-index.bash" && COMP_WORDS=(shard-index ver) COMP_CWORD=1 && _shard_index && printf "%s\n" "${COMPREPLY[@]}"' _ "$SRC"
	assert_success
	assert_output "verify"
}

# complete LINE: shard-convert's bash completions for LINE, one a line; the
# words are split at ":" and "=" as bash's default COMP_WORDBREAKS does.
convert_complete() {
	bash -c '
		source "$1/completions/shard-convert.bash"
		COMP_LINE=$2 COMP_POINT=${#2}
		read -ra COMP_WORDS <<<"$(printf %s "$2" | sed "s/\([:=]\)/ \1 /g")"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_shard_convert && printf "%s\n" "${COMPREPLY[@]}"' _ "$SRC" "$1"
}

@test "shard-convert bash completions complete option values" {
	run convert_complete "shard-convert --on-error "
	assert_success
	assert_output $'fail\nskip'
	run convert_complete "shard-convert --format=j"
	assert_output "jsonl"
	run convert_complete "shard-convert -s id:int64,x:ndarray:float6"
	assert_output "float64"
	run convert_complete "shard-convert --hashes xxh64,sha3_5"
	assert_output "xxh64,sha3_512"
	run convert_complete "shard-convert -c b"
	assert_output $'bz2\nbr'
	run convert_complete "shard-convert --sch"
	assert_output $'--schema\n--schema-from'
	run convert_complete "shard-convert --timezone America/New_Y"
	assert_output "America/New_York"
	run convert_complete "shard-convert --timezone=Europe/Dubl"
	assert_output "Europe/Dublin"
	run convert_complete "shard-convert --timezone Australi"
	assert_output "Australia/"
	run convert_complete "shard-convert -s ts:timestamp_"
	assert_output "timestamp_ntz"
}

@test "fish completes --timezone with the zoneinfo's names, not its data files" {
	command -v fish >/dev/null || skip "fish not installed"
	run fish -c "source $SRC/completions/shard-convert.fish; __shard_convert_timezones"
	assert_success
	assert_line UTC
	assert_line America/New_York
	refute_line --partial posix/
	refute_line --partial .tab
	refute_line posixrules
}

@test "zsh and fish completion files parse" {
	command -v zsh >/dev/null || skip "zsh not installed"
	for f in "$SRC"/completions/_shard-*; do zsh -n "$f"; done
	command -v fish >/dev/null || skip "fish not installed"
	for f in "$SRC"/completions/*.fish; do fish -n "$f"; done
}
