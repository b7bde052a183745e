/* shard-gpu-bench: stream MDS shards into batches on a device, and measure it.
 *
 * Three stages overlap. libshard's batcher reads, verifies and decompresses
 * shards ahead and gathers their samples into per-column batch buffers in a
 * slot's host region (pinned memory for CUDA), checksumming them on the way;
 * the device copies each submitted slot and checksums it where it landed.
 * With N slots, N batches are in flight: while the device works on one, the
 * batcher fills the next. One thread pool serves the batcher and the CPU
 * device. */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "gpu.h"
#include "shard.h"

enum { EXIT_MISMATCH = 3, EXIT_NODEV = 4 };

/* The most threads -j gives the pool. */
#define THREADS_MAX 8

static const char usage[] =
	"Usage: shard-gpu-bench [-d DEVICE] [-c COLS] [-b N] [-n SLOTS] [-j N] [--drop-last] [--peak]\n"
	"                       [--json] [--no-verify] [-q] [DIR|-]...\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "Stream MDS datasets, loose shards or a shard stream on stdin (-, the default)\n"
	       "into batches of fixed-size columns on a device, checksum every batch there,\n"
	       "and report the throughput.\n\n"
	       "  -d, --device DEV     cpu, cuda, cuda:N, or auto (default: cuda:0 when there\n"
	       "                       is one, else cpu)\n"
	       "  -c, --columns LIST   fixed-size columns to move (default: all of them)\n"
	       "  -b, --batch N        samples per batch (default 1024)\n"
	       "  -n, --slots N        batches in flight, one stream each (default 3)\n"
	       "  -j, --threads N      threads reading and batching (default: one per CPU, up to 4)\n"
	       "      --drop-last      leave out a last, partial batch\n"
	       "      --peak           also measure the device's peak copy bandwidth\n"
	       "      --json           the report as one JSON object on stdout's last line\n"
	       "      --no-verify      do not check shard hashes (sizes are always checked)\n"
	       "      --corrupt N      flip a bit of batch N after its host checksum (a self-test\n"
	       "                       of the checksum check: the run must fail)\n"
	       "  -q, --quiet          no report unless --json\n"
	       "  -h, --help           show this help\n"
	       "  -V, --version        show the version\n\n"
	       "Exit status: 0 success, 1 bad data or failure, 2 usage error, 3 a device\n"
	       "checksum differed from the host's, 4 the device is not available.\n",
	       usage);
	exit(0);
}

struct bench {
	/* options */
	int batch, nslots, drop_last, peak, json, quiet, verify, threads;
	long long corrupt;
	char **want;
	size_t nwant;
	const char *device;
	/* the batches' layout, and a slot's: the columns, then the descriptor table */
	struct shard_batch_layout lay;
	size_t slot_bytes;
	/* device */
	const struct gpu_backend *be;
	struct gpu_dev *dev;
	int dev_index;
	struct shard_pool *pool;	/* the batcher's and the CPU device's */
	struct shard_batcher *bt;
	uint64_t *host_sums;	/* nslots * ncols */
	uint64_t *total_sums;	/* per column, the device sums of all batches */
	uint64_t *slot_batch;	/* batch number in each slot */
	int *busy;
	/* counts */
	uint64_t samples, batches, bytes, mismatches, dropped, shards;
	double input_wait, reader_wait, t_open;
	char first_bad[256];
	char msg[1024];
};

static void device_fail(struct bench *b, int rc)
{
	if (rc == GPU_NODEV)
		cli_die(EXIT_NODEV, "%s", b->msg);
	cli_die(CLI_FAIL, "%s", b->msg);
}

/* Open the device with a slot for the batcher's layout, and lay the
 * descriptor table into every slot once: it never changes. */
static void open_device(struct bench *b)
{
	size_t nc = b->lay.ncols;
	b->slot_bytes = b->lay.bytes + nc * sizeof(struct gpu_coldesc);
	struct gpu_config cfg = {.nslots = b->nslots, .slot_bytes = b->slot_bytes, .ncols = nc, .pool = b->pool};
	double t0 = cli_now();
	int rc = b->be->open(&b->dev, b->dev_index, &cfg, b->msg, sizeof b->msg);
	if (rc)
		device_fail(b, rc);
	for (int s = 0; s < b->nslots; s++) {
		struct gpu_coldesc *d = (struct gpu_coldesc *)(b->be->host(b->dev, s) + b->lay.bytes);
		for (size_t i = 0; i < nc; i++)
			d[i] = (struct gpu_coldesc){.off = b->lay.cols[i].off, .len = b->lay.cols[i].cap};
	}
	b->t_open = cli_now() - t0;
	b->host_sums = calloc((size_t)b->nslots * nc, sizeof *b->host_sums);
	b->slot_batch = calloc(b->nslots, sizeof *b->slot_batch);
	b->busy = calloc(b->nslots, sizeof *b->busy);
	b->total_sums = calloc(nc, sizeof *b->total_sums);
	if (!b->host_sums || !b->slot_batch || !b->busy || !b->total_sums)
		cli_die(CLI_FAIL, "out of memory");
}

