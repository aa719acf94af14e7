/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-transport: qmig's transport beside plain TCP over loopback, in the
 * same run, at the same stream counts.
 *
 *   bench-transport [--size 1G] [--streams 1,2,4] [--reps 3]
 *                   [--mixes random,zero,dup] [--sparse 0|1] [--tls 0|1]
 *
 * A tmpfs file under /dev/shm holds the source "guest RAM". For each mix
 * and stream count N, alternating, best of --reps:
 *   raw      N TCP connections, N threads each doing blocking send() of
 *            its share of the RAM, N threads doing blocking recv() into a
 *            1 MiB buffer (the baseline the issue names);
 *   raw-ram  the same, but recv() into a tmpfs mapping populated before
 *            the clock starts, as the qmig receiver's is at SETUP (with
 *            --sparse 1: a fresh sparse one, as the receiver's then is):
 *            the same destination work without the protocol;
 *   qmig     tp_sender -> tp_receiver with N streams: queue every page,
 *            flush (ACKed: the receiver holds every page), fresh
 *            destination files each time, populated at SETUP (not
 *            timed: about 1 s per GiB here) unless --sparse 1;
 *   qmig-tls with --tls 1: the same with TLS 1.3 on every stream (kTLS
 *            where the kernel has it, else the pump threads, whose CPU
 *            counts with their side: tp-tx*-tls, tp-rx*-tls).
 * Mixes: random (no dedup possible), zero (90% zero pages), dup (90%
 * copies of 64 distinct pages). Effective throughput = RAM size / time.
 * CPU seconds per GB of RAM are per side (threads named tp-tx*, raw-tx*
 * are the sender; tp-rx*, raw-rx* the receiver; read from /proc). Both
 * sides share the machine's cores, so CPU matters as much as time.
 *
 * Output: one "key=value ..." line per measurement, then a table. Leaves
 * out: a real NIC (loopback copies in the kernel whatever SEND_ZC says),
 * rate limiting, HAVE (needs a staged image; covered by the tests).
 */
#include "transport/transport.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_LIST 8
#define PSK "bench-transport-pre-shared-key"

static uint64_t opt_size = 1ull << 30;
static uint64_t opt_streams[MAX_LIST] = { 1, 2, 4 };
static int opt_nstreams = 3, opt_reps = 3;
static bool opt_sparse, opt_tls;
static char opt_mixes[64] = "random,zero,dup";

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench-transport: %s: %s\n", what, why);
	exit(1);
}

/* ---- CPU time by thread name prefix, from /proc ---- */

