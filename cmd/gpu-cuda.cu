/* The CUDA backend of shard-gpu-bench: batch regions in pinned host memory
 * (cudaHostAlloc), one stream per slot, so while one batch is copied with
 * cudaMemcpyAsync and checksummed by a kernel the host fills the next.
 * Event timestamps give the device's idle time and the copies' duration. */
#include "config.h"

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

/* One block row per column; threads stride over its 32-bit words, each
 * warp adds its partial sum to the column's total (see shard_batch_checksum in shard.h). */
__global__ void checksum_columns(const unsigned char *base, size_t table, unsigned long long *sums)
{
	const struct gpu_coldesc *desc = (const struct gpu_coldesc *)(base + table);
	unsigned long long off = desc[blockIdx.y].off, len = desc[blockIdx.y].len;
	const unsigned int *w = (const unsigned int *)(base + off);
	unsigned long long words = len / 4, s = 0;
	if (off + len > table)
		words = 0;
	for (unsigned long long j = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; j < words;
	     j += (unsigned long long)gridDim.x * blockDim.x)
		s += (unsigned long long)w[j] * (2 * j + 1);
	for (int o = 16; o > 0; o >>= 1)
		s += __shfl_down_sync(0xffffffffu, s, o);
	if ((threadIdx.x & 31) == 0 && s)
		atomicAdd(&sums[blockIdx.y], s);
}

struct slot {
	cudaStream_t stream;
	cudaEvent_t start, copied, done;
	unsigned char *host, *dev;
	unsigned long long *dsums, *hsums;
	int busy;
};

struct gpu_dev {
	struct gpu_config cfg;
	struct slot *slots;
	cudaEvent_t base;
	int index;
	char name[256];
	double busy, copying, last_end;
};

#define CK(call)                                                                                 \
	do {                                                                                     \
		cudaError_t e_ = (call);                                                         \
		if (e_ != cudaSuccess) {                                                         \
			snprintf(msg, msglen, "cuda:%d: %s: %s", d->index, #call, cudaGetErrorString(e_)); \
			return GPU_FAIL;                                                         \
		}                                                                                \
	} while (0)

static void cuda_close(struct gpu_dev *d)
{
	if (!d)
		return;
	for (int i = 0; d->slots && i < d->cfg.nslots; i++) {
		struct slot *s = &d->slots[i];
		if (s->stream)
			cudaStreamSynchronize(s->stream), cudaStreamDestroy(s->stream);
		if (s->start)
			cudaEventDestroy(s->start);
		if (s->copied)
			cudaEventDestroy(s->copied);
		if (s->done)
			cudaEventDestroy(s->done);
		cudaFreeHost(s->host);
		cudaFreeHost(s->hsums);
		cudaFree(s->dev);
		cudaFree(s->dsums);
	}
	if (d->base)
		cudaEventDestroy(d->base);
	free(d->slots);
	free(d);
}

static int setup(struct gpu_dev *d, char *msg, size_t msglen)
{
	size_t nc = d->cfg.ncols ? d->cfg.ncols : 1;
	CK(cudaSetDevice(d->index));
	cudaDeviceProp prop;
	CK(cudaGetDeviceProperties(&prop, d->index));
	snprintf(d->name, sizeof d->name, "cuda:%d %s", d->index, prop.name);
	for (int i = 0; i < d->cfg.nslots; i++) {
		struct slot *s = &d->slots[i];
		CK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
		CK(cudaEventCreate(&s->start));
		CK(cudaEventCreate(&s->copied));
		CK(cudaEventCreate(&s->done));
		CK(cudaHostAlloc((void **)&s->host, d->cfg.slot_bytes, cudaHostAllocDefault));
		CK(cudaHostAlloc((void **)&s->hsums, nc * sizeof *s->hsums, cudaHostAllocDefault));
		CK(cudaMalloc((void **)&s->dev, d->cfg.slot_bytes));
		CK(cudaMalloc((void **)&s->dsums, nc * sizeof *s->dsums));
		memset(s->host, 0, d->cfg.slot_bytes);
	}
	CK(cudaEventCreate(&d->base));
	CK(cudaEventRecord(d->base, 0));
	CK(cudaEventSynchronize(d->base));
	return 0;
}

static int cuda_open(struct gpu_dev **out, int index, const struct gpu_config *cfg, char *msg, size_t msglen)
{
	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	*out = NULL;
	if (e != cudaSuccess || count == 0) {
		snprintf(msg, msglen, "no CUDA device available: %s",
			 e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none");
		return GPU_NODEV;
	}
	if (index < 0 || index >= count) {
		snprintf(msg, msglen, "no CUDA device cuda:%d: there %s %d (cuda:0 to cuda:%d)", index,
			 count == 1 ? "is" : "are", count, count - 1);
		return GPU_NODEV;
	}
	struct gpu_dev *d = (struct gpu_dev *)calloc(1, sizeof *d);
	if (d)
		d->slots = (struct slot *)calloc(cfg->nslots, sizeof *d->slots);
	if (!d || !d->slots) {
		free(d);
		snprintf(msg, msglen, "out of memory");
		return GPU_FAIL;
	}
	d->cfg = *cfg;
	d->index = index;
	if (setup(d, msg, msglen)) {
		cuda_close(d);
		return GPU_FAIL;
	}
	*out = d;
	return 0;
}

static uint8_t *cuda_host(struct gpu_dev *d, int slot)
{
	return d->slots[slot].host;
}

static int cuda_submit(struct gpu_dev *d, int slot, size_t bytes, char *msg, size_t msglen)
{
	struct slot *s = &d->slots[slot];
	size_t nc = d->cfg.ncols, table = bytes - nc * sizeof(struct gpu_coldesc);
	unsigned int words = 0;
	const struct gpu_coldesc *desc = (const struct gpu_coldesc *)(s->host + table);
	for (size_t c = 0; c < nc; c++)
		if (desc[c].len / 4 > words)
			words = (unsigned int)(desc[c].len / 4);
	unsigned int blocks = (words + 255) / 256;
	if (nc > 65535) {
		snprintf(msg, msglen, "cuda:%d: %zu columns: the checksum kernel takes at most 65535", d->index, nc);
		return GPU_FAIL;
	}
	dim3 grid(blocks ? (blocks < 64 ? blocks : 64) : 1, (unsigned int)(nc ? nc : 1));

	CK(cudaEventRecord(s->start, s->stream));
	CK(cudaMemcpyAsync(s->dev, s->host, bytes, cudaMemcpyHostToDevice, s->stream));
	CK(cudaEventRecord(s->copied, s->stream));
	CK(cudaMemsetAsync(s->dsums, 0, (nc ? nc : 1) * sizeof *s->dsums, s->stream));
	if (nc)
		checksum_columns<<<grid, 256, 0, s->stream>>>(s->dev, table, s->dsums);
	CK(cudaGetLastError());
	CK(cudaMemcpyAsync(s->hsums, s->dsums, (nc ? nc : 1) * sizeof *s->hsums, cudaMemcpyDeviceToHost,
			   s->stream));
	CK(cudaEventRecord(s->done, s->stream));
	s->busy = 1;
	return 0;
}

static int cuda_wait(struct gpu_dev *d, int slot, uint64_t *sums, char *msg, size_t msglen)
{
	struct slot *s = &d->slots[slot];
	float t_start, t_copied, t_done;
	CK(cudaEventSynchronize(s->done));
	s->busy = 0;
	CK(cudaEventElapsedTime(&t_start, d->base, s->start));
	CK(cudaEventElapsedTime(&t_copied, d->base, s->copied));
	CK(cudaEventElapsedTime(&t_done, d->base, s->done));
	/* batches are waited for in the order they were submitted: the busy
	 * time is the union of their [start, done] intervals */
	double start = t_start / 1e3, done = t_done / 1e3;
	if (start < d->last_end)
		start = d->last_end;
	if (done > start)
		d->busy += done - start;
	if (done > d->last_end)
		d->last_end = done;
	d->copying += (t_copied - t_start) / 1e3;
	memcpy(sums, s->hsums, d->cfg.ncols * sizeof *sums);
	return 0;
}

/* Bytes/s of reps copies of n bytes from src (pinned or pageable) to dst,
 * all issued with cudaMemcpyAsync on one stream and timed by events on it,
 * as nvbandwidth does (from pageable memory the driver stages the copy). */
static int rate(struct gpu_dev *d, void *dst, const void *src, size_t n, int reps, double *out, char *msg,
		size_t msglen)
{
	cudaStream_t st = d->slots[0].stream;
	cudaEvent_t a, b;
	float ms = 0;
	CK(cudaEventCreate(&a));
	CK(cudaEventCreate(&b));
	/* warm up once, then time */
	CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, st));
	CK(cudaEventRecord(a, st));
	for (int i = 0; i < reps; i++)
		CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, st));
	CK(cudaEventRecord(b, st));
	CK(cudaEventSynchronize(b));
	CK(cudaEventElapsedTime(&ms, a, b));
	cudaEventDestroy(a);
	cudaEventDestroy(b);
	*out = ms > 0 ? (double)n * reps / (ms / 1e3) : 0;
	return 0;
}