static void check_sums(struct bench *b, int slot, const uint64_t *dev)
{
	const uint64_t *host = b->host_sums + (size_t)slot * b->lay.ncols;
	for (size_t i = 0; i < b->lay.ncols; i++)
		b->total_sums[i] += dev[i];
	for (size_t i = 0; i < b->lay.ncols; i++)
		if (host[i] != dev[i]) {
			if (!b->mismatches)
				snprintf(b->first_bad, sizeof b->first_bad,
					 "batch %llu, column '%s': host checksum %016llx, device %016llx",
					 (unsigned long long)b->slot_batch[slot], b->lay.cols[i].name,
					 (unsigned long long)host[i], (unsigned long long)dev[i]);
			b->mismatches++;
			return;
		}
}

/* Wait for the slot's previous batch, if any, and check its sums. */
static void reclaim(struct bench *b, int slot)
{
	uint64_t sums[b->lay.ncols ? b->lay.ncols : 1];
	double t0;
	int rc;
	if (!b->busy[slot])
		return;
	t0 = cli_now();
	if ((rc = b->be->wait(b->dev, slot, sums, b->msg, sizeof b->msg)))
		device_fail(b, rc);
	b->input_wait += cli_now() - t0;
	b->busy[slot] = 0;
	check_sums(b, slot, sums);
}

/* Hand a filled slot to the device with its host checksums. */
static void submit(struct bench *b, int slot, const struct shard_batch *bt)
{
	uint8_t *base = b->be->host(b->dev, slot);
	int rc;
	memcpy(b->host_sums + (size_t)slot * b->lay.ncols, bt->sums, b->lay.ncols * sizeof *bt->sums);
	if (b->corrupt >= 0 && (uint64_t)b->corrupt == b->batches)
		base[b->lay.cols[0].off] ^= 1;
	b->slot_batch[slot] = b->batches;
	if ((rc = b->be->submit(b->dev, slot, b->slot_bytes, b->msg, sizeof b->msg)))
		device_fail(b, rc);
	b->busy[slot] = 1;
	b->samples += bt->samples;
	b->bytes += bt->bytes;
	b->batches++;
}

/* Append s as a JSON string (ASCII, escaped). */
static void json_str(struct shard_buf *o, const char *s)
{
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
	shard_buf_printf(o, "%s", t ? t : "null");
	free(t);
	json_decref(j);
}

static void json_num(struct shard_buf *o, const char *key, double v)
{
	shard_buf_printf(o, ", \"%s\": %.6g", key, v);
}

