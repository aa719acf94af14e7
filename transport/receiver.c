/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The receiver: listen, accept and authenticate the streams of one
 * migration, create the destination RAM from SETUP, announce HAVE from a
 * staged image, then let the stream threads write pages.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct tp_receiver {
	tp_session s;
	tp_tls_ctx *tls;		/* NULL: plaintext */
	uint8_t psk[TP_PSK_MAX];
	size_t psk_len;
	char host[64], ram_dir[256], image_path[256];
	tp_block_path_fn block_path;
	void *block_path_opaque;
	uint64_t max_ram_bytes;
	bool sparse_ram;
	int lfd;
	uint16_t port;
	dl_ram ram, image;
	uint8_t migration_id[TP_MIGRATION_ID_SIZE];
	char vm_name[TP_NAME_MAX];
	bool accepted;
	uint8_t *buf;			/* set-up scratch, TP_RXBUF_SIZE */
};

static bool copy_str(char *dst, size_t len, const char *src, const char *what,
		     qm_error *err)
{
	if (!qm_format(dst, len, "%s", src ? src : ""))
		return qm_error_set(err, QM_ERR_INVAL, "receiver: %s of %zu "
				    "bytes, limit %zu", what, strlen(src),
				    len - 1);
	return true;
}

static bool check_config(tp_receiver *r, const tp_receiver_config *c,
			 qm_error *err)
{
	if (!c->psk || c->psk_len < TP_PSK_MIN || c->psk_len > TP_PSK_MAX)
		return qm_error_set(err, QM_ERR_INVAL, "receiver: pre-shared "
				    "key of %zu bytes, expected %d..%d",
				    c->psk ? c->psk_len : 0, TP_PSK_MIN,
				    TP_PSK_MAX);
	if (!c->block_path && !c->ram_dir)
		return qm_error_set(err, QM_ERR_INVAL, "receiver: neither "
				    "ram_dir nor block_path given");
	return copy_str(r->host, sizeof(r->host), c->listen_host,
			"listen host", err) &&
	       copy_str(r->ram_dir, sizeof(r->ram_dir), c->ram_dir,
			"ram_dir", err) &&
	       copy_str(r->image_path, sizeof(r->image_path), c->staged_image,
			"staged image path", err);
}

tp_receiver *tp_receiver_new(const tp_receiver_config *cfg, qm_error *err)
{
	tp_receiver *r = calloc(1, sizeof(*r));

	if (!r) {
		qm_error_set(err, QM_ERR_NOMEM, "receiver");
		return NULL;
	}
	r->lfd = -1;
	dl_ram_init(&r->ram);
	dl_ram_init(&r->image);
	tp_session_init(&r->s, false, cfg->timeout_ms);
	tp_bucket_init(&r->s.bucket, 0);
	r->s.ram = &r->ram;
	r->s.inbox_max = cfg->inbox_max > 0 ? cfg->inbox_max : 64;
	r->buf = malloc(TP_RXBUF_SIZE);
	if (!r->buf || !check_config(r, cfg, err)) {
		if (!r->buf)
			qm_error_set(err, QM_ERR_NOMEM, "receiver");
		tp_receiver_free(r);
		return NULL;
	}
	memcpy(r->psk, cfg->psk, cfg->psk_len);
	r->psk_len = cfg->psk_len;
	r->block_path = cfg->block_path;
	r->block_path_opaque = cfg->block_path_opaque;
	r->max_ram_bytes = cfg->max_ram_bytes ? cfg->max_ram_bytes : 1ull << 40;
	r->sparse_ram = r->s.sparse_ram = cfg->sparse_ram;
	if (cfg->tls) {
		r->tls = tp_tls_ctx_new(true, cfg->psk, cfg->psk_len, err);
		if (!r->tls) {
			tp_receiver_free(r);
			return NULL;
		}
	}
	r->lfd = tp_sock_listen(r->host, cfg->listen_port, &r->port, err);
	if (r->lfd < 0) {
		tp_receiver_free(r);
		return NULL;
	}
	return r;
}

