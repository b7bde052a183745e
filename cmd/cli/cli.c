/* Front-end helpers for the shard-* programs: one place for message format,
 * exit statuses, the quiet exit on a broken pipe and the progress line. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "shard";
static struct shard_buf out;
static struct cli_progress *active;	/* the line on the terminal, if any */

/* Blank the progress line, so what comes next starts on a clean line; it is
 * drawn again at its next redraw. */
static void progress_clear(void)
{
	if (active && active->len) {
		fprintf(stderr, "\r%*s\r", active->len, "");
		active->len = 0;
	}
}

void cli_init(const char *argv0)
{
	const char *s = strrchr(argv0, '/');
	cli_prog = s ? s + 1 : argv0;
	/* a closed pipe becomes EPIPE on write, handled as a quiet exit */
	signal(SIGPIPE, SIG_IGN);
}

/* text with the user and password of every URL in it hidden (see
 * shard_url_redact), into out: a message may quote an argument as it was
 * given. A URL runs from its scheme to the next space, control character or
 * double quote. */
static void redact_text(const char *text, char *out, size_t n)
{
	const char *p = text, *sep;
	struct shard_buf b = {0};

	while ((sep = strstr(p, "://"))) {
		const char *start = sep, *end = sep + 3;
		char url[2048], shown[2048];
		while (start > p && (isalnum((unsigned char)start[-1]) || strchr("+-.", start[-1])))
			start--;
		while (*end && !isspace((unsigned char)*end) && !iscntrl((unsigned char)*end) && *end != '"')
			end++;
		snprintf(url, sizeof url, "%.*s", (int)(end - start), start);
		shard_buf_append(&b, p, (size_t)(start - p));
		shard_buf_printf(&b, "%s", shard_url_redact(url, shown, sizeof shown));
		p = end;
	}
	snprintf(out, n, "%.*s%s", (int)b.len, b.p ? (const char *)b.p : "", p);
	shard_buf_free(&b);
}

static void vmsg(const char *fmt, va_list ap)
{
	char buf[2048], shown[2048];
	vsnprintf(buf, sizeof buf, fmt, ap);
	redact_text(buf, shown, sizeof shown);
	progress_clear();
	fprintf(stderr, "%s: %s\n", cli_prog, shown);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

static void abort_outputs(void);

/* The one way out on failure: the outputs still open (cli_on_signal's
 * cleanups, the same a signal runs) are abandoned, so that nothing half
 * written is left to look whole, then the process exits. It ends at once
 * (_exit, after flushing stdio): the library's threads (a remote dataset's
 * transfers, uploads) may still be running, and the exit handlers of the
 * libraries under them (OpenSSL's cleanup) would pull their state away
 * under them. */
static void __attribute__((noreturn)) die_now(int status)
{
	abort_outputs();
	fflush(NULL);
	_exit(status);
}

void cli_die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	die_now(status);
}

void cli_die_err(const struct shard_error *err)
{
	if (err->status == SHARD_EPIPE) {
		progress_clear();
		abort_outputs();
		_exit(0);
	}
	if (err->status == SHARD_EARG)
		cli_die(CLI_USAGE, "%s", err->msg);
	cli_die(CLI_FAIL, "%s", err->msg);
}

void cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s", usage);
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
	die_now(CLI_USAGE);
}

void cli_version(void)
{
	printf("%s (shardkit) %s\n", cli_prog, PACKAGE_VERSION);
	exit(0);
}

char **cli_split(const char *s, size_t *n)
{
	size_t k = 1, i;
	char *copy = strdup(s), **list;
	const char *p;
	if (!copy)
		cli_die(CLI_FAIL, "out of memory");
	for (p = s; *p; p++)
		k += *p == ',';
	list = calloc(k + 1, sizeof *list);
	if (!list)
		cli_die(CLI_FAIL, "out of memory");
	list[0] = copy;
	for (i = 1, p = copy; *copy; copy++)
		if (*copy == ',') {
			*copy = 0;
			list[i++] = copy + 1;
		}
	(void)p;
	*n = k;
	return list;
}

int cli_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

void cli_out_flush(void)
{
	struct shard_error err;
	if (out.len && shard_write_all(1, out.p, out.len, &err))
		cli_die_err(&err);
	out.len = 0;
}

void cli_out(const void *p, size_t n)
{
	if (shard_buf_append(&out, p, n))
		cli_die(CLI_FAIL, "out of memory");
	if (out.len >= (1u << 20))
		cli_out_flush();
}

void cli_out_str(const char *s)
{
	cli_out(s, strlen(s));
}