static double cpu_of(const char *prefix)
{
	long hz = sysconf(_SC_CLK_TCK);
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	double total = 0;

	while (d && (de = readdir(d))) {
		char path[300], comm[32] = "", stat[1024];
		unsigned long ut = 0, st = 0;
		FILE *f;
		char *p;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		f = fopen(path, "r");
		if (!f || !fgets(comm, sizeof(comm), f) ||
		    strncmp(comm, prefix, strlen(prefix))) {
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 de->d_name);
		f = fopen(path, "r");
		if (f && fgets(stat, sizeof(stat), f) &&
		    (p = strrchr(stat, ')')) &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			   "%*u %lu %lu", &ut, &st) == 2)
			total += (double)(ut + st) / hz;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

/* ---- memory ---- */

static void fill_page(uint8_t *p, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1, *w = (uint64_t *)p;

	for (int i = 0; i < 512; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

static void fill_mix(dl_ram *ram, const char *mix)
{
	for (uint64_t p = 0; p < ram->npages; p++) {
		uint8_t *pg = dl_ram_page(ram, p);
		bool rnd = !strcmp(mix, "random") || p % 10 == 9;

		if (rnd)
			fill_page(pg, p + 1);
		else if (!strcmp(mix, "dup"))
			fill_page(pg, 1000000000ull + p % 64);
		else
			memset(pg, 0, DL_PAGE_SIZE);
	}
}

static void make_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/dev/shm/qmig-bench-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp", dir);
}

static void remove_dir(const char *dir)
{
	struct dirent *de;
	char p[512];
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* ---- raw TCP ---- */

typedef struct raw_job {
	int fd, idx;
	const uint8_t *src;
	uint8_t *dst;		/* raw-ram: where to receive, else NULL */
	uint64_t len;
	double cpu;		/* this thread's CPU seconds */
} raw_job;

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *raw_tx(void *arg)
{
	raw_job *j = arg;
	char name[16];
	uint64_t off = 0;

	snprintf(name, sizeof(name), "raw-tx%d", j->idx);
	pthread_setname_np(pthread_self(), name);
	while (off < j->len) {
		ssize_t n = send(j->fd, j->src + off,
				 QM_MIN(j->len - off, 1u << 20), 0);

		if (n <= 0)
			die("send", "failed");
		off += n;
	}
	j->cpu = thread_cpu();
	return NULL;
}

static void *raw_rx(void *arg)
{
	raw_job *j = arg;
	uint8_t *buf = j->dst ? NULL : malloc(1 << 20);
	char name[16];
	uint64_t off = 0;

	snprintf(name, sizeof(name), "raw-rx%d", j->idx);
	pthread_setname_np(pthread_self(), name);
	while (off < j->len) {
		ssize_t n = recv(j->fd, j->dst ? j->dst + off : buf,
				 j->dst ? j->len - off : 1u << 20, 0);

		if (n <= 0)
			die("recv", "failed");
		off += n;
	}
	free(buf);
	j->cpu = thread_cpu();
	return NULL;
}

static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &sl))
		die("listen", "loopback");
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(*a, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect", "loopback");
	*b = accept(l, NULL, NULL);
	close(l);
}

typedef struct result {
	double secs, tx_cpu, rx_cpu;
	uint64_t wire;
	bool ktls;
} result;

static result run_raw(const dl_ram *src, int n, bool to_ram)
{
	raw_job tx[MAX_LIST * 2], rx[MAX_LIST * 2];
	pthread_t tt[MAX_LIST * 2], rt[MAX_LIST * 2];
	uint64_t share = src->regions[0].size / n;
	uint8_t *dst = NULL;
	result r = { 0 };
	char dir[64], path[128];
	int64_t t0;
	int fd = -1;

	if (to_ram) {
		make_dir(dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/ram", dir);
		fd = open(path, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)src->regions[0].size))
			die("raw-ram", path);
		dst = mmap(NULL, src->regions[0].size, PROT_READ | PROT_WRITE,
			   MAP_SHARED, fd, 0);
		/* Populated before the clock starts, as the receiver does at
		 * SETUP (23 = MADV_POPULATE_WRITE), unless --sparse 1. */
		if (dst == MAP_FAILED ||
		    (!opt_sparse && madvise(dst, src->regions[0].size, 23)))
			die("raw-ram", "mmap/populate");
	}
	for (int i = 0; i < n; i++) {
		tcp_pair(&tx[i].fd, &rx[i].fd);
		tx[i].idx = rx[i].idx = i;
		tx[i].src = src->regions[0].base + share * i;
		rx[i].dst = to_ram ? dst + share * i : NULL;
		tx[i].len = rx[i].len = share;
	}
	t0 = qm_now_ns();
	for (int i = 0; i < n; i++) {
		pthread_create(&rt[i], NULL, raw_rx, &rx[i]);
		pthread_create(&tt[i], NULL, raw_tx, &tx[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(tt[i], NULL);
		pthread_join(rt[i], NULL);
	}
	r.secs = (double)(qm_now_ns() - t0) / 1e9;
	for (int i = 0; i < n; i++) {
		r.tx_cpu += tx[i].cpu;
		r.rx_cpu += rx[i].cpu;
		close(tx[i].fd);
		close(rx[i].fd);
	}
	if (to_ram) {
		munmap(dst, src->regions[0].size);
		close(fd);
		remove_dir(dir);
	}
	r.wire = src->regions[0].size;
	return r;
}

/* ---- qmig ---- */

typedef struct recv_job {
	tp_receiver *r;
	bool ok;
	qm_error err;
} recv_job;

static void *recv_main(void *arg)
{
	recv_job *j = arg;
	tp_ctrl c;

	j->ok = tp_receiver_accept(j->r, &j->err);
	while (j->ok && tp_receiver_recv_ctrl(j->r, &c, 60000, &j->err) > 0) {
		bool commit = c.type == TP_FRAME_COMMIT;

		tp_ctrl_release(&c);
		if (commit) {
			j->ok = tp_receiver_ack_commit(j->r, &j->err);
			break;
		}
	}
	return NULL;
}

static result run_qmig(const dl_ram *src, const dl_hasher *h, int n,
		       bool tls)
{
	qm_error err = QM_ERROR_INIT;
	char dir[64];
	tp_receiver_config rc = { .listen_host = "127.0.0.1",
				  .psk = (const uint8_t *)PSK,
				  .psk_len = strlen(PSK), .ram_dir = dir,
				  .timeout_ms = 30000, .sparse_ram = opt_sparse,
				  .tls = tls };
	tp_sender_config sc = { .streams = n, .psk = (const uint8_t *)PSK,
				.psk_len = strlen(PSK), .vm_name = "bench",
				.timeout_ms = 30000, .tls = tls };
	recv_job rj = { 0 };
	pthread_t th;
	tp_sender *s;
	tp_stats st;
	result r = { 0 };
	double c0t, c0r;
	int64_t t0;

	make_dir(dir, sizeof(dir));
	rj.r = tp_receiver_new(&rc, &err);
	if (!rj.r)
		die("receiver", err.msg);
	pthread_create(&th, NULL, recv_main, &rj);
	s = tp_sender_new(src, h, &sc, &err);
	if (!s || !tp_sender_connect(s, "127.0.0.1", tp_receiver_port(rj.r),
				     &err))
		die("connect", err.msg);
	c0t = cpu_of("tp-tx");
	c0r = cpu_of("tp-rx");
	t0 = qm_now_ns();
	if (!tp_sender_queue(s, 0, src->npages, &err) ||
	    !tp_sender_flush(s, 0, NULL, &err))
		die("transfer", err.msg);
	r.secs = (double)(qm_now_ns() - t0) / 1e9;
	r.tx_cpu = cpu_of("tp-tx") - c0t;
	r.rx_cpu = cpu_of("tp-rx") - c0r;
	tp_sender_get_stats(s, &st);
	r.wire = st.bytes_tx + st.bytes_rx;
	r.ktls = st.ktls;
	if (!tp_sender_commit(s, 0, 30000, &err))
		die("commit", err.msg);
	pthread_join(th, NULL);
	if (!rj.ok)
		die("receiver", rj.err.msg);
	tp_sender_free(s);
	tp_receiver_free(rj.r);
	remove_dir(dir);
	return r;
}

/* ---- driver ---- */

static void keep_best(result *best, result r)
{
	if (!best->secs || r.secs < best->secs)
		*best = r;
}

static void print(const char *mix, const char *what, int n, result r,
		  uint64_t size)
{
	double gb = (double)size / 1e9;

	printf("mix=%s method=%s streams=%d secs=%.3f gbps=%.2f "
	       "tx_cpu_s_per_gb=%.3f rx_cpu_s_per_gb=%.3f wire_bytes=%llu\n",
	       mix, what, n, r.secs, gb * 8 / r.secs, r.tx_cpu / gb,
	       r.rx_cpu / gb, (unsigned long long)r.wire);
}

static int parse_list(const char *s, uint64_t *out)
{
	char buf[128], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok && n < MAX_LIST;
	     tok = strtok_r(NULL, ",", &save))
		out[n++] = strtoull(tok, NULL, 10);
	return n;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--size")) {
			if (!qm_parse_size(argv[i + 1], &opt_size, NULL))
				die("--size", argv[i + 1]);
		} else if (!strcmp(argv[i], "--streams")) {
			opt_nstreams = parse_list(argv[i + 1], opt_streams);
		} else if (!strcmp(argv[i], "--reps")) {
			opt_reps = atoi(argv[i + 1]);
		} else if (!strcmp(argv[i], "--sparse")) {
			opt_sparse = atoi(argv[i + 1]);
		} else if (!strcmp(argv[i], "--tls")) {
			opt_tls = atoi(argv[i + 1]);
		} else if (!strcmp(argv[i], "--mixes")) {
			snprintf(opt_mixes, sizeof(opt_mixes), "%s", argv[i + 1]);
		} else {
			die("unknown option", argv[i]);
		}
	}
}