uint16_t tp_receiver_port(const tp_receiver *r)
{
	return r->port;
}

/* ---- SETUP: the destination RAM and the hasher ---- */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Allocate and map the whole region now (see tp_receiver_config); an
 * older kernel without MADV_POPULATE_WRITE just stays sparse. */
static void populate(const dl_region *rg)
{
	int64_t t0 = qm_now_ns();

	if (madvise(rg->base, rg->size, MADV_POPULATE_WRITE) < 0) {
		pr_warn("RAM backend %s: MADV_POPULATE_WRITE: %s; left sparse",
			rg->path, strerror(errno));
		return;
	}
	pr_debug("RAM backend %s: populated %llu MiB in %lld ms", rg->path,
		 (unsigned long long)(rg->size >> 20),
		 (long long)((qm_now_ns() - t0) / 1000000));
}

/*
 * The destination RAM files start sparse and fill as pages arrive (and,
 * once the VM runs, as the guest touches memory). A store into a shared
 * file mapping whose filesystem is full raises SIGBUS, which would kill
 * the agent mid-migration; so the filesystem must have room for the whole
 * RAM before the first byte is written. Checked per block (blocks may
 * live on different filesystems) against all of the RAM not yet
 * allocated: a full disk is then a clean refusal at SETUP (the source
 * rolls back), never a crash later.
 */
static bool enough_space(const struct statvfs *sv, const char *where,
			 uint64_t need, qm_error *err)
{
	uint64_t avail = (uint64_t)sv->f_bavail * sv->f_frsize;

	if (avail >= need)
		return true;
	return qm_error_errno(err, ENOSPC, "SETUP: %s has %llu MiB free, the "
			      "VM's RAM needs %llu MiB", where,
			      (unsigned long long)(avail >> 20),
			      (unsigned long long)(need >> 20));
}

/*
 * Start empty: the receiver relies on unwritten pages reading as zero (and
 * so does the sender's tracker). A new file is created only once its
 * directory has room for @need bytes. A file that already has the block's
 * size is emptied in place, its pages punched out, rather than truncated:
 * a QEMU started by the caller maps it already and must go on seeing the
 * same file (and a sealed memfd cannot shrink); then its own filesystem
 * must have the room.
 */
static bool fresh_file(const char *path, uint64_t size, uint64_t need,
		       qm_error *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	struct statvfs sv;
	struct stat st;
	char dir[256];
	const char *slash;
	bool ok;

	if (fd < 0 && errno != ENOENT)
		return qm_error_errno(err, errno, "RAM backend %s", path);
	if (fd < 0) {
		slash = strrchr(path, '/');
		snprintf(dir, sizeof(dir), "%.*s",
			 slash && slash != path ? (int)(slash - path) : 1,
			 slash ? path : ".");
		if (statvfs(dir, &sv) < 0)
			return qm_error_errno(err, errno, "SETUP: %s", dir);
		if (!enough_space(&sv, dir, need, err))
			return false;
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return qm_error_errno(err, errno, "RAM backend %s", path);
		close(fd);
		return true;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && size &&
	    (uint64_t)st.st_size == size)
		ok = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			       (off_t)size) == 0 ||
		     qm_error_errno(err, errno, "RAM backend %s: emptying it",
				    path);
	else
		ok = ftruncate(fd, 0) == 0 ||
		     qm_error_errno(err, errno, "RAM backend %s: emptying it",
				    path);
	if (ok && fstatvfs(fd, &sv) < 0)
		ok = qm_error_errno(err, errno, "SETUP: %s", path);
	ok = ok && enough_space(&sv, path, need, err);
	close(fd);
	return ok;
}

/* The same question later, about the files as they are now: room for
 * every page of RAM not allocated yet (see transport.h). */