/* Seconds on the monotonic clock. */
double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 3200000 as "3,200,000" */
static void grouped(char *buf, size_t n, uint64_t v)
{
	char digits[24];
	size_t k = (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)v), i, j = 0;
	for (i = 0; i < k && j + 2 < n; i++) {
		if (i && (k - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = digits[i];
	}
	buf[j] = 0;
}

/* v with an SI prefix: "12", "950 k", "1.7 M" */
static void si(char *buf, size_t n, double v)
{
	static const char prefix[] = " kMGTP";
	int i = 0;
	while (v >= 999.5 && i < 5) {
		v /= 1000;
		i++;
	}
	if (!i)
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, v < 9.95 ? "%.1f %c" : "%.0f %c", v, prefix[i]);
}

/* bytes as "512 B", "640 MB" */
static void si_bytes(char *buf, size_t n, double v)
{
	char num[24];
	si(num, sizeof num, v);
	snprintf(buf, n, "%s%sB", num, strchr(num, ' ') ? "" : " ");
}

static void draw(struct cli_progress *p, double t)
{
	char line[320], shards[40], count[32], bytes[32], rate[64], took[32];
	double secs = t - p->t0, per = secs > 0.001 ? secs : 0.001;
	unsigned long s = (unsigned long)secs;
	int k;

	shards[0] = 0;
	if (p->shards) {
		grouped(count, sizeof count, p->shards);
		snprintf(shards, sizeof shards, "%s shards, ", count);
	}
	grouped(count, sizeof count, p->n);
	si_bytes(bytes, sizeof bytes, (double)p->bytes);
	/* before the first count (a shuffle reading its input) the bytes are what moves */
	if (p->n || !p->bytes) {
		char num[24];
		si(num, sizeof num, (double)p->n / per);
		snprintf(rate, sizeof rate, "%s %s/s", num, p->what);
	} else {
		si_bytes(rate, sizeof rate, (double)p->bytes / per);
		strcat(rate, "/s");
	}
	if (s < 60)
		snprintf(took, sizeof took, "%lus", s);
	else if (s < 3600)
		snprintf(took, sizeof took, "%lum%02lus", s / 60, s % 60);
	else
		snprintf(took, sizeof took, "%luh%02lum", s / 3600, s / 60 % 60);
	k = snprintf(line, sizeof line, "%s: %s%s %s, %s read in %s, %s", cli_prog, shards, count, p->what, bytes,
		     took, rate);
	/* a line wider than the terminal would wrap, and \r could not take it back */
	if (k >= (int)sizeof line)
		k = (int)sizeof line - 1;
	if (k > p->width - 1)
		k = p->width - 1;
	fprintf(stderr, "\r%.*s%*s", k, line, p->len > k ? p->len - k : 0, "");
	if (k > p->len)
		p->len = k;
}

void cli_progress_begin(struct cli_progress *p, const char *what, uint64_t every, int want)
{
	struct winsize ws;
	memset(p, 0, sizeof *p);
	p->what = what;
	p->every = every ? every : 1;
	p->n_next = p->every;
	p->on = want && isatty(2);
	if (!p->on)
		return;
	p->t0 = p->next = cli_now();	/* the first look draws, so a short run shows a line too */
	p->width = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col : 80;
	active = p;
}

void cli_progress_poll(struct cli_progress *p)
{
	double t;
	p->n_next = p->n + p->every;
	t = cli_now();
	if (t < p->next)
		return;
	p->next = t + 0.25;
	draw(p, t);
}

void cli_progress_end(struct cli_progress *p)
{
	if (!p->on)
		return;
	progress_clear();
	p->on = 0;
	active = NULL;
}

/* ---------------------------------------------------------------- signals */

/* SIGINT, SIGTERM and SIGHUP end a program that writes files without leaving
 * any that look like data. The handler only writes the signal's number to a
 * pipe (all it does is async-signal-safe); a thread of its own reads it, and
 * there, outside the handler, takes the guard lock for good, runs the
 * cleanups registered (newest first) and ends the process by the signal, so
 * the shell sees 128+N. The guard is also held while a cleanup's list
 * changes, so a cleanup never runs against half a change or freed memory. A
 * signal ignored when the program started (nohup, '&' in a script) stays
 * ignored. */
#define MAX_CLEANUPS 8

static pthread_mutex_t guard;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static struct {
	void (*fn)(void *);
	void *ctx;
} cleanups[MAX_CLEANUPS];
static int ncleanups, sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int e = errno;
	unsigned char c = (unsigned char)sig;
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* nothing else is safe to do here */
	}
	errno = e;
}

static void *signal_thread(void *arg)
{
	unsigned char c;
	int i;
	(void)arg;
	while (read(sig_pipe[0], &c, 1) != 1)
		if (errno != EINTR)
			return NULL;
	pthread_mutex_lock(&guard);	/* never given back */
	for (i = ncleanups - 1; i >= 0; i--)
		cleanups[i].fn(cleanups[i].ctx);
	signal(c, SIG_DFL);
	raise(c);
	_exit(128 + c);
}

