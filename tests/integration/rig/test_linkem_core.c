/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmig-linkem's core without a network: the delay line keeps frames in
 * order across the end of its buffer and refuses what does not fit; a TCP
 * GSO frame splits into the packets the kernel's own segmentation would
 * make (lengths, IDs, sequence numbers, flags, both checksums, payload).
 */
#include "tests/qmig_test.h"
#include "tools/rig/linkem-int.h"

#include <endian.h>
#include <string.h>

/* ---- ring ---- */

static void push(lk_ring *r, size_t len, int tag)
{
	lk_entry *e = lk_ring_reserve(r, len);

	assert_non_null(e);
	e->len = len;
	e->pkts = tag;
	e->due = tag;
	memset(e->data, tag, len);
	lk_ring_push(r);
}

static void pop_expect(lk_ring *r, size_t len, int tag)
{
	lk_entry *e = lk_ring_first(r);

	assert_non_null(e);
	assert_int_equal(e->len, len);
	assert_int_equal(e->pkts, tag);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(e->data[i], (uint8_t)tag);
	lk_ring_pop(r);
}

/* FIFO order, wrapping at the end many times over, with sizes that leave
 * odd gaps at the end of the buffer. */
static void test_ring_fifo_wraps(void **state)
{
	lk_ring r;
	int head = 0, tail = 0;

	assert_true(lk_ring_init(&r, 1024));
	for (int round = 0; round < 500; round++) {
		size_t len = 1 + (round * 37) % 200;

		while (lk_ring_reserve(&r, len)) {
			push(&r, len, tail & 0xff);
			tail++;
			if (r.count >= 3)
				break;
		}
		/* Keep one or two queued so head chases tail around. */
		while (r.count > 1) {
			lk_entry *e = lk_ring_first(&r);

			assert_int_equal(e->pkts, head & 0xff);
			pop_expect(&r, e->len, head & 0xff);
			head++;
		}
	}
	assert_true(tail > 500);
	lk_ring_free(&r);
}

/* A full ring refuses, and walking with next() sees every entry in
 * order without removing any. */
static void test_ring_full_and_walk(void **state)
{
	lk_ring r;
	lk_entry *e;
	int n = 0;

	assert_true(lk_ring_init(&r, 512));
	assert_null(lk_ring_reserve(&r, 600));
	while (lk_ring_reserve(&r, 40))
		push(&r, 40, n++);
	assert_int_equal(n, 512 / 64);
	assert_int_equal(r.count, n);
	for (e = lk_ring_first(&r), n = 0; e; e = lk_ring_next(&r, e))
		assert_int_equal(e->pkts, n++);
	assert_int_equal(n, r.count);
	pop_expect(&r, 40, 0);
	pop_expect(&r, 40, 1);
	/* Room again, at the front: the new entry wraps. */
	push(&r, 100, 99);
	for (int i = 2; i < 8; i++)
		pop_expect(&r, 40, i);
	pop_expect(&r, 100, 99);
	assert_null(lk_ring_first(&r));
	lk_ring_free(&r);
}

/* ---- GSO splitting ---- */

#define MSS 1448
#define PAYLOAD 10000
#define ETH 14
#define IPH 20
#define TCPH 32      /* with the timestamp option */
#define HLEN (ETH + IPH + TCPH)

static void put16(uint8_t *p, unsigned v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static unsigned get16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* A frame as a Linux TCP sender hands it to a veth: one IP/TCP header
 * for PAYLOAD bytes, partial checksum, GSO TCPv4. */
static size_t make_gso(uint8_t *f, struct virtio_net_hdr *vh, uint8_t flags)
{
	uint8_t *ip = f + ETH, *th = ip + IPH;

	memset(f, 0, HLEN);
	memset(f, 0xaa, 12);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, IPH + TCPH + PAYLOAD);
	put16(ip + 4, 0xfffe);         /* the ID wraps inside the frame */
	put16(ip + 6, 0x4000);         /* DF */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\xd5\x00\x01\x0a\xd5\x00\x02", 8);
	put16(th, 40000);
	put16(th + 2, 5201);
	memcpy(th + 4, "\xff\xff\xf0\x00", 4); /* seq wraps too */
	th[12] = (TCPH / 4) << 4;
	th[13] = flags;
	put16(th + 14, 512);
	th[20] = 1, th[21] = 1, th[22] = 8, th[23] = 10;
	for (int i = 0; i < PAYLOAD; i++)
		f[HLEN + i] = i * 7 + (i >> 9);
	*vh = (struct virtio_net_hdr){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
		.hdr_len = htole16(HLEN), .gso_size = htole16(MSS),
		.csum_start = htole16(ETH + IPH), .csum_offset = htole16(16),
	};
	return HLEN + PAYLOAD;
}

