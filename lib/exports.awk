# The names libshard exports: every function and object lib/shard.h declares,
# read from the header after the preprocessor (comments and macros gone;
# line markers say which file a line comes from). Only lines of shard.h
# itself count, and only declarations at file scope, outside struct and enum
# bodies: the identifier before a declaration's first parenthesis (a
# function), or the last identifier of an extern declaration (an object).
# Typedefs declare no symbol.
/^# [0-9]+ "/ {
	f = $3
	gsub(/"/, "", f)
	own = f ~ /(^|\/)shard\.h$/
	next
}
!own { next }
{
	line = $0
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (c == "{") {
			depth++
		} else if (c == "}") {
			depth--
		} else if (c == ";" && depth == 0) {
			decl(stmt)
			stmt = ""
		} else if (depth == 0) {
			stmt = stmt c
		}
		if (c == "}" && depth == 0)
			stmt = stmt " "
	}
	stmt = stmt " "
}
function decl(s,    name) {
	if (s ~ /^[ \t]*typedef[ \t]/)
		return
	if (index(s, "(")) {
		s = substr(s, 1, index(s, "(") - 1)
	} else if (s !~ /^[ \t]*extern[ \t]/) {
		return
	} else {
		sub(/[ \t]*\[[^]]*\][ \t]*$/, "", s)
	}
	sub(/[ \t]+$/, "", s)
	if (match(s, /[A-Za-z_][A-Za-z0-9_]*$/)) {
		name = substr(s, RSTART, RLENGTH)
		print name
	}
}