/* For an exit on failure: the cleanups, newest first, under the guard kept
 * for good (a signal now finds the work done). Nothing to do when none was
 * ever registered. */
static int guard_ready;

static void abort_outputs(void)
{
	int i;
	if (!guard_ready)
		return;
	pthread_mutex_lock(&guard);	/* never given back: the process ends */
	for (i = ncleanups - 1; i >= 0; i--)
		cleanups[i].fn(cleanups[i].ctx);
	ncleanups = 0;
}

static void guard_init(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	pthread_mutexattr_t a;
	struct sigaction sa;
	pthread_t th;
	size_t i;

	/* recursive: a failure inside a held stretch still cleans up through it */
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&guard, &a);
	pthread_mutexattr_destroy(&a);
	guard_ready = 1;
	if (pipe2(sig_pipe, O_CLOEXEC) != 0 || pthread_create(&th, NULL, signal_thread, NULL) != 0)
		cli_die(CLI_FAIL, "cannot set up signal handling: %s", strerror(errno));
	pthread_detach(th);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
	}
}

void cli_signals_hold(void)
{
	pthread_once(&guard_once, guard_init);
	pthread_mutex_lock(&guard);
}

void cli_signals_release(void)
{
	pthread_mutex_unlock(&guard);
}

void cli_on_signal(void (*fn)(void *), void *ctx)
{
	cli_signals_hold();
	if (ncleanups == MAX_CLEANUPS)
		cli_die(CLI_FAIL, "too many cleanups");
	cleanups[ncleanups].fn = fn;
	cleanups[ncleanups++].ctx = ctx;
	cli_signals_release();
}

static void forget(void *ctx)
{
	int i, k = 0;
	for (i = 0; i < ncleanups; i++)
		if (cleanups[i].ctx != ctx)
			cleanups[k++] = cleanups[i];
	ncleanups = k;
}

static void kill_sink(void *s)
{
	shard_sink_kill(s);
}

void cli_guard_sink(struct shard_sink *s)
{
	cli_on_signal(kill_sink, s);
}

int cli_sink_close(struct shard_sink *s, struct shard_error *err)
{
	int rc;
	cli_signals_hold();
	rc = shard_sink_close(s, err);
	forget(s);
	cli_signals_release();
	return rc;
}

void cli_sink_abort(struct shard_sink *s)
{
	if (!s)
		return;
	cli_signals_hold();
	shard_sink_abort(s);
	forget(s);
	cli_signals_release();
}

/* ---------------------------------------------------------------- --overwrite */

static int listed(const struct shard_index *ix, const char *name)
{
	size_t i;
	for (i = 0; i < ix->nshards; i++)
		if (strcmp(ix->shards[i].raw.basename, name) == 0 ||
		    (ix->shards[i].has_zip && strcmp(ix->shards[i].zip.basename, name) == 0))
			return 1;
	return 0;
}

void cli_overwrite_begin(struct cli_overwrite *o, const char *dir, int part)
{
	char path[4096];
	struct shard_error err;
	memset(o, 0, sizeof *o);
	o->dir = dir;
	o->part = part;
	snprintf(path, sizeof path, "%s/index.json", dir);
	if (access(path, F_OK) != 0)
		return;
	/* the old dataset's files are known before its index goes */
	if (!part && shard_index_load(&o->old, path, &err) != 0)
		cli_warn("%s: not a dataset index (%s): removed, the files it named are left as they are", path, err.msg);
	if (unlink(path) != 0 && errno != ENOENT)
		cli_die(CLI_FAIL, "%s: %s", path, strerror(errno));
}

void cli_overwrite_end(struct cli_overwrite *o)
{
	struct shard_index now = {0};
	struct shard_error err;
	char path[4096];
	size_t i;
	int k;
	if (!o->old.nshards)
		return;
	snprintf(path, sizeof path, "%s/index.json", o->dir);
	if (shard_index_load(&now, path, &err) != 0) {
		shard_index_free(&o->old);
		return;
	}
	for (i = 0; i < o->old.nshards; i++) {
		const struct shard_entry *e = &o->old.shards[i];
		for (k = 0; k < 1 + e->has_zip; k++) {
			const char *b = k ? e->zip.basename : e->raw.basename;
			char *slash;
			if (listed(&now, b) || strstr(b, "..") || b[0] == '/')
				continue;
			snprintf(path, sizeof path, "%s/%s", o->dir, b);
			unlink(path);
			/* a merged dataset's part directories, once empty */
			while ((slash = strrchr(path, '/')) && slash > path + strlen(o->dir)) {
				*slash = 0;
				if (rmdir(path) != 0)
					break;
			}
		}
	}
	shard_index_free(&now);
	shard_index_free(&o->old);
}
