/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small network measurements between the two sides of a rig, for its
 * tests: a checked TCP transfer and a UDP burst (rig_ping() measures round
 * trips). Sockets are made in the sides' namespaces with rig_socket();
 * nothing here leaves them. Failures print why to stderr and return a
 * negative value / false.
 */
#ifndef QMIG_TEST_RIG_NET_H
#define QMIG_TEST_RIG_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/rig/rig.h"

/* A listening TCP socket on @s's address, or -1. */
int rn_listen(const rig *r, rig_side s, int port);
/* A TCP connection from side @from to the other side's @port within
 * @timeout_ms, or -1 with errno (ETIMEDOUT, ECONNREFUSED, ...). */
int rn_connect(const rig *r, rig_side from, int port, int timeout_ms);
/* accept() with a timeout; -1 if nothing came. */
int rn_accept(int lfd, int timeout_ms);

/* The byte at stream offset @off of the test pattern: misplaced or
 * corrupted segments do not match. */
uint8_t rn_pattern(uint64_t off);
/* Write @len pattern bytes from @off; read and check them. */
bool rn_write_pattern(int fd, uint64_t off, size_t len);
bool rn_read_pattern(int fd, uint64_t off, size_t len, int timeout_ms);

/* Send @bytes from side @from to the other over a new TCP connection on
 * @port; the receiver checks every byte. Returns the goodput in Mbit/s
 * (connect to the receiver's end of stream), or -1. */
double rn_transfer(const rig *r, rig_side from, int port, size_t bytes);

/* @n UDP datagrams of @size bytes from side @from to the other side's
 * @port; *@sent gets how many the sender's kernel took, *@received how
 * many arrived. */
bool rn_udp_burst(const rig *r, rig_side from, int port, int n, int size,
		  int *sent, int *received);

double rn_now_ms(void);

#endif
