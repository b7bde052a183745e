#!/usr/bin/env bats
# Completions cannot drift: every long option a program's --help lists must be
# offered by its bash, zsh and fish completions, and each file must parse.

load helpers

long_opts() { "$1" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u; }

check_prog() {
	prog=$1
	for f in "$SRC/completions/$prog.bash" "$SRC/completions/_$prog" "$SRC/completions/$prog.fish"; do
		[ -f "$f" ] || { echo "missing $f"; return 1; }
		for o in $(long_opts "$prog"); do
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

@test "bash completions load and complete" {
	run bash -c 'source "$1/completions/shard-index.bash" && COMP_WORDS=(shard-index ver) COMP_CWORD=1 && _shard_index && printf "%s\n" "${COMPREPLY[@]}"' _ "$SRC"
	assert_success
	assert_output "verify"
}

@test "zsh and fish completion files parse" {
	command -v zsh >/dev/null || skip "zsh not installed"
	for f in "$SRC"/completions/_shard-*; do zsh -n "$f"; done
	command -v fish >/dev/null || skip "fish not installed"
	for f in "$SRC"/completions/*.fish; do fish -n "$f"; done
}