typedef struct row {
	char mix[16];
	int n;
	result raw, ram, qm, tl;
} row;

static void run_mix(const dl_ram *src, const dl_hasher *h, const char *mix,
		    row *rows, int *nrows)
{
	fill_mix((dl_ram *)src, mix);
	for (int k = 0; k < opt_nstreams; k++) {
		row *w = &rows[(*nrows)++];
		int n = (int)opt_streams[k];

		memset(w, 0, sizeof(*w));
		snprintf(w->mix, sizeof(w->mix), "%s", mix);
		w->n = n;
		for (int rep = 0; rep < opt_reps; rep++) {
			keep_best(&w->raw, run_raw(src, n, false));
			keep_best(&w->ram, run_raw(src, n, true));
			keep_best(&w->qm, run_qmig(src, h, n, false));
			if (opt_tls)
				keep_best(&w->tl, run_qmig(src, h, n, true));
		}
		print(mix, "raw", n, w->raw, src->regions[0].size);
		print(mix, "raw-ram", n, w->ram, src->regions[0].size);
		print(mix, "qmig", n, w->qm, src->regions[0].size);
		if (opt_tls)
			print(mix, w->tl.ktls ? "qmig-ktls" : "qmig-tls", n,
			      w->tl, src->regions[0].size);
		fflush(stdout);
	}
}

