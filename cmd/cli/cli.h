/* Front-end helpers for the shard-* programs: messages on stderr, buffered
 * stdout that ends quietly on a closed pipe, option-value parsing, and a
 * progress line on a terminal. */
#ifndef SHARD_CLI_H
#define SHARD_CLI_H

#include <stdint.h>
#include "shard.h"

/* Exit statuses shared by every program (see each man page). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_UNSOUND = 3 };

extern const char *cli_prog;

void cli_init(const char *argv0);
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: msg" and exit with status. */
void cli_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* Print an error object; a broken pipe exits 0 quietly. */
void cli_die_err(const struct shard_error *err) __attribute__((noreturn));
void cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void cli_version(void) __attribute__((noreturn));

/* "a,b,c" into a NULL-terminated list (caller frees list[0] and list). */
char **cli_split(const char *s, size_t *n);
int cli_parse_u64(const char *s, uint64_t *out);

/* Seconds on the monotonic clock, for timings and the progress line. */
double cli_now(void);

/* Buffered stdout. */
void cli_out(const void *p, size_t n);
void cli_out_str(const char *s);
void cli_out_flush(void);

/* One line on stderr, rewritten in place while long work runs: counts, bytes
 * read, elapsed time and rate. Shown only when stderr is a terminal; drawn at
 * the first look at the clock, then at most four times a second; cleared by
 * cli_progress_end and before any message. */
struct cli_progress {
	const char *what;	/* what n counts: "rows", "samples" */
	uint64_t shards, n, bytes;	/* shards shown only once any are counted */
	uint64_t every, n_next;	/* counts between looks at the clock */
	double t0, next;	/* monotonic seconds: the start, the next redraw */
	int on, width, len;	/* terminal columns, length of the line drawn */
};

/* want: 0 when the program is quiet or its summary goes to stderr. */
void cli_progress_begin(struct cli_progress *p, const char *what, uint64_t every, int want);
void cli_progress_poll(struct cli_progress *p);
void cli_progress_end(struct cli_progress *p);

/* Count work done. Bytes come with coarse work (a chunk, a shard) and look at
 * the clock at once; counts alone look every p->every, so a call per sample
 * costs an add and a compare. */
static inline void cli_progress_add(struct cli_progress *p, uint64_t shards, uint64_t n, uint64_t bytes)
{
	p->shards += shards;
	p->n += n;
	p->bytes += bytes;
	if (p->on && (bytes || shards || p->n >= p->n_next))
		cli_progress_poll(p);
}

/* Signals: on SIGINT, SIGTERM or SIGHUP (unless ignored when the program
 * started) the cleanups registered run, newest first, on a thread of their
 * own, and the program ends by the signal (the shell sees 128+N). A cleanup
 * runs while other threads go on: it must leave alone what they hold, take
 * the locks it needs and keep them. cli_signals_hold/release bracket a
 * change a cleanup must see whole or not at all (a file created and
 * registered); a signal meanwhile waits for the release. */
void cli_on_signal(void (*fn)(void *ctx), void *ctx);
void cli_signals_hold(void);
void cli_signals_release(void);
/* A sink whose files a signal removes (shard_sink_kill), and closing or
 * abandoning it: a signal finds it either whole, or gone. */
void cli_guard_sink(struct shard_sink *s);
int cli_sink_close(struct shard_sink *s, struct shard_error *err);
void cli_sink_abort(struct shard_sink *s);

/* --overwrite: the dataset in DIR gives way to the one being written. Begin
 * removes DIR/index.json, so that what is there never again looks whole;
 * with part (shard-convert --entries, whose tasks share DIR) nothing else.
 * End, after the new index.json is in place, removes the old dataset's files
 * that the new one does not name. A run that fails leaves them unreferenced,
 * for shard-index prune. */
struct cli_overwrite {
	const char *dir;
	int part;
	struct shard_index old;
};
void cli_overwrite_begin(struct cli_overwrite *o, const char *dir, int part);
void cli_overwrite_end(struct cli_overwrite *o);

#endif