static void report(struct bench *b, double secs, const struct gpu_stats *st, const struct gpu_peak *pk, long rss)
{
	double device_wait = secs > st->busy ? secs - st->busy : 0;
	double sps = secs > 0 ? b->samples / secs : 0, bps = secs > 0 ? b->bytes / secs : 0;
	double copied = (double)b->batches * b->slot_bytes;
	double h2d = st->copy_seconds > 0 ? copied / st->copy_seconds : 0;
	if (b->json) {
		struct shard_buf o = {0};
		shard_buf_printf(&o, "{\"device\": ");
		json_str(&o, st->name);
		shard_buf_printf(&o, ", \"backend\": \"%s\", \"columns\": [", b->be->name);
		for (size_t i = 0; i < b->lay.ncols; i++) {
			shard_buf_printf(&o, "%s", i ? ", " : "");
			json_str(&o, b->lay.cols[i].name);
		}
		shard_buf_printf(&o, "], \"batch\": %d, \"slots\": %d, \"shards\": %llu, \"samples\": %llu, "
			     "\"batches\": %llu, \"bytes\": %llu, \"dropped\": %llu, \"sample_bytes\": %zu",
			     b->batch, b->nslots, (unsigned long long)b->shards, (unsigned long long)b->samples,
			     (unsigned long long)b->batches, (unsigned long long)b->bytes,
			     (unsigned long long)b->dropped, b->lay.sample_bytes);
		const struct { const char *key; double v; } nums[] = {
			{"seconds", secs}, {"samples_per_s", sps}, {"bytes_per_s", bps},
			{"device_wait_s", device_wait}, {"input_wait_s", b->input_wait},
			{"reader_wait_s", b->reader_wait}, {"device_busy_s", st->busy}, {"setup_s", b->t_open}};
		for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
			json_num(&o, nums[i].key, nums[i].v);
		shard_buf_printf(&o, ", \"checksum_mismatches\": %llu, \"checksums\": {", (unsigned long long)b->mismatches);
		for (size_t i = 0; i < b->lay.ncols; i++) {
			shard_buf_printf(&o, "%s", i ? ", " : "");
			json_str(&o, b->lay.cols[i].name);
			shard_buf_printf(&o, ": \"%016llx\"", (unsigned long long)b->total_sums[i]);
		}
		shard_buf_printf(&o, "}");
		json_num(&o, "h2d_bytes_per_s", h2d);
		json_num(&o, "copy_s", st->copy_seconds);
		shard_buf_printf(&o, ", \"device_batches_by_host\": %llu", st->by_host);
		shard_buf_printf(&o, ", \"peak_rss_kib\": %ld", rss);
		if (pk) {
			shard_buf_printf(&o, ", \"peak\": {\"big_block\": %zu, \"batch_block\": %zu", pk->big_block,
				     pk->batch_block);
			json_num(&o, "pinned_bytes_per_s", pk->pinned_big);
			json_num(&o, "pageable_bytes_per_s", pk->pageable_big);
			json_num(&o, "pinned_batch_bytes_per_s", pk->pinned_batch);
			json_num(&o, "h2d_fraction_of_peak", pk->pinned_batch > 0 ? h2d / pk->pinned_batch : 0);
			shard_buf_printf(&o, "}");
		}
		shard_buf_printf(&o, "}\n");
		cli_out(o.p, o.len);
		shard_buf_free(&o);
		return;
	}
	if (b->quiet)
		return;
	printf("device        %s\n", st->name);
	printf("columns       %zu (%zu bytes a sample):", b->lay.ncols, b->lay.sample_bytes);
	for (size_t i = 0; i < b->lay.ncols; i++)
		printf(" %s", b->lay.cols[i].name);
	printf("\n");
	printf("samples       %llu in %llu batches of %d, %d in flight, from %llu shards", (unsigned long long)b->samples,
	       (unsigned long long)b->batches, b->batch, b->nslots, (unsigned long long)b->shards);
	if (b->dropped)
		printf(" (%llu dropped: --drop-last)", (unsigned long long)b->dropped);
	printf("\nbytes         %llu\n", (unsigned long long)b->bytes);
	printf("time          %.3f s (device setup %.3f s more)\n", secs, b->t_open);
	printf("throughput    %.0f samples/s, %.1f MB/s\n", sps, bps / 1e6);
	printf("waits         device waited %.3f s for input, input waited %.3f s for the device,\n"
	       "              batching waited %.3f s for the shard reader\n", device_wait, b->input_wait, b->reader_wait);
	printf("copies        %.3f s, %.2f GB/s host to device", st->copy_seconds, h2d / 1e9);
	if (st->by_host)
		printf(" (%llu batches copied by the batching thread%s)", st->by_host,
		       st->by_host < b->batches ? ", the copy thread not having started them" : "");
	printf("\n");
	if (pk) {
		printf("peak          pinned %.2f GB/s (%zu MiB blocks), pageable %.2f GB/s, pinned %.2f GB/s in "
		       "%zu-byte blocks: this run reached %.0f%% of it\n",
		       pk->pinned_big / 1e9, pk->big_block >> 20, pk->pageable_big / 1e9, pk->pinned_batch / 1e9,
		       pk->batch_block, pk->pinned_batch > 0 ? 100 * h2d / pk->pinned_batch : 0);
	}
	printf("checksums     %llu batches checked on the device, %llu mismatched\n", (unsigned long long)b->batches,
	       (unsigned long long)b->mismatches);
	printf("peak RSS      %ld KiB\n", rss);
}

