#!/usr/bin/env bats
# Man pages lint clean and document every option the programs accept.

load helpers

@test "man pages lint clean" {
	command -v mandoc >/dev/null || skip "mandoc not installed"
	for p in "$SRC"/man/*.[15]; do
		run mandoc -Tlint -W warning "$p"
		assert_success
	done
}

@test "every long option is documented in its page" {
	for prog in shard-index shard-cat shard-convert shard-shuffle shard-gpu-bench; do
		# a program missing from PATH must fail, not list no options
		opts=$("$prog" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u) && [ -n "$opts" ] ||
			{ echo "$prog --help lists no options"; false; }
		for o in $opts; do
			grep -qE -- "(Fl |\\\\-)-?${o#--}|Fl -${o#--}" "$SRC/man/$prog.1" || { echo "$prog.1 lacks $o"; false; }
		done
	done
}
