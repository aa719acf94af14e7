/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fixture.h"
#include "transport/frame.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

void tf_fill_page(uint8_t *page, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
	uint64_t *w = (uint64_t *)page;

	for (unsigned i = 0; i < DL_PAGE_SIZE / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

void tf_dir_make(tf_dir *d)
{
	snprintf(d->path, sizeof(d->path), "/dev/shm/qmig-tp-test-XXXXXX");
	assert_non_null(mkdtemp(d->path));
}

void tf_dir_remove(tf_dir *d)
{
	char p[512];
	struct dirent *de;
	DIR *dir = opendir(d->path);

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", d->path, de->d_name);
		unlink(p);
	}
	closedir(dir);
	rmdir(d->path);
}

void tf_ram_file(const tf_dir *d, const char *name, uint64_t size,
		 dl_ram *ram, const char *id)
{
	qm_error err = QM_ERROR_INIT;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	if (!dl_ram_add_file(ram, id, path, size, DL_MAP_WRITE, &err))
		fail_msg("%s", err.msg);
}

static uint64_t have_seed(uint64_t p)
{
	return 1000000007ull + p;
}

void tf_fill_mix(dl_ram *ram, tf_mix *m)
{
	uint8_t seen[TF_DUP_SET] = { 0 };

	memset(m, 0, sizeof(*m));
	for (uint64_t p = 0; p < ram->npages; p++) {
		uint8_t *pg = dl_ram_page(ram, p);

		switch (p % 10) {
		case 0: case 1:
			m->zero++;	/* the file is sparse: already zero */
			break;
		case 2: case 3:
			tf_fill_page(pg, 5000000000ull + p / 10 % TF_DUP_SET);
			if (seen[p / 10 % TF_DUP_SET]++)
				m->dup++;
			else
				m->full++;
			break;
		case 4: case 5:
			tf_fill_page(pg, have_seed(p));
			m->have++;
			break;
		default:
			tf_fill_page(pg, p);
			m->full++;
		}
	}
}

void tf_write_image(const tf_dir *d, const char *name, uint64_t npages)
{
	uint8_t page[DL_PAGE_SIZE];
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	for (uint64_t p = npages; p-- > 0;) {
		if (p % 10 != 4 && p % 10 != 5)
			continue;
		tf_fill_page(page, have_seed(p));
		assert_int_equal(fwrite(page, 1, sizeof(page), f), sizeof(page));
	}
	for (int i = 0; i < 16; i++) {
		tf_fill_page(page, 7000000000ull + i);
		assert_int_equal(fwrite(page, 1, sizeof(page), f), sizeof(page));
	}
	fclose(f);
}

tp_receiver *tf_receiver_new_opt(const tf_dir *d, const char *psk,
				 const char *image, bool sparse, bool tls)
{
	tp_receiver_config rc = {
		.listen_host = "127.0.0.1",
		.psk = (const uint8_t *)psk,
		.psk_len = strlen(psk),
		.ram_dir = d->path,
		.staged_image = image,
		.timeout_ms = 5000,
		.sparse_ram = sparse,
		.tls = tls,
	};
	qm_error err = QM_ERROR_INIT;
	tp_receiver *r = tp_receiver_new(&rc, &err);

	if (!r)
		fail_msg("%s", err.msg);
	return r;
}

tp_receiver *tf_receiver_new(const tf_dir *d, const char *psk,
			     const char *image)
{
	return tf_receiver_new_opt(d, psk, image, false, false);
}

tp_receiver *tf_receiver_new_sparse(const tf_dir *d, const char *psk,
				    const char *image)
{
	return tf_receiver_new_opt(d, psk, image, true, false);
}

static void *recv_main(void *arg)
{
	tf_recv *t = arg;
	tp_ctrl c;
	int rc;

	t->accept_ok = tp_receiver_accept(t->r, &t->err);
	while (t->accept_ok &&
	       (rc = tp_receiver_recv_ctrl(t->r, &c, 10000, &t->err)) > 0) {
		tp_frame_type type = c.type;

		if (type == TP_FRAME_DEVSTATE)
			t->devstate_bytes += c.u.devstate.len;
		if (type == TP_FRAME_VERIFY)
			t->verify_frames++;
		tp_ctrl_release(&c);
		if (type == TP_FRAME_COMMIT) {
			t->commit_ok = tp_receiver_ack_commit(t->r, &t->err);
			break;
		}
	}
	return NULL;
}

void tf_recv_start(tf_recv *t, tp_receiver *r)
{
	memset(t, 0, sizeof(*t));
	t->r = r;
	assert_int_equal(pthread_create(&t->thread, NULL, recv_main, t), 0);
}

void tf_recv_join(tf_recv *t)
{
	pthread_join(t->thread, NULL);
}

void tf_sender_config(tp_sender_config *c, int streams, const char *psk)
{
	memset(c, 0, sizeof(*c));
	c->streams = streams;
	c->psk = (const uint8_t *)psk;
	c->psk_len = strlen(psk);
	memset(c->migration_id, 0x5a, sizeof(c->migration_id));
	c->vm_name = "test-vm";
	c->timeout_ms = 5000;
}

void tf_assert_same(const dl_ram *a, const dl_hasher *ha, const dl_ram *b,
		    const dl_hasher *hb)
{
	uint64_t n = a->npages;
	dl_hash *x = calloc(n, sizeof(*x)), *y = calloc(n, sizeof(*y));

	assert_int_equal(a->npages, b->npages);
	assert_int_equal(a->nregions, b->nregions);
	for (int i = 0; i < a->nregions; i++) {
		assert_int_equal(a->regions[i].size, b->regions[i].size);
		if (memcmp(a->regions[i].base, b->regions[i].base,
			   a->regions[i].size)) {
			for (uint64_t p = 0; p < a->regions[i].npages; p++)
				if (memcmp(a->regions[i].base + p * 4096,
					   b->regions[i].base + p * 4096, 4096))
					fail_msg("region %d page %llu differs",
						 i, (unsigned long long)p);
		}
	}
	assert_true(dl_ram_hash_pages(a, ha, 0, n, x, NULL));
	assert_true(dl_ram_hash_pages(b, hb, 0, n, y, NULL));
	assert_memory_equal(x, y, n * sizeof(*x));
	free(x);
	free(y);
}

/* ---- proxy ---- */

typedef struct pconn {
	tf_proxy *p;
	int a, b;
	bool first;
} pconn;

static int connect_target(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Forward a -> b; returns false when the connection must end. */
static bool forward(pconn *c, int from, int to, bool upstream, uint64_t *off)
{
	tf_proxy *p = c->p;
	uint8_t buf[65536];
	ssize_t n = recv(from, buf, sizeof(buf), MSG_DONTWAIT);

	if (n <= 0)
		return n < 0 && errno == EAGAIN;
	if (upstream) {
		pthread_mutex_lock(&p->lock);
		if (c->first && p->rec && p->rec_len < p->record) {
			size_t k = QM_MIN((size_t)n, p->record - p->rec_len);

			memcpy(p->rec + p->rec_len, buf, k);
			p->rec_len += k;
		}
		if (p->garbage_at && *off <= p->garbage_at &&
		    p->garbage_at < *off + (uint64_t)n)
			memset(buf + (p->garbage_at - *off), 0xff,
			       QM_MIN(64, *off + n - p->garbage_at));
		*off += n;
		pthread_mutex_unlock(&p->lock);
		if (p->cut_after && *off >= p->cut_after)
			return false;
	}
	/* Sends time out (SO_SNDTIMEO) so a peer that stopped reading cannot
	 * keep this thread from seeing the stop flag. */
	for (ssize_t off2 = 0, k; off2 < n; off2 += k) {
		k = send(to, buf + off2, n - off2, MSG_NOSIGNAL);
		if (k < 0 && errno == EAGAIN &&
		    !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
			k = 0;
		else if (k < 0)
			return false;
	}
	return true;
}

/* Each direction ends on its own (half-close), like a TCP path would, so
 * a last frame (ABORT) still reaches the other side; a cut ends both. */
static void *pconn_main(void *arg)
{
	pconn *c = arg;
	uint64_t off = 0;
	struct pollfd pf[2] = { { c->a, POLLIN, 0 }, { c->b, POLLIN, 0 } };
	bool up = true, down = true;

	while ((up || down) && !__atomic_load_n(&c->p->stop, __ATOMIC_ACQUIRE)) {
		pf[0].fd = up ? c->a : -1;
		pf[1].fd = down ? c->b : -1;
		if (poll(pf, 2, 50) < 0)
			break;
		if (up && pf[0].revents && !forward(c, c->a, c->b, true, &off)) {
			up = false;
			shutdown(c->b, SHUT_WR);
			if (c->p->cut_after && off >= c->p->cut_after)
				break;
		}
		if (down && pf[1].revents &&
		    !forward(c, c->b, c->a, false, &off)) {
			down = false;
			shutdown(c->a, SHUT_WR);
		}
	}
	shutdown(c->a, SHUT_RDWR);
	shutdown(c->b, SHUT_RDWR);
	close(c->a);
	close(c->b);
	free(c);
	return NULL;
}

static void *proxy_main(void *arg)
{
	tf_proxy *p = arg;
	pthread_t th[TP_MAX_STREAMS];
	struct timeval tmo = { 0, 200000 };
	int n = 0;

	while (n < TP_MAX_STREAMS) {
		struct pollfd pf = { p->lfd, POLLIN, 0 };
		pconn *c;
		int fd;

		if (poll(&pf, 1, 50) <= 0) {
			if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
				break;
			continue;
		}
		fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			break;
		c = calloc(1, sizeof(*c));
		c->p = p;
		c->a = fd;
		c->b = connect_target(p->target);
		setsockopt(c->a, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
		setsockopt(c->b, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
		c->first = n == 0;
		if (c->b < 0) {
			close(fd);
			free(c);
			continue;
		}
		pthread_create(&th[n++], NULL, pconn_main, c);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return NULL;
}

void tf_proxy_start(tf_proxy *p, uint16_t target)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	p->target = target;
	pthread_mutex_init(&p->lock, NULL);
	if (p->record)
		p->rec = calloc(1, p->record);
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 16), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sa, &sl), 0);
	p->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&p->thread, NULL, proxy_main, p), 0);
}

