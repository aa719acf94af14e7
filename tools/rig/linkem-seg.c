/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * linkem: split a TCP/IPv4 GSO frame into the wire packets it stands for,
 * so that loss hits single packets. See linkem-int.h.
 *
 * Frames come from a socket buffer at an odd offset (after the 10-byte
 * vnet header): every header field is read and written bytewise.
 */
#include "tools/rig/linkem-int.h"

#include <endian.h>
#include <string.h>

#define ETH_HDR 14
#define ETHERTYPE_IPV4 0x0800
#define PROTO_TCP 6
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static unsigned rd16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, unsigned v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

uint32_t lk_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += rd16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	/* Fold now and then so a long buffer cannot overflow. */
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

uint16_t lk_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

unsigned lk_gso_packets(const struct virtio_net_hdr *vh, size_t flen)
{
	/* The vnet header is little-endian (packet sockets never use the
	 * legacy big-endian form). */
	unsigned gso_size = le16toh(vh->gso_size);
	unsigned hdr_len = le16toh(vh->hdr_len);

	if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE || !gso_size ||
	    hdr_len >= flen)
		return 1;
	return (flen - hdr_len + gso_size - 1) / gso_size;
}

bool lk_gso_parse(const struct virtio_net_hdr *vh, const uint8_t *f,
		  size_t flen, lk_gso *g)
{
	unsigned ihl, thl;
	const uint8_t *ip;

	if ((vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) !=
	    VIRTIO_NET_HDR_GSO_TCPV4 || !le16toh(vh->gso_size))
		return false;
	if (flen < ETH_HDR + 20 || rd16(f + 12) != ETHERTYPE_IPV4)
		return false;
	ip = f + ETH_HDR;
	ihl = (ip[0] & 0x0f) * 4;
	/* Not IPv4, options-free or not, or a fragment: leave it whole. */
	if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != PROTO_TCP ||
	    (rd16(ip + 6) & 0x3fff))
		return false;
	if (flen < ETH_HDR + ihl + 20)
		return false;
	thl = (f[ETH_HDR + ihl + 12] >> 4) * 4;
	if (thl < 20 || flen <= ETH_HDR + ihl + thl)
		return false;
	g->l3 = ETH_HDR;
	g->l4 = ETH_HDR + ihl;
	g->hlen = g->l4 + thl;
	g->mss = le16toh(vh->gso_size);
	g->nseg = (flen - g->hlen + g->mss - 1) / g->mss;
	return true;
}

size_t lk_gso_segment(const uint8_t *f, size_t flen, const lk_gso *g,
		      unsigned i, struct virtio_net_hdr *ovh, uint8_t *out)
{
	size_t off = g->hlen + (size_t)i * g->mss;
	size_t plen = flen - off < g->mss ? flen - off : g->mss;
	unsigned tcp_len = g->hlen - g->l4 + plen;
	uint8_t *ip = out + g->l3, *th = out + g->l4;
	uint8_t flags;
	uint32_t sum;

	memcpy(out, f, g->hlen);
	memcpy(out + g->hlen, f + off, plen);

	/* IP: this segment's length, the next ID, a fresh header checksum
	 * (the kernel's inet_gso_segment numbers segments the same way). */
	wr16(ip + 2, g->hlen - g->l3 + plen);
	wr16(ip + 4, (rd16(f + g->l3 + 4) + i) & 0xffff);
	wr16(ip + 10, 0);
	wr16(ip + 10, ~lk_csum_fold(lk_csum_add(0, ip, g->l4 - g->l3)) &
		      0xffff);

	wr32(th + 4, rd32(f + g->l4 + 4) + i * g->mss);
	flags = th[13];
	if (i)
		flags &= ~TCP_CWR;
	if (i + 1 < g->nseg)
		flags &= ~(TCP_FIN | TCP_PSH);
	th[13] = flags;

	/* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum
	 * (not inverted); whoever completes it adds header and payload. */
	sum = lk_csum_add(0, ip + 12, 8);
	sum += PROTO_TCP + tcp_len;
	wr16(th + 16, lk_csum_fold(sum));

	*ovh = (struct virtio_net_hdr){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_NONE,
		.hdr_len = htole16(g->hlen),
		.csum_start = htole16(g->l4),
		.csum_offset = htole16(16),
	};
	return g->hlen + plen;
}
