/* shard-gpu-bench's devices: where assembled batches go.
 *
 * A batch travels as one region of host memory (pinned for CUDA): each
 * column's bytes back to back, then a table of (offset, length) pairs, one
 * per column, so one copy moves a whole batch and its layout. The device
 * checksums every column where the bytes landed, and the caller compares
 * those sums with the ones it computed on the host before the copy.
 *
 * The CPU backend (gpu-cpu.c) works in tasks on the program's thread pool,
 * into memory of its own; the CUDA
 * backend (gpu-cuda.cu) copies with cudaMemcpyAsync on one stream per slot
 * and checksums with a kernel. */
#ifndef SHARD_GPU_H
#define SHARD_GPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return values of the backend calls besides 0. */
enum { GPU_FAIL = 1, GPU_NODEV = 2 };

/* Columns start on this boundary inside a batch region. */
#define GPU_ALIGN 256

/* Every column's checksum is shard_batch_checksum's (shard.h), of its
 * bytes zero-padded to a multiple of 4. */

/* One column's place in a batch region; the table follows the columns. */
struct gpu_coldesc {
	uint64_t off, len;
};

struct shard_pool;

struct gpu_config {
	int nslots;		/* batches in flight: 2 double, 3 triple buffering */
	size_t slot_bytes;	/* region size, table included */
	size_t ncols;
	struct shard_pool *pool;	/* the program's threads, for a backend that works on the host */
};

struct gpu_stats {
	char name[256];		/* what the device is, for the report */
	double busy;		/* seconds the device spent copying and checksumming */
	double copy_seconds;	/* seconds of that spent in host-to-device copies */
	unsigned long long by_host;	/* CPU backend: batches whose device work the waiting
					 * host thread did (see gpu-cpu.c) */
};

/* Host-to-device bandwidth of a plain copy loop (bytes/s), in the manner of
 * nvbandwidth: pinned and pageable source memory, a large block and the
 * run's batch size. On the CPU backend "device" is the backend's own memory
 * and both sources are ordinary memory copied with memcpy. */
struct gpu_peak {
	size_t big_block, batch_block;
	double pinned_big, pinned_batch, pageable_big;
};

/* The block sizes of a peak measurement: big, and the batch's clamped to
 * [4 KiB, big]. */
static inline void gpu_peak_blocks(struct gpu_peak *p, size_t big, size_t batch_block)
{
	p->big_block = big;
	p->batch_block = batch_block < 4096 ? 4096 : batch_block > big ? big : batch_block;
}

struct gpu_dev;

struct gpu_backend {
	const char *name;
	/* Open device index with cfg. 0, or GPU_NODEV / GPU_FAIL with msg set. */
	int (*open)(struct gpu_dev **d, int index, const struct gpu_config *cfg, char *msg, size_t msglen);
	/* The host region of a slot (slot_bytes long, zeroed at open). */
	uint8_t *(*host)(struct gpu_dev *d, int slot);
	/* Copy the first bytes of a slot's region to the device and checksum its
	 * columns there; returns at once. */
	int (*submit)(struct gpu_dev *d, int slot, size_t bytes, char *msg, size_t msglen);
	/* Wait for a slot's batch; sums[ncols] gets the device's checksums. */
	int (*wait)(struct gpu_dev *d, int slot, uint64_t *sums, char *msg, size_t msglen);
	int (*peak)(struct gpu_dev *d, size_t batch_block, struct gpu_peak *p, char *msg, size_t msglen);
	void (*stats)(struct gpu_dev *d, struct gpu_stats *s);
	void (*close)(struct gpu_dev *d);
};

extern const struct gpu_backend gpu_cpu_backend;
#ifdef HAVE_CUDA
extern const struct gpu_backend gpu_cuda_backend;
#endif

/* The backend and device index of a --device value (cpu, cuda, cuda:N or
 * auto), the device opened once to see that it answers (gpu-pick.c). 0;
 * -1 for a value that is none of those; GPU_NODEV or GPU_FAIL with msg set.
 * auto is CUDA when a device answers, else the CPU with *fell_back set and
 * the reason in msg. */
int gpu_pick(const char *spec, const struct gpu_backend **be, int *index, int *fell_back, char *msg,
	     size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