bool tp_receiver_check_room(const tp_receiver *r, qm_error *err)
{
	uint64_t need = 0, avail;
	struct statvfs sv;
	struct stat st;

	for (int i = 0; i < r->ram.nregions; i++) {
		const dl_region *rg = &r->ram.regions[i];
		uint64_t used;

		if (fstat(rg->fd, &st) < 0)
			return qm_error_errno(err, errno, "%s", rg->path);
		used = (uint64_t)st.st_blocks * 512;
		need += rg->size > used ? rg->size - used : 0;
	}
	if (!r->ram.nregions || fstatvfs(r->ram.regions[0].fd, &sv) < 0)
		return qm_error_errno(err, r->ram.nregions ? errno : EINVAL,
				      "destination RAM filesystem");
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail >= need)
		return true;
	return qm_error_errno(err, ENOSPC, "destination RAM: %llu MiB free, "
			      "the VM needs %llu MiB more once it runs; not "
			      "starting it here",
			      (unsigned long long)(avail >> 20),
			      (unsigned long long)(need >> 20));
}

static bool map_blocks(tp_receiver *r, const tp_frame *f, qm_error *err)
{
	char path[256];
	uint64_t total = f->u.setup.npages * DL_PAGE_SIZE, populated = 0;

	if (total > r->max_ram_bytes)
		return qm_error_set(err, QM_ERR_TOO_BIG, "SETUP: RAM of %llu "
				    "bytes exceeds this receiver's limit %llu",
				    (unsigned long long)total,
				    (unsigned long long)r->max_ram_bytes);
	for (unsigned i = 0; i < f->u.setup.nblocks; i++) {
		const tp_block *b = &f->u.setup.blocks[i];
		bool ok = r->block_path ?
			  r->block_path(r->block_path_opaque, b->id, b->size,
					path, sizeof(path)) :
			  qm_format(path, sizeof(path), "%s/%s.ram",
				    r->ram_dir, b->id);

		if (!ok)
			return qm_error_set(err, QM_ERR_INVAL, "SETUP: no path "
					    "for block %s", b->id);
		if (!fresh_file(path, b->size, total - populated, err) ||
		    !dl_ram_add_file(&r->ram, b->id, path, b->size,
				     DL_MAP_WRITE | DL_MAP_CREATE, err))
			return false;
		if (!r->sparse_ram) {
			populate(&r->ram.regions[r->ram.nregions - 1]);
			populated += b->size;
		}
	}
	return true;
}

static bool do_setup(tp_receiver *r, int fd, int64_t dl, qm_error *err)
{
	static const uint8_t zero_page[DL_PAGE_SIZE];
	tp_frame f;

	if (!tp_sock_read_frame(fd, r->buf, TP_RXBUF_SIZE, &r->s.lim, dl,
				&r->s.setup, &f, err))
		return false;
	if (f.type != TP_FRAME_SETUP)
		return qm_error_set(err, QM_ERR_PROTO, "frame %s, expected "
				    "SETUP", tp_frame_name(f.type));
	memcpy(r->s.h.secret, f.u.setup.secret, DL_SECRET_SIZE);
	r->s.h.zero = dl_hash_page(&r->s.h, zero_page);
	snprintf(r->vm_name, sizeof(r->vm_name), "%s", f.u.setup.vm_name);
	if (!map_blocks(r, &f, err))
		return false;
	r->s.lim.npages = r->ram.npages;
	r->s.unres_bm = calloc((r->ram.npages + 63) / 64, 8);
	r->s.written_bm = calloc((r->ram.npages + 63) / 64, 8);
	if (!r->s.unres_bm || !r->s.written_bm)
		return qm_error_set(err, QM_ERR_NOMEM, "receiver bitmap");
	return tp_sock_write(fd, r->buf, tp_encode_ack(r->buf, TP_RXBUF_SIZE,
			     TP_FRAME_SETUP, 0, 0, r->ram.npages, 0), dl,
			     &r->s.setup, err);
}

/* ---- HAVE from the staged image ---- */

