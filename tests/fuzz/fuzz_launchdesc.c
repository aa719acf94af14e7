/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the launch description a peer sends and its rewriting
 * into the destination QEMU's argv (agent/launchdesc.c).
 *
 * Input: byte 0 selects how the rest is read:
 *   bit 0 clear: JSON text through ld_desc_from_json() (the wire form);
 *   bit 0 set:   /proc/PID/cmdline bytes (NUL-separated) with cwd
 *                "/src/dir", which reaches the option parsers without
 *                JSON quoting;
 *   bit 1 set:   the rewrite runs with image roots /images and /src/dir.
 *
 * Then ld_validate() and ld_rewrite(). Invariants, checked on every input:
 *  - a refusal sets the error and leaves the result empty;
 *  - a description ld_validate() accepts is rewritten too unless a file
 *    name is reserved here, and one the rewrite accepts is validated too
 *    unless a path outgrows a limit under the longer validate directory;
 *  - the output starts with the destination binary and ends with
 *    "-incoming defer -S";
 *  - every moved file is one plain file name directly in the VM directory;
 *  - every file backend points at a memory path with its id;
 *  - rewriting the output again from the VM directory gives the same argv
 *    (the output is a fixed point: nothing it contains would be refused or
 *    moved elsewhere);
 *  - the description survives a JSON round trip.
 *
 * Build: -Dfuzz=true with clang (libFuzzer), or linked with replay.c to
 * replay a corpus directory (the meson test does that on every run).
 */
#include "agent/launchdesc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "fuzz_launchdesc: %s:%d: %s\n", \
				__FILE__, __LINE__, #cond);             \
			abort();                                        \
		}                                                       \
	} while (0)

#define VMDIR "/state/vms/vm"

static const char *const reserved[] = { "vm.json", "incoming.sock", NULL };

static const char *const roots[] = { "/images", "/src/dir", NULL };

static const ld_opts plain_opts = {
	.state_dir = "/state",
	.vm_name = "vm",
	.qemu_binary = "/usr/bin/qemu-system-x86_64",
	.reserved_names = reserved,
};

static const ld_opts roots_opts = {
	.state_dir = "/state",
	.vm_name = "vm",
	.qemu_binary = "/usr/bin/qemu-system-x86_64",
	.image_roots = roots,
	.reserved_names = reserved,
};

static bool desc_equal(const ld_desc *a, const ld_desc *b)
{
	if (a->argc != b->argc || strcmp(a->cwd, b->cwd))
		return false;
	for (size_t i = 0; i < a->argc; i++)
		if (strcmp(a->argv[i], b->argv[i]))
			return false;
	return true;
}

static void check_json_roundtrip(const ld_desc *d)
{
	qm_error e = QM_ERROR_INIT;
	json_object *j = ld_desc_to_json(d, &e), *back;
	ld_desc d2;

	CHECK(j);
	back = json_tokener_parse(json_object_to_json_string(j));
	CHECK(back);
	CHECK(ld_desc_from_json(&d2, back, &e));
	CHECK(desc_equal(d, &d2));
	ld_desc_free(&d2);
	json_object_put(back);
	json_object_put(j);
}

