/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-scan: hash-scan tracker throughput beside a plain memory-read loop
 * over the same memory, in the same run, with the same thread count.
 *
 *   bench-scan [--sizes 1G,4G] [--threads 1,2] [--reps 5] [--dirty 0,1,10]
 *
 * For each size a tmpfs file under /dev/shm is filled with random pages and
 * mapped as one region. For each thread count it times:
 *   read   a loop summing every 64-bit word (the memory-bandwidth bound),
 *   scan   one hash-scan round with no page changed (hash + compare),
 *   round  one round after rewriting the given percentage of pages
 *          (cost of a round as a function of dirty fraction).
 * Best of --reps for each. Output: one "key=value" line per measurement,
 * then a summary table. Leaves out: soft-dirty (host kernel lacks it).
 */
#include "dirtylog/dirtylog.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 8

static int parse_list(const char *s, uint64_t *out, bool sizes)
{
	char buf[256], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok && n < MAX_LIST;
	     tok = strtok_r(NULL, ",", &save)) {
		if (sizes) {
			if (!qm_parse_size(tok, &out[n], NULL))
				return -1;
		} else {
			out[n] = strtoull(tok, NULL, 10);
		}
		n++;
	}
	return n;
}

static void fill_random(uint8_t *p, uint64_t size)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL, *w = (uint64_t *)p;

	for (uint64_t i = 0; i < size / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

typedef struct read_job {
	const uint64_t *base;
	uint64_t words;
	int part, parts;
	uint64_t sum;
} read_job;

static void *read_part(void *arg)
{
	read_job *j = arg;
	uint64_t per = j->words / j->parts, s = 0;
	const uint64_t *w = j->base + per * j->part;

	for (uint64_t i = 0; i < per; i += 8)
		s += w[i] ^ w[i + 1] ^ w[i + 2] ^ w[i + 3] ^ w[i + 4] ^
		     w[i + 5] ^ w[i + 6] ^ w[i + 7];
	j->sum = s;
	return NULL;
}

static double time_read(const uint8_t *base, uint64_t size, int threads)
{
	pthread_t tid[DL_MAX_THREADS];
	read_job jobs[DL_MAX_THREADS];
	int64_t t0 = qm_now_ns();
	uint64_t sink = 0;

	for (int i = 0; i < threads; i++) {
		jobs[i] = (read_job){ (const uint64_t *)base, size / 8, i,
				      threads, 0 };
		pthread_create(&tid[i], NULL, read_part, &jobs[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		sink += jobs[i].sum;
	}
	if (sink == 42)
		fprintf(stderr, "(unlikely sum)\n");
	return (qm_now_ns() - t0) / 1e9;
}

static void dirty_pages(dl_ram *ram, double pct, uint32_t gen)
{
	uint64_t step = pct > 0 ? (uint64_t)(100.0 / pct) : 0;

	if (!step)
		return;
	for (uint64_t p = 0; p < ram->npages; p += step)
		memcpy(dl_ram_page(ram, p) + 8, &gen, sizeof(gen));
}

static void bench_size(uint64_t size, const uint64_t *threads, int nt,
		       const uint64_t *dirty, int nd, int reps)
{
	char path[128];
	qm_error err = QM_ERROR_INIT;
	dl_hasher h;
	dl_ram ram;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/qmig-bench-scan-%d", getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, size) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
	dl_ram_init(&ram);
	dl_hasher_init(&h, "bench", 5, NULL);
	if (!dl_ram_add_file(&ram, "ram0", path, size, DL_MAP_WRITE, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		unlink(path);
		exit(1);
	}
	fill_random(ram.regions[0].base, size);
	for (int ti = 0; ti < nt; ti++) {
		dl_tracker_opts o = { .kind = DL_TRACKER_HASH_SCAN,
				      .threads = (int)threads[ti],
				      .assume_dest_zero = true };
		dl_tracker *t = dl_tracker_new(&ram, &h, &o, &err);
		double rd = 1e9, sc = 1e9;
		dl_round_stats st;

		dl_tracker_round(t, DL_ROUND_ADOPT, &st, &err); /* warm */
		for (int r = 0; r < reps; r++) {
			double x = time_read(ram.regions[0].base, size,
					     (int)threads[ti]);

			rd = x < rd ? x : rd;
			dl_tracker_round(t, DL_ROUND_ADOPT, &st, &err);
			x = st.find_ns / 1e9;
			sc = x < sc ? x : sc;
		}
		printf("size=%llu threads=%llu read_gbps=%.2f scan_gbps=%.2f "
		       "scan_over_read=%.2f\n", (unsigned long long)size,
		       (unsigned long long)threads[ti], size / rd / 1e9,
		       size / sc / 1e9, rd / sc);
		for (int di = 0; di < nd; di++) {
			double best = 1e9;

			for (int r = 0; r < reps; r++) {
				dirty_pages(&ram, (double)dirty[di],
					    (uint32_t)(r + 1 + di * 100));
				dl_tracker_round(t, DL_ROUND_ADOPT, &st, &err);
				best = st.find_ns / 1e9 < best ?
				       st.find_ns / 1e9 : best;
			}
			printf("size=%llu threads=%llu dirty_pct=%llu "
			       "round_ms=%.1f dirty_pages=%llu\n",
			       (unsigned long long)size,
			       (unsigned long long)threads[ti],
			       (unsigned long long)dirty[di], best * 1e3,
			       (unsigned long long)st.pages_dirty);
		}
		dl_tracker_free(t);
	}
	dl_ram_close(&ram);
	unlink(path);
}

int main(int argc, char **argv)
{
	uint64_t sizes[MAX_LIST] = { 1ULL << 30 }, threads[MAX_LIST] = { 1, 2 };
	uint64_t dirty[MAX_LIST] = { 0, 1, 10, 50 };
	int ns = 1, nt = 2, nd = 4, reps = 5;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--sizes"))
			ns = parse_list(argv[i + 1], sizes, true);
		else if (!strcmp(argv[i], "--threads"))
			nt = parse_list(argv[i + 1], threads, false);
		else if (!strcmp(argv[i], "--dirty"))
			nd = parse_list(argv[i + 1], dirty, false);
		else if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (ns <= 0 || nt <= 0 || nd < 0 || reps <= 0) {
		fprintf(stderr, "bad option value\n");
		return 2;
	}
	for (int i = 0; i < ns; i++)
		bench_size(sizes[i], threads, nt, dirty, nd, reps);
	return 0;
}
