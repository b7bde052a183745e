/* shard-gpu-bench's --device: which backend and device index it names, and
 * whether that device answers, asked before any input is read so that a
 * missing GPU is said at once, not after the first shard (or never, on a
 * terminal). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

/* Whether the backend's device index opens: 0, or the backend's status with
 * msg set. */
static int probe(const struct gpu_backend *be, int index, char *msg, size_t msglen)
{
	struct gpu_config cfg = {.nslots = 1, .slot_bytes = 4096, .ncols = 0};
	struct gpu_dev *d;
	int rc = be->open(&d, index, &cfg, msg, msglen);
	if (rc == 0)
		be->close(d);
	return rc;
}

int gpu_pick(const char *spec, const struct gpu_backend **be, int *index, int *fell_back, char *msg,
	     size_t msglen)
{
	char *end;
	*index = 0;
	*fell_back = 0;
	if (!strcmp(spec, "cpu") || !strcmp(spec, "cpu:0")) {
		*be = &gpu_cpu_backend;
		return probe(*be, 0, msg, msglen);
	}
	if (!strcmp(spec, "auto")) {
		/* CUDA when a device answers, else the CPU */
		*be = &gpu_cpu_backend;
#ifdef HAVE_CUDA
		if (probe(&gpu_cuda_backend, 0, msg, msglen) == 0)
			*be = &gpu_cuda_backend;
		else
			*fell_back = 1;
#endif
		return 0;
	}
	if (strncmp(spec, "cuda", 4) || (spec[4] && spec[4] != ':'))
		return -1;
	if (spec[4] == ':') {
		errno = 0;
		long v = strtol(spec + 5, &end, 10);
		if (errno || *end || end == spec + 5 || v < 0 || v > 1024)
			return -1;
		*index = (int)v;
	}
#ifdef HAVE_CUDA
	*be = &gpu_cuda_backend;
	return probe(*be, *index, msg, msglen);
#else
	snprintf(msg, msglen, "%s: this shard-gpu-bench was built without CUDA (configure found no CUDA Toolkit); "
		 "use --device cpu", spec);
	return GPU_NODEV;
#endif
}
