/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keyed XXH3-128 page hashes. The runtime-dispatched entry point picks the
 * widest vector unit the CPU has (SSE2/AVX2/AVX-512).
 */
#include "dirtylog/dirtylog.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_generateSecret, secret sizes */
#include <xxhash.h>
#include <xxh_x86dispatch.h>

_Static_assert(DL_SECRET_SIZE == XXH3_SECRET_DEFAULT_SIZE,
	       "secret size must match xxHash's generated secret");

bool dl_hasher_init(dl_hasher *h, const void *seed, size_t seed_len,
		    qm_error *err)
{
	static const uint8_t zero_page[DL_PAGE_SIZE];

	if (!seed || !seed_len)
		return qm_error_set(err, QM_ERR_INVAL, "hash seed is empty");
	if (XXH3_generateSecret(h->secret, sizeof(h->secret), seed, seed_len)
	    != XXH_OK)
		return qm_error_set(err, QM_ERR_INVAL,
				    "XXH3_generateSecret failed");
	h->zero = dl_hash_page(h, zero_page);
	return true;
}

bool dl_hasher_init_random(dl_hasher *h, uint8_t seed_out[DL_SECRET_SIZE],
			   qm_error *err)
{
	size_t got = 0;

	while (got < DL_SECRET_SIZE) {
		ssize_t n = getrandom(seed_out + got, DL_SECRET_SIZE - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return qm_error_errno(err, errno, "getrandom");
		}
		got += n;
	}
	return dl_hasher_init(h, seed_out, DL_SECRET_SIZE, err);
}

dl_hash dl_hash_page(const dl_hasher *h, const void *page)
{
	XXH128_hash_t x = XXH3_128bits_withSecret_dispatch(page, DL_PAGE_SIZE,
							   h->secret,
							   sizeof(h->secret));
	return (dl_hash){ .lo = x.low64, .hi = x.high64 };
}

bool dl_page_is_zero(const void *page)
{
	const uint64_t *w = page;
	uint64_t acc = 0;

	/* OR in blocks so the compiler vectorises; exit early per block. */
	for (unsigned i = 0; i < DL_PAGE_SIZE / 8; i += 64) {
		for (unsigned j = 0; j < 64; j++)
			acc |= w[i + j];
		if (acc)
			return false;
	}
	return true;
}
