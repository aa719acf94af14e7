/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libxxhash.a (Debian libxxhash-dev) lacks the runtime-dispatch entry
 * points that only the shared library has. The static in-VM binary maps
 * the one dirtylog/hash.c calls onto the portable function; the hashes are
 * the same, only the vector unit differs.
 */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxhash.h>
#include <xxh_x86dispatch.h>

XXH128_hash_t XXH3_128bits_withSecret_dispatch(const void *input, size_t len,
					       const void *secret,
					       size_t secret_len)
{
	return XXH3_128bits_withSecret(input, len, secret, secret_len);
}
