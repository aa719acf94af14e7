/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to qmig-linkem (and its unit test): the per-direction delay line
 * and the splitting of TCP/IPv4 GSO frames into wire packets.
 */
#ifndef QMIG_LINKEM_INT_H
#define QMIG_LINKEM_INT_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LK_VNET_LEN sizeof(struct virtio_net_hdr)

/* ---- delay line: a FIFO of frames in one contiguous byte ring ----
 * The delay is the same for every frame of a direction, so frames leave in
 * the order they came: a FIFO is the whole timer wheel. Entries never
 * straddle the end of the buffer (a wrap marker sends the reader back to
 * the start), so each one goes to sendmmsg as a single iovec. */

#define LK_WRAP UINT32_MAX

typedef struct lk_entry {
	int64_t due;       /* CLOCK_MONOTONIC ns when it may leave */
	uint32_t len;      /* bytes of data[]: vnet header + frame; or LK_WRAP */
	uint32_t pkts;     /* wire packets it stands for, for the stats */
	uint8_t data[];
} lk_entry;

typedef struct lk_ring {
	uint8_t *buf;
	size_t cap;
	size_t head;       /* oldest entry */
	size_t tail;       /* where the next entry goes */
	size_t count;      /* entries queued */
	size_t reserved;   /* offset handed out by lk_ring_reserve */
} lk_ring;

bool lk_ring_init(lk_ring *r, size_t cap);
void lk_ring_free(lk_ring *r);
/* Room for an entry with @len data bytes, or NULL when the ring is full.
 * Fill it (len included), then lk_ring_push(). */
lk_entry *lk_ring_reserve(lk_ring *r, size_t len);
void lk_ring_push(lk_ring *r);
/* Oldest entry (NULL if empty); lk_ring_next() walks the queue without
 * removing: pass the previous entry. */
lk_entry *lk_ring_first(const lk_ring *r);
lk_entry *lk_ring_next(const lk_ring *r, const lk_entry *e);
void lk_ring_pop(lk_ring *r);

/* ---- splitting GSO frames ----
 * With loss configured, a drop must hit one wire packet, not a 64 KiB
 * super-packet. A TCP/IPv4 GSO frame (Ethernet, no VLAN tag) is split here
 * the way the kernel's tcp_gso_segment would: headers copied, IP length,
 * ID and checksum rewritten, sequence numbers advanced, FIN/PSH kept only
 * on the last segment and CWR only on the first. Segments leave with
 * CHECKSUM_PARTIAL (the pseudo-header sum in the TCP checksum field), as
 * the original frame did. */

typedef struct lk_gso {
	unsigned l3;       /* offset of the IP header */
	unsigned l4;       /* offset of the TCP header */
	unsigned hlen;     /* offset of the payload */
	unsigned mss;
	unsigned nseg;
} lk_gso;

/* Wire packets a frame stands for: 1 unless it is a GSO frame. */
unsigned lk_gso_packets(const struct virtio_net_hdr *vh, size_t flen);
/* true if @f is a TCP/IPv4 GSO frame this code can split; fills @g. */
bool lk_gso_parse(const struct virtio_net_hdr *vh, const uint8_t *f,
		  size_t flen, lk_gso *g);
/* Segment @i of the frame: its vnet header into @ovh, the packet into
 * @out (room for g->hlen + g->mss bytes). Returns the packet's length. */
size_t lk_gso_segment(const uint8_t *f, size_t flen, const lk_gso *g,
		      unsigned i, struct virtio_net_hdr *ovh, uint8_t *out);

/* Internet checksum helpers (RFC 1071), on big-endian 16-bit words. */
uint32_t lk_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t lk_csum_fold(uint32_t sum);

#endif /* QMIG_LINKEM_INT_H */