void tf_proxy_stop(tf_proxy *p)
{
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	pthread_join(p->thread, NULL);
	close(p->lfd);	/* p->rec stays: the caller frees it */
	pthread_mutex_destroy(&p->lock);
}

void tf_pair_init(tf_pair *g, uint64_t npages, bool random, bool tls)
{
	memset(g, 0, sizeof(*g));
	tf_dir_make(&g->dsrc);
	tf_dir_make(&g->ddst);
	dl_ram_init(&g->src);
	tf_ram_file(&g->dsrc, "ram0", npages * DL_PAGE_SIZE, &g->src, "ram0");
	for (uint64_t p = 0; random && p < npages; p++)
		tf_fill_page(dl_ram_page(&g->src, p), p + 1);
	assert_true(dl_hasher_init(&g->h, "pair", 4, NULL));
	tf_sender_config(&g->sc, 2, TF_PSK);
	g->sc.tls = tls;
}

void tf_pair_fini(tf_pair *g)
{
	tp_sender_free(g->s);
	if (g->rt.r)
		tp_receiver_free(g->rt.r);
	dl_ram_close(&g->src);
	tf_dir_remove(&g->dsrc);
	tf_dir_remove(&g->ddst);
}

bool tf_pair_connect(tf_pair *g, uint16_t port, qm_error *err)
{
	g->s = tp_sender_new(&g->src, &g->h, &g->sc, err);
	assert_non_null(g->s);
	return tp_sender_connect(g->s, "127.0.0.1", port, err);
}

int tf_raw_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

void tf_assert_msg(const qm_error *e, qm_errcode code, const char *msg)
{
	if (e->code != code || !strstr(e->msg, msg))
		fail_msg("got [%s] (%s), want [%s] (%s)", e->msg,
			 qm_errcode_name(e->code), msg, qm_errcode_name(code));
}