static bool open_image(tp_receiver *r, qm_error *err)
{
	struct stat st;

	if (stat(r->image_path, &st) < 0)
		return qm_error_errno(err, errno, "staged image %s",
				      r->image_path);
	return dl_ram_add_file(&r->image, "image", r->image_path,
			       (uint64_t)st.st_size, 0, err);
}

/* Index the image and announce each distinct non-zero content once, at
 * most as many as the sender's RAM has pages. */
static bool send_have(tp_receiver *r, int fd, int64_t dl, qm_error *err)
{
	const tp_image_index *ix = &r->s.image_ix;
	dl_hash out[TP_MAX_HAVE_HASHES];
	uint64_t sent = 0;
	uint32_t k = 0;
	bool ok = true;

	if (r->image_path[0]) {
		if (!tp_image_index_build(&r->s.image_ix, &r->image, &r->s.h,
					  err))
			return false;
		r->s.image = &r->image;
	}
	for (uint64_t i = 0; ok && i < ix->n && sent < r->s.lim.npages; i++) {
		if (i && dl_hash_eq(ix->v[i].h, ix->v[i - 1].h))
			continue;
		out[k++] = ix->v[i].h;
		sent++;
		if (k == TP_MAX_HAVE_HASHES) {
			ok = tp_sock_write(fd, r->buf, tp_encode_have(r->buf,
					   TP_RXBUF_SIZE, out, k, false), dl,
					   &r->s.setup, err);
			k = 0;
		}
	}
	ok = ok && tp_sock_write(fd, r->buf, tp_encode_have(r->buf,
				 TP_RXBUF_SIZE, out, k, true), dl,
				 &r->s.setup, err);
	pr_info("receiver: announced %llu HAVE hashes",
		(unsigned long long)sent);
	return ok;
}

/* ---- accept ---- */

static bool accept_one(tp_receiver *r, int i, bool *used, qm_error *err)
{
	tp_hs hs = { .cnt = &r->s.setup, .psk = r->psk,
		     .psk_len = r->psk_len, .buf = r->buf };
	qm_error e = QM_ERROR_INIT;
	tp_tls *tls = NULL;
	char name[16];
	int fd, tcp;

	hs.deadline_ns = qm_now_ns() + r->s.timeout_ms * 1000000LL;
	fd = tcp = tp_sock_accept(r->lfd, hs.deadline_ns, err);
	if (fd < 0)
		return false;
	/* TLS first (the pump is renamed once HELLO says which stream). */
	snprintf(name, sizeof(name), "tp-rx-tls%d", i % TP_MAX_STREAMS);
	if (r->tls) {
		tls = tp_tls_open(r->tls, tcp, name, hs.deadline_ns, &fd, err);
		if (!tls) {
			/* The peer heard why: a TLS alert, or a plaintext
			 * ABORT if it spoke plaintext. */
			close(tcp);
			return false;
		}
	}
	if (!tp_hs_server(fd, &hs, i ? r->migration_id : NULL, &e))
		goto fail;
	if (i == 0) {
		memcpy(r->migration_id, hs.migration_id, TP_MIGRATION_ID_SIZE);
		r->s.nstreams = hs.nstreams;
		if (hs.stream != 0)
			qm_error_set(&e, QM_ERR_PROTO, "first connection is "
				     "stream %u, expected 0", hs.stream);
		else if ((!r->image_path[0] || open_image(r, &e)) &&
			 do_setup(r, fd, hs.deadline_ns, &e))
			send_have(r, fd, hs.deadline_ns, &e);
	} else if (hs.nstreams != r->s.nstreams || !hs.stream ||
		   used[hs.stream]) {
		qm_error_set(&e, QM_ERR_PROTO, "HELLO: stream %u of %u, "
			     "expected one of 1..%d not yet open",
			     hs.stream, hs.nstreams, r->s.nstreams - 1);
	}
	if (qm_error_is_set(&e))
		goto fail;
	used[hs.stream] = true;
	r->s.st[hs.stream] = tp_stream_new(&r->s, hs.stream, fd, &tp_rx_ops,
					   false, err);
	if (!r->s.st[hs.stream]) {
		close(fd);
		tp_tls_close(tls);
		return false;
	}
	r->s.st[hs.stream]->tls = tls;
	return true;
fail:
	tp_tls_explain(tls, &e);
	tp_sock_send_abort(fd, e.code == QM_ERR_TOO_BIG ||
			   e.code == QM_ERR_IO || e.code == QM_ERR_INVAL ?
			   TP_ABORT_SETUP : TP_ABORT_PROTOCOL, e.msg);
	close(fd);
	tp_tls_close(tls);
	if (err && !qm_error_is_set(err))
		*err = e;
	return false;
}