static void parse_args(struct bench *b, int argc, char **argv)
{
	enum { OPT_CORRUPT = 256 };
	/* the switches set their fields themselves */
	const struct option longopts[] = {
		{"device", required_argument, NULL, 'd'},
		{"columns", required_argument, NULL, 'c'},
		{"batch", required_argument, NULL, 'b'},
		{"slots", required_argument, NULL, 'n'},
		{"threads", required_argument, NULL, 'j'},
		{"drop-last", no_argument, &b->drop_last, 1},
		{"peak", no_argument, &b->peak, 1},
		{"json", no_argument, &b->json, 1},
		{"no-verify", no_argument, &b->verify, 0},
		{"corrupt", required_argument, NULL, OPT_CORRUPT},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "d:c:b:n:j:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 0:
			break;
		case 'd':
			b->device = optarg;
			break;
		case 'c':
			free(b->want ? b->want[0] : NULL);
			free(b->want);
			b->want = cli_split(optarg, &b->nwant);
			if (!b->nwant)
				cli_usage_error(usage, "--columns needs at least one column name");
			break;
		case 'b':
			if (cli_parse_u64(optarg, &v) || v < 1 || v > (1u << 24))
				cli_usage_error(usage, "--batch: '%s' is not a count from 1 to 16777216", optarg);
			b->batch = (int)v;
			break;
		case 'n':
			if (cli_parse_u64(optarg, &v) || v < 1 || v > 16)
				cli_usage_error(usage, "--slots: '%s' is not a count from 1 to 16", optarg);
			b->nslots = (int)v;
			break;
		case 'j':
			if (cli_parse_u64(optarg, &v) || v < 1 || v > THREADS_MAX)
				cli_usage_error(usage, "--threads: '%s' is not a count from 1 to %d", optarg, THREADS_MAX);
			b->threads = (int)v;
			break;
		case OPT_CORRUPT:
			if (cli_parse_u64(optarg, &v) || v > (uint64_t)LLONG_MAX)
				cli_usage_error(usage, "--corrupt: '%s' is not a batch number", optarg);
			b->corrupt = (long long)v;
			break;
		case 'q':
			b->quiet = 1;
			break;
		case 'h':
			help();
		case 'V':
			cli_version();
		default:
			cli_usage_error(usage, NULL);
		}
	}
	if (!b->threads) {
		unsigned n = shard_cpu_budget();
		b->threads = n > 4 ? 4 : (int)n;
	}
}

/* Every batch through the device; the time it took, device setup aside.
 * The device and the batcher (the column names) stay for the report. */
static double run(struct bench *b, const char *const *inputs, size_t ninputs)
{
	struct shard_error err = {0};
	struct shard_batch got;
	struct shard_batch_opts o = {.columns = (const char *const *)b->want, .ncolumns = b->nwant,
				     .batch = (size_t)b->batch, .align = GPU_ALIGN, .drop_last = b->drop_last,
				     .no_verify = !b->verify};
	double t0 = cli_now();
	if (shard_pool_new(&b->pool, (unsigned)b->threads, &err))
		cli_die_err(&err);
	o.pool = b->pool;
	if (shard_batcher_new(&b->bt, inputs, ninputs, &o, &err) || shard_batcher_layout(b->bt, &b->lay, &err))
		cli_die_err(&err);
	open_device(b);
	for (int slot = 0;; slot = (slot + 1) % b->nslots) {
		reclaim(b, slot);
		if (shard_batcher_next(b->bt, b->be->host(b->dev, slot), b->lay.bytes, &got, &err))
			cli_die_err(&err);
		b->shards = got.shards;
		b->dropped = got.dropped;
		b->reader_wait = got.reader_wait;
		if (!got.samples)
			break;
		submit(b, slot, &got);
	}
	for (int s = 0; s < b->nslots; s++)
		reclaim(b, s);
	return cli_now() - t0 - b->t_open;
}

int main(int argc, char **argv)
{
	struct bench b = {.batch = 1024, .nslots = 3, .verify = 1, .corrupt = -1, .device = "auto"};
	static const char *const stdin_input[] = {"-"};
	struct gpu_stats st = {0};
	struct gpu_peak pk = {0};
	struct rusage ru;
	double secs;
	int rc, fell_back;

	cli_init(argv[0]);
	parse_args(&b, argc, argv);
	if ((rc = gpu_pick(b.device, &b.be, &b.dev_index, &fell_back, b.msg, sizeof b.msg)) < 0)
		cli_usage_error(usage, "--device: '%s' is not cpu, cuda, cuda:N or auto", b.device);
	if (rc)
		device_fail(&b, rc);
	if (fell_back && !b.quiet && !b.json)
		cli_warn("%s; using --device cpu", b.msg);
	if (optind < argc)
		secs = run(&b, (const char *const *)argv + optind, (size_t)(argc - optind));
	else
		secs = run(&b, stdin_input, 1);
	getrusage(RUSAGE_SELF, &ru);
	b.be->stats(b.dev, &st);
	if (b.peak && (rc = b.be->peak(b.dev, b.slot_bytes, &pk, b.msg, sizeof b.msg)))
		device_fail(&b, rc);
	report(&b, secs, &st, b.peak ? &pk : NULL, ru.ru_maxrss);
	cli_out_flush();
	b.be->close(b.dev);
	shard_batcher_free(b.bt);
	shard_pool_free(b.pool);
	if (b.mismatches)
		cli_warn("%llu of %llu batches arrived with a different checksum; the first: %s",
			 (unsigned long long)b.mismatches, (unsigned long long)b.batches, b.first_bad);
	free(b.host_sums);
	free(b.slot_batch);
	free(b.busy);
	free(b.total_sums);
	if (b.want)
		free(b.want[0]);
	free(b.want);
	return b.mismatches ? EXIT_MISMATCH : CLI_OK;
}