static void check_result(const ld_result *r, const ld_opts *opts)
{
	const size_t n = strlen(VMDIR);
	const char *name;

	CHECK(r->argc >= 4 && !r->argv[r->argc]);
	CHECK(!strcmp(r->argv[0], opts->qemu_binary));
	CHECK(!strcmp(r->argv[r->argc - 3], "-incoming"));
	CHECK(!strcmp(r->argv[r->argc - 2], "defer"));
	CHECK(!strcmp(r->argv[r->argc - 1], "-S"));
	CHECK(!strcmp(r->vm_dir, VMDIR));
	for (size_t i = 0; i < r->npaths; i++) {
		CHECK(!strncmp(r->paths[i].dst, VMDIR "/", n + 1));
		name = r->paths[i].dst + n + 1;
		CHECK(*name && !strchr(name, '/'));
		CHECK(strcmp(name, ".") && strcmp(name, ".."));
		CHECK(r->paths[i].src_abs[0] == '/');
		CHECK((unsigned)r->paths[i].kind < LD_PATH__COUNT);
	}
	for (size_t i = 0; i < r->next; i++)
		CHECK(r->ext[i].path[0] == '/');
	for (size_t i = 0; i < r->nbackends; i++) {
		if (r->backends[i].path < 0)
			continue;
		CHECK((size_t)r->backends[i].path < r->npaths);
		CHECK(r->paths[r->backends[i].path].kind == LD_PATH_MEMORY);
		CHECK(!strcmp(r->paths[r->backends[i].path].id,
			      r->backends[i].id));
	}
}

/* The output, rewritten again from the VM directory, must not change. */
static void check_fixed_point(const ld_result *r, const ld_opts *opts)
{
	qm_error e = QM_ERROR_INIT;
	ld_result r2;
	ld_desc d;

	CHECK(ld_desc_set(&d, (const char *const *)r->argv, r->argc,
			  r->vm_dir, &e));
	if (!ld_rewrite(&d, opts, &r2, &e)) {
		fprintf(stderr, "fuzz_launchdesc: second pass: %s\n", e.msg);
		CHECK(!"the output was refused");
	}
	CHECK(r2.argc == r->argc);
	for (size_t i = 0; i < r->argc; i++)
		CHECK(!strcmp(r2.argv[i], r->argv[i]));
	ld_result_free(&r2);
	ld_desc_free(&d);
}

static void run(const ld_desc *d, const ld_opts *opts)
{
	qm_error e = QM_ERROR_INIT, ve = QM_ERROR_INIT;
	bool valid = ld_validate(d, &ve);
	ld_result r;

	CHECK(valid != qm_error_is_set(&ve));
	if (!ld_rewrite(d, opts, &r, &e)) {
		CHECK(qm_error_is_set(&e) && e.msg[0]);
		CHECK(!r.argv && !r.npaths && !r.next && !r.nbackends);
		CHECK(!valid || strstr(e.msg, "is reserved") ||
		      strstr(e.msg, "outside the image roots"));
		return;
	}
	CHECK(valid || strstr(ve.msg, "unix socket limit") ||
	      strstr(ve.msg, "rewritten path is"));
	check_result(&r, opts);
	check_fixed_point(&r, opts);
	ld_result_free(&r);
}

static void from_json(const char *buf, size_t len, const ld_opts *opts)
{
	json_tokener *tok = json_tokener_new();
	qm_error e = QM_ERROR_INIT;
	json_object *j;
	ld_desc d;

	CHECK(tok);
	j = json_tokener_parse_ex(tok, buf, (int)len);
	json_tokener_free(tok);
	if (!j)
		return;
	if (ld_desc_from_json(&d, j, &e)) {
		run(&d, opts);
		check_json_roundtrip(&d);
		ld_desc_free(&d);
	} else {
		CHECK(qm_error_is_set(&e) && !d.argv && !d.cwd);
	}
	json_object_put(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	qm_error e = QM_ERROR_INIT;
	const ld_opts *opts;
	ld_desc d;

	if (size < 1 || size > (1 << 20))
		return 0;
	opts = (data[0] & 2) ? &roots_opts : &plain_opts;
	if (!(data[0] & 1)) {
		from_json((const char *)data + 1, size - 1, opts);
		return 0;
	}
	if (ld_desc_from_cmdline(&d, (const char *)data + 1, size - 1,
				 "/src/dir", &e)) {
		run(&d, opts);
		check_json_roundtrip(&d);
		ld_desc_free(&d);
	} else {
		CHECK(qm_error_is_set(&e) && !d.argv);
	}
	return 0;
}