static int cuda_peak(struct gpu_dev *d, size_t batch_block, struct gpu_peak *p, char *msg, size_t msglen)
{
	size_t big = (size_t)256 << 20;
	void *pinned = NULL, *dev = NULL, *pageable = NULL;
	int r = 0;
	gpu_peak_blocks(p, big, batch_block);
	CK(cudaSetDevice(d->index));
	CK(cudaHostAlloc(&pinned, big, cudaHostAllocDefault));
	if (cudaMalloc(&dev, big) != cudaSuccess || !(pageable = malloc(big))) {
		cudaFreeHost(pinned);
		cudaFree(dev);
		snprintf(msg, msglen, "cuda:%d: out of memory for the copy-loop buffers", d->index);
		return GPU_FAIL;
	}
	memset(pinned, 1, big);
	memset(pageable, 1, big);
	r = rate(d, dev, pinned, big, 8, &p->pinned_big, msg, msglen);
	if (!r)
		r = rate(d, dev, pageable, big, 8, &p->pageable_big, msg, msglen);
	/* about 4 GiB of small copies, at most 2000 of them */
	size_t n = ((size_t)4 << 30) / p->batch_block;
	int reps = n > 2000 ? 2000 : (int)n;
	if (!r)
		r = rate(d, dev, pinned, p->batch_block, reps, &p->pinned_batch, msg, msglen);
	cudaFreeHost(pinned);
	cudaFree(dev);
	free(pageable);
	return r;
}

static void cuda_stats(struct gpu_dev *d, struct gpu_stats *s)
{
	snprintf(s->name, sizeof s->name, "%s", d->name);
	s->busy = d->busy;
	s->copy_seconds = d->copying;
	s->by_host = 0;	/* the GPU does every batch's device work */
}

extern "C" const struct gpu_backend gpu_cuda_backend = {
	"cuda", cuda_open, cuda_host, cuda_submit, cuda_wait, cuda_peak, cuda_stats, cuda_close,
};