/* What a NIC (or skb_checksum_help) does with CHECKSUM_PARTIAL, then the
 * receiver's check of the result with the pseudo header. */
static void check_tcp_csum(uint8_t *seg, size_t len)
{
	uint8_t *ip = seg + ETH, *th = ip + IPH;
	size_t tcp_len = len - ETH - IPH;
	uint32_t sum;

	put16(th + 16, ~lk_csum_fold(lk_csum_add(0, th, tcp_len)) & 0xffff);
	sum = lk_csum_add(0, ip + 12, 8) + 6 + tcp_len;
	sum = lk_csum_add(sum, th, tcp_len);
	assert_int_equal(lk_csum_fold(sum), 0xffff);
}

static void test_split_tcp4(void **state)
{
	static uint8_t f[HLEN + PAYLOAD], seg[HLEN + MSS], joined[PAYLOAD];
	struct virtio_net_hdr vh, svh;
	size_t flen = make_gso(f, &vh, 0x80 | 0x18 | 0x01); /* CWR PSH ACK FIN */
	lk_gso g;

	assert_int_equal(lk_gso_packets(&vh, flen), 7);
	assert_true(lk_gso_parse(&vh, f, flen, &g));
	assert_int_equal(g.l4, ETH + IPH);
	assert_int_equal(g.hlen, HLEN);
	assert_int_equal(g.nseg, 7);
	for (unsigned i = 0; i < g.nseg; i++) {
		size_t len = lk_gso_segment(f, flen, &g, i, &svh, seg);
		size_t plen = i < 6 ? MSS : PAYLOAD - 6 * MSS;
		uint8_t *ip = seg + ETH, *th = ip + IPH;

		assert_int_equal(len, HLEN + plen);
		assert_int_equal(get16(ip + 2), IPH + TCPH + plen);
		assert_int_equal(get16(ip + 4), (0xfffe + i) & 0xffff);
		assert_int_equal(lk_csum_fold(lk_csum_add(0, ip, IPH)), 0xffff);
		assert_int_equal(get32(th + 4),
				 (uint32_t)(0xfffff000u + i * MSS));
		assert_int_equal(!!(th[13] & 0x80), i == 0);       /* CWR */
		assert_int_equal(!!(th[13] & 0x09), i == 6);       /* PSH|FIN */
		assert_true(th[13] & 0x10);                         /* ACK */
		assert_memory_equal(th + 20, "\x01\x01\x08\x0a", 4);
		assert_int_equal(svh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		assert_int_equal(svh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(le16toh(svh.csum_start), ETH + IPH);
		assert_int_equal(le16toh(svh.csum_offset), 16);
		check_tcp_csum(seg, len);
		memcpy(joined + i * MSS, seg + HLEN, plen);
	}
	assert_memory_equal(joined, f + HLEN, PAYLOAD);
}

/* What is not TCP/IPv4 GSO stays whole. */
static void test_split_refuses(void **state)
{
	static uint8_t f[HLEN + PAYLOAD];
	struct virtio_net_hdr vh;
	size_t flen = make_gso(f, &vh, 0x10);
	lk_gso g;

	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	assert_false(lk_gso_parse(&vh, f, flen, &g));
	assert_int_equal(lk_gso_packets(&vh, flen), 7);
	make_gso(f, &vh, 0x10);
	put16(f + 12, 0x8100);                 /* VLAN tag */
	assert_false(lk_gso_parse(&vh, f, flen, &g));
	make_gso(f, &vh, 0x10);
	put16(f + ETH + 6, 0x2000);            /* a fragment */
	assert_false(lk_gso_parse(&vh, f, flen, &g));
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	assert_int_equal(lk_gso_packets(&vh, flen), 1);
	assert_false(lk_gso_parse(&vh, f, flen, &g));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_fifo_wraps),
		cmocka_unit_test(test_ring_full_and_walk),
		cmocka_unit_test(test_split_tcp4),
		cmocka_unit_test(test_split_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
