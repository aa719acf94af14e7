/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Token bucket shared by a sender's streams. Refilled from the clock on
 * each take; the burst is 20 ms of the rate but never less than one full
 * frame, so a low rate still lets whole frames through, just spaced out.
 */
#include "transport/internal.h"

static double burst_for(uint64_t rate)
{
	return QM_MAX((double)rate / 50.0,
		      (double)(TP_FRAME_HDR_SIZE + TP_PAGES_MAX_LEN));
}

void tp_bucket_init(tp_bucket *b, uint64_t rate)
{
	pthread_mutex_init(&b->lock, NULL);
	b->rate = rate;
	b->burst = burst_for(rate);
	b->tokens = b->burst;
	b->last_ns = qm_now_ns();
}

void tp_bucket_set_rate(tp_bucket *b, uint64_t rate)
{
	pthread_mutex_lock(&b->lock);
	b->rate = rate;
	b->burst = burst_for(rate);
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	pthread_mutex_unlock(&b->lock);
}

int64_t tp_bucket_take(tp_bucket *b, uint64_t bytes, int64_t now_ns)
{
	int64_t wait = 0;

	pthread_mutex_lock(&b->lock);
	if (!b->rate)
		goto out;
	if (now_ns > b->last_ns) {
		b->tokens += (double)(now_ns - b->last_ns) * b->rate / 1e9;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
	}
	b->last_ns = now_ns;
	if (b->tokens >= (double)bytes) {
		b->tokens -= (double)bytes;
	} else {
		wait = (int64_t)(((double)bytes - b->tokens) * 1e9 / b->rate);
		if (wait < 1000)
			wait = 1000;
	}
out:
	pthread_mutex_unlock(&b->lock);
	return wait;
}