bool tp_receiver_accept(tp_receiver *r, qm_error *err)
{
	bool used[TP_MAX_STREAMS] = { false };
	int n = 1;
	bool ok = true;

	if (r->accepted)
		return qm_error_set(err, QM_ERR_STATE, "receiver: already "
				    "accepted a migration");
	for (int i = 0; ok && i < n; i++) {
		ok = accept_one(r, i, used, err);
		n = r->s.nstreams ? r->s.nstreams : 1;
	}
	for (int i = 0; ok && i < r->s.nstreams; i++)
		ok = r->s.st[i] != NULL;
	if (ok)
		ok = tp_session_start(&r->s, err);
	if (!ok) {
		for (int i = 0; i < r->s.nstreams; i++)
			if (r->s.st[i])
				tp_sock_send_abort(r->s.st[i]->fd,
						   TP_ABORT_PROTOCOL,
						   err ? err->msg : "set-up");
		return false;
	}
	r->accepted = true;
	pr_info("receiver: migration of '%s', %d streams, %llu pages",
		r->vm_name, r->s.nstreams, (unsigned long long)r->ram.npages);
	return true;
}

/* ---- after accept ---- */

void tp_receiver_distrust(tp_receiver *r, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < r->ram.npages && p - first < n; p++)
		tp_bit_set(r->s.written_bm, p);
}

const dl_ram *tp_receiver_ram(const tp_receiver *r)
{
	return &r->ram;
}

const dl_hasher *tp_receiver_hasher(const tp_receiver *r)
{
	return &r->s.h;
}

const uint8_t *tp_receiver_migration_id(const tp_receiver *r)
{
	return r->migration_id;
}

const char *tp_receiver_vm_name(const tp_receiver *r)
{
	return r->vm_name;
}

int tp_receiver_recv_ctrl(tp_receiver *r, tp_ctrl *c, int timeout_ms,
			  qm_error *err)
{
	if (!r->accepted)
		return qm_error_set(err, QM_ERR_STATE, "receiver: no "
				    "migration accepted"), -1;
	return tp_session_recv_ctrl(&r->s, c, timeout_ms, err);
}

static bool send_msg(tp_receiver *r, tp_msg *m, size_t len, qm_error *err)
{
	if (!r->accepted || !len) {
		free(m);
		return qm_error_set(err, r->accepted ? QM_ERR_INVAL :
				    QM_ERR_STATE, "receiver: %s",
				    r->accepted ? "control frame over its limit"
				    : "no migration accepted");
	}
	m->len = len;
	return tp_session_send(&r->s, 0, m, err);
}

bool tp_receiver_send_verify(tp_receiver *r, tp_verify_level level,
			     uint64_t first, uint64_t span,
			     const dl_hash *hashes, size_t n, qm_error *err)
{
	tp_msg *m = n <= TP_MAX_VERIFY_HASHES ?
		    tp_msg_new(TP_FRAME_HDR_SIZE + TP_VERIFY_FIXED_LEN + 16 * n) :
		    NULL;

	if (!m)
		return qm_error_set(err, QM_ERR_INVAL, "VERIFY: %zu hashes "
				    "(limit %d)", n, TP_MAX_VERIFY_HASHES);
	return send_msg(r, m, tp_encode_verify(m->data, m->len, level, first,
			span, hashes, (uint32_t)n), err);
}

