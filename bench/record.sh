# Sourced by the bench scripts: record KEY VALUE appends one measurement to the file
# named by BENCH_RECORD (bench/all.sh sets it; bench/figures.py reads the result).
# Keys are SCRIPT.RUN.WHAT: seconds (.s), peak RSS in KiB (.rss), counts and bytes.
record() {
	[ -z "${BENCH_RECORD:-}" ] || printf '%s\t%s\n' "$1" "$2" >> "$BENCH_RECORD"
}