static void table(const row *rows, int nrows, const row *rnd, uint64_t size)
{
	double gb = (double)size / 1e9;

	printf("\n%-7s %3s %9s %9s %9s %7s %7s %8s %8s %8s %8s %12s\n", "mix",
	       "N", "raw Gb/s", "ram Gb/s", "qmig", "q/raw", "q/ram",
	       "tx s/GB", "rx s/GB", "rawtx", "rawrx", "wire MB");
	for (int i = 0; i < nrows; i++) {
		const row *w = &rows[i];
		const row *base = w;

		/* Effective throughput of a dedup mix is compared with
		 * raw TCP on random pages at the same stream count. */
		for (int k = 0; rnd && k < nrows; k++)
			if (!strcmp(rows[k].mix, "random") && rows[k].n == w->n)
				base = &rows[k];
		printf("%-7s %3d %9.2f %9.2f %9.2f %7.2f %7.2f %8.3f %8.3f "
		       "%8.3f %8.3f %12.1f\n", w->mix, w->n,
		       gb * 8 / base->raw.secs, gb * 8 / base->ram.secs,
		       gb * 8 / w->qm.secs, base->raw.secs / w->qm.secs,
		       base->ram.secs / w->qm.secs, w->qm.tx_cpu / gb,
		       w->qm.rx_cpu / gb, base->raw.tx_cpu / gb,
		       base->raw.rx_cpu / gb, w->qm.wire / 1e6);
	}
	if (!opt_tls)
		return;
	/* TLS beside plaintext qmig, same mix, same stream count. */
	printf("\n%-7s %3s %9s %9s %7s %8s %8s %8s %8s %5s\n", "mix", "N",
	       "qmig", "tls Gb/s", "tls/q", "tx s/GB", "rx s/GB", "tls tx",
	       "tls rx", "kTLS");
	for (int i = 0; i < nrows; i++) {
		const row *w = &rows[i];

		printf("%-7s %3d %9.2f %9.2f %7.2f %8.3f %8.3f %8.3f %8.3f "
		       "%5s\n", w->mix, w->n, gb * 8 / w->qm.secs,
		       gb * 8 / w->tl.secs, w->qm.secs / w->tl.secs,
		       w->qm.tx_cpu / gb, w->qm.rx_cpu / gb, w->tl.tx_cpu / gb,
		       w->tl.rx_cpu / gb, w->tl.ktls ? "yes" : "no");
	}
}

int main(int argc, char **argv)
{
	char dir[64], path[128], mixes[64], *save = NULL, *mix;
	uint8_t seed[DL_SECRET_SIZE];
	row rows[3 * MAX_LIST];
	qm_error err = QM_ERROR_INIT;
	int nrows = 0, fd;
	dl_hasher h;
	dl_ram src;

	parse_args(argc, argv);
	qm_log_set_level(QM_LOG_WARN);
	make_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/src.ram", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)opt_size))
		die("source RAM", path);
	close(fd);
	dl_ram_init(&src);
	if (!dl_ram_add_file(&src, "ram0", path, opt_size, DL_MAP_WRITE, &err) ||
	    !dl_hasher_init_random(&h, seed, &err))
		die("source RAM", err.msg);
	snprintf(mixes, sizeof(mixes), "%s", opt_mixes);
	for (mix = strtok_r(mixes, ",", &save); mix;
	     mix = strtok_r(NULL, ",", &save))
		run_mix(&src, &h, mix, rows, &nrows);
	table(rows, nrows, rows, opt_size);
	dl_ram_close(&src);
	remove_dir(dir);
	return 0;
}