bool tp_receiver_send_mismatch(tp_receiver *r, tp_mismatch_reason reason,
			       uint64_t round, const uint64_t *pages, size_t n,
			       qm_error *err)
{
	tp_msg *m = n <= TP_MAX_MISMATCH_PAGES ?
		    tp_msg_new(TP_FRAME_HDR_SIZE + TP_MISMATCH_FIXED_LEN +
			       8 * n) : NULL;

	if (!m)
		return qm_error_set(err, QM_ERR_INVAL, "MISMATCH: %zu pages "
				    "(limit %d)", n, TP_MAX_MISMATCH_PAGES);
	return send_msg(r, m, tp_encode_mismatch(m->data, m->len, reason,
			round, pages, (uint32_t)n), err);
}

bool tp_receiver_ack_commit(tp_receiver *r, qm_error *err)
{
	tp_msg *m = tp_msg_new(TP_FRAME_HDR_SIZE + TP_ACK_LEN);
	tp_session *s = &r->s;
	bool ok;

	if (!m)
		return qm_error_set(err, QM_ERR_NOMEM, "ACK");
	m->len = tp_encode_ack(m->data, m->len, TP_FRAME_COMMIT, 0, 0, 0, 0);
	pthread_mutex_lock(&s->lock);
	ok = r->accepted && s->commit_seen && !tp_session_failed_locked(s, err)
	     && s->end == TP_END_OPEN;
	if (ok) {
		/* Ended before the ACK leaves: the sender closes on it, and
		 * that EOF must find the session over. */
		tp_msgq_push(&s->st[0]->ctrl, m);
		s->end = TP_END_COMMITTED;
	} else if (!qm_error_is_set(err)) {
		qm_error_set(err, QM_ERR_STATE, "receiver: no COMMIT to "
			     "acknowledge");
	}
	pthread_mutex_unlock(&s->lock);
	if (!ok) {
		free(m);
		return false;
	}
	tp_session_wake_all(s);
	tp_session_stop(s);	/* stream 0 exits once the ACK is sent */
	pthread_mutex_lock(&s->lock);
	ok = !tp_session_failed_locked(s, err);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

void tp_receiver_abort(tp_receiver *r, tp_abort_code code, const char *msg)
{
	tp_session_abort(&r->s, code, msg);
	tp_session_stop(&r->s);
}

static bool ended(tp_session *s)
{
	return s->end != TP_END_OPEN;
}

bool tp_receiver_wait_end(tp_receiver *r, int timeout_ms, qm_error *err)
{
	tp_session *s = &r->s;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = tp_session_wait(s, ended, qm_now_ns() + timeout_ms * 1000000LL);
	if (rc == 0)
		qm_error_set(err, QM_ERR_TIMEOUT, "receiver: session still "
			     "open after %d ms", timeout_ms);
	else if (!tp_session_failed_locked(s, err) &&
		 s->end != TP_END_COMMITTED)
		qm_error_set(err, QM_ERR_STATE, "receiver: session ended "
			     "without COMMIT");
	rc = rc > 0 && s->end == TP_END_COMMITTED && !s->failed;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void tp_receiver_get_stats(tp_receiver *r, tp_stats *st)
{
	tp_session_stats(&r->s, st);
}

void tp_receiver_free(tp_receiver *r)
{
	if (!r)
		return;
	if (r->accepted)
		tp_session_abort(&r->s, TP_ABORT_CANCELLED, "receiver closed");
	tp_session_destroy(&r->s);
	tp_tls_ctx_free(r->tls);
	dl_ram_close(&r->ram);
	dl_ram_close(&r->image);
	if (r->lfd >= 0)
		close(r->lfd);
	free(r->buf);
	free(r);
}
