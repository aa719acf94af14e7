/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * launchdesc: a VM's launch description (its QEMU argv and working
 * directory) and its rewriting into the argv of the destination QEMU.
 *
 * The source agent reads the description of a running QEMU from /proc
 * (ld_desc_from_pid()), checks on attach that it can be migrated
 * (ld_validate()), and sends it to the destination as JSON
 * (ld_desc_to_json()). The destination agent parses it back
 * (ld_desc_from_json(), peer-facing: every type and limit is checked),
 * rewrites it (ld_rewrite()), stats the disk and kernel images it keeps
 * (ld_check_external()), creates the RAM files, and execv()s the result
 * from inside the VM directory. docs/LAUNCH.md states the rules with
 * examples; in short:
 *
 *  - argv is a vector from end to end, never a shell string;
 *  - only options on an allow-list pass, and within them only the object
 *    types, chardev backends, netdev types and parameters that cannot make
 *    QEMU run a program, listen on the network or read host files other
 *    than the VM's own images;
 *  - files QEMU creates (memory-backend mem-path, QMP and monitor sockets,
 *    chardev files, sockets and pipes, -pidfile, -D, chardev logfile) move
 *    to the same file name under STATE_DIR/vms/<vm name>/;
 *  - disk, kernel, initrd and firmware images keep their path (shared
 *    storage; relative ones are made absolute against the source's cwd);
 *  - -incoming, -S and -daemonize are dropped and "-incoming defer -S"
 *    appended;
 *  - every option left untouched is copied byte for byte; a rewritten
 *    option keeps every untouched parameter byte for byte and re-escapes
 *    commas in the new values.
 *
 * Threads: the functions keep no state; distinct objects may be used from
 * distinct threads.
 */
#ifndef QMIG_AGENT_LAUNCHDESC_H
#define QMIG_AGENT_LAUNCHDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "common/common.h"

/* Limits on a description (both on what the source reads and on what the
 * destination accepts from its peer). */
#define LD_MAX_ARGS 1024            /* arguments, argv[0] included */
#define LD_MAX_ARG_LEN 16384        /* bytes in one argument */
#define LD_MAX_TOTAL (256 * 1024)   /* bytes in all arguments, NULs included */
#define LD_MAX_PATH 4095            /* bytes in a path (cwd, any file) */
#define LD_MAX_NAME 64              /* bytes in a VM name */
#define LD_UNIX_PATH_MAX 107        /* sizeof(sun_path) - 1 */
#define LD_DESC_VERSION 1           /* "version" of the JSON form */

/**
 * struct ld_desc - what the source sends: the QEMU argv and its cwd.
 * @argv: NULL-terminated, owned; argv[0] is the source's QEMU binary
 *        (informative: the destination runs its own, see ld_opts).
 * @argc: number of arguments, argv[0] included.
 * @cwd:  the source QEMU's working directory, absolute, owned.
 */
typedef struct ld_desc {
	char **argv;
	size_t argc;
	char *cwd;
} ld_desc;

/**
 * enum ld_path_kind - what a rewritten file is for.
 * @LD_PATH_MEMORY:  memory-backend-file mem-path (the RAM file).
 * @LD_PATH_QMP:     a QMP monitor: -qmp, or a chardev used by
 *                   -mon mode=control.
 * @LD_PATH_MONITOR: an HMP monitor: -monitor, or a chardev used by -mon.
 * @LD_PATH_SERIAL:  a serial port: -serial, or a chardev used by -serial
 *                   chardev:ID or by an isa-serial/pci-serial device.
 * @LD_PATH_CHARDEV: any other chardev file, socket or pipe.
 * @LD_PATH_PIDFILE: -pidfile.
 * @LD_PATH_LOG:     -D, and a chardev's logfile=.
 * @LD_PATH__COUNT:  number of kinds.
 *
 * A chardev used in several roles takes the first of QMP, SERIAL, MONITOR.
 */
typedef enum ld_path_kind {
	LD_PATH_MEMORY = 0,
	LD_PATH_QMP,
	LD_PATH_MONITOR,
	LD_PATH_SERIAL,
	LD_PATH_CHARDEV,
	LD_PATH_PIDFILE,
	LD_PATH_LOG,
	LD_PATH__COUNT
} ld_path_kind;

/**
 * struct ld_path - one file moved into the VM directory.
 * @kind:     what it is for.
 * @option:   the option it came from, as spelled ("-chardev").
 * @key:      the parameter ("path", "mem-path", "logfile"), NULL when the
 *            path is the whole value or a "file:"/"pipe:" form.
 * @id:       chardev or memory backend id, NULL if none.
 * @src:      the path as the source's argv has it.
 * @src_abs:  @src resolved against the source cwd and normalised.
 * @dst:      VM directory + "/" + the file name of @src.
 * @socket:   a unix socket.
 * @server:   ... on which QEMU listens (server=on).
 * @pipe:     a chardev pipe: QEMU opens @dst, or @dst.in and @dst.out.
 * @size:     memory backend size in bytes, when @has_size.
 * @has_size: the backend gave a size.
 */
typedef struct ld_path {
	ld_path_kind kind;
	char *option;
	char *key;
	char *id;
	char *src;
	char *src_abs;
	char *dst;
	bool socket;
	bool server;
	bool pipe;
	uint64_t size;
	bool has_size;
} ld_path;

/**
 * enum ld_ext_kind - a file kept at its path (shared storage).
 * @LD_EXT_DISK:     -drive file=/filename=, -blockdev filename=.
 * @LD_EXT_KERNEL:   -kernel, -machine kernel=.
 * @LD_EXT_INITRD:   -initrd, -machine initrd= (one per multiboot module).
 * @LD_EXT_FIRMWARE: -bios, -machine firmware= and dtb= (bare names are
 *                   QEMU firmware names and are not listed).
 * @LD_EXT__COUNT:   number of kinds.
 */
typedef enum ld_ext_kind {
	LD_EXT_DISK = 0,
	LD_EXT_KERNEL,
	LD_EXT_INITRD,
	LD_EXT_FIRMWARE,
	LD_EXT__COUNT
} ld_ext_kind;

/**
 * struct ld_ext - an external file the destination QEMU will open.
 * @kind:   what it is.
 * @option: the option, as spelled ("-drive").
 * @key:    the parameter ("file"), NULL for -kernel, -initrd, -bios.
 * @src:    the path as the source's argv has it.
 * @path:   the path passed to the destination QEMU: @src, or @src joined
 *          to the source cwd when relative (not normalised: symlinks keep
 *          their meaning).
 */
typedef struct ld_ext {
	ld_ext_kind kind;
	char *option;
	char *key;
	char *src;
	char *path;
} ld_ext;

/**
 * enum ld_backend_type - memory backend object types.
 * @LD_BACKEND_FILE:  memory-backend-file (has an ld_path).
 * @LD_BACKEND_MEMFD: memory-backend-memfd (no path; found in /proc later).
 * @LD_BACKEND_RAM:   memory-backend-ram (private: not usable by the engine).
 */
typedef enum ld_backend_type {
	LD_BACKEND_FILE = 0,
	LD_BACKEND_MEMFD,
	LD_BACKEND_RAM,
} ld_backend_type;

/**
 * struct ld_backend - one memory backend of the VM.
 * @type:     object type.
 * @id:       object id.
 * @size:     bytes, when @has_size.
 * @has_size: size= was given.
 * @share:    share=on (QEMU's default: on for memfd, off otherwise).
 * @path:     index of its mem-path in ld_result.paths, -1 if none.
 */
typedef struct ld_backend {
	ld_backend_type type;
	char *id;
	uint64_t size;
	bool has_size;
	bool share;
	int path;
} ld_backend;

/**
 * struct ld_opts - where and how the destination runs the VM.
 * @state_dir:      the destination agent's state directory: absolute,
 *                  normalised (no "." or ".." components, no "//", no
 *                  trailing "/"), without ',' or '='.
 * @vm_name:        the VM's name, one file name component:
 *                  [A-Za-z0-9_.-], not starting with '.', at most
 *                  LD_MAX_NAME bytes.
 * @qemu_binary:    absolute path of the destination's QEMU (argv[0]).
 * @image_roots:    NULL, or a NULL-terminated list of absolute directories:
 *                  every kept path must lie under one of them (checked
 *                  lexically by ld_rewrite(), after resolving symlinks by
 *                  ld_check_external()). NULL trusts the peer's paths.
 * @reserved_names: NULL, or a NULL-terminated list of file names the
 *                  destination agent itself uses in the VM directory (its
 *                  incoming migration socket, QEMU's stderr log): a
 *                  rewritten file with one of these names is refused.
 */
typedef struct ld_opts {
	const char *state_dir;
	const char *vm_name;
	const char *qemu_binary;
	const char *const *image_roots;
	const char *const *reserved_names;
} ld_opts;

/**
 * struct ld_result - the destination QEMU's command line and its files.
 * @argv:      NULL-terminated, owned, for execv(); argv[0] is
 *             ld_opts.qemu_binary; ends with "-incoming", "defer", "-S".
 * @argc:      number of arguments.
 * @vm_dir:    STATE_DIR/vms/<vm name>: every rewritten file lies directly
 *             in it. Create it, and run QEMU with it as cwd (so that a
 *             bare firmware name cannot find a file anywhere else).
 * @paths:     files moved into @vm_dir, in argv order.
 * @npaths:    number of @paths.
 * @ext:       files kept at their path, to check with ld_check_external().
 * @next:      number of @ext.
 * @backends:  memory backends, in argv order.
 * @nbackends: number of @backends.
 */
typedef struct ld_result {
	char **argv;
	size_t argc;
	char *vm_dir;
	ld_path *paths;
	size_t npaths;
	ld_ext *ext;
	size_t next;
	ld_backend *backends;
	size_t nbackends;
} ld_result;

/* ---- descriptions ---- */

/** ld_desc_init() - make @d empty (safe to free). @d: the description. */
void ld_desc_init(ld_desc *d);

/** ld_desc_free() - free what @d owns and make it empty. @d: may be empty. */
void ld_desc_free(ld_desc *d);

/**
 * ld_desc_set() - build a description from a vector.
 * @d:    overwritten (not freed first); empty on failure.
 * @argv: @argc strings, copied.
 * @argc: at least 1, at most LD_MAX_ARGS.
 * @cwd:  absolute working directory, copied.
 * @err:  error out.
 *
 * Return: true, or false with QM_ERR_INVAL / QM_ERR_TOO_BIG (limits named
 * with both values) or QM_ERR_NOMEM.
 */
bool ld_desc_set(ld_desc *d, const char *const *argv, size_t argc,
		 const char *cwd, qm_error *err);

/**
 * ld_desc_from_cmdline() - parse the bytes of /proc/PID/cmdline.
 * @d:   overwritten; empty on failure.
 * @buf: arguments, each ended by a NUL (a missing final NUL is tolerated);
 *       an empty argument (two NULs in a row) is an argument.
 * @len: bytes in @buf.
 * @cwd: absolute working directory, copied.
 * @err: error out.
 *
 * Return: true, or false (empty buffer, limits, bad cwd).
 */
bool ld_desc_from_cmdline(ld_desc *d, const char *buf, size_t len,
			  const char *cwd, qm_error *err);

/**
 * ld_desc_from_pid() - read a live process's argv and cwd.
 * @d:   overwritten; empty on failure.
 * @pid: the process (QEMU), readable by this user.
 * @err: error out: QM_ERR_IO naming /proc/PID/cmdline or /proc/PID/cwd,
 *       QM_ERR_NOTFOUND for a process without a command line (exited,
 *       zombie, kernel thread), or the limits of ld_desc_set().
 *
 * Return: true on success.
 */
bool ld_desc_from_pid(ld_desc *d, pid_t pid, qm_error *err);

/**
 * ld_desc_to_json() - the wire form of @d.
 * @d:   a description.
 * @err: error out (QM_ERR_NOMEM).
 *
 * Return: a new object {"version": 1, "argv": [...], "cwd": "..."}
 * (release with json_object_put()), or NULL.
 */
json_object *ld_desc_to_json(const ld_desc *d, qm_error *err);

/**
 * ld_desc_from_json() - parse a description received from the peer.
 * @d:   overwritten; empty on failure.
 * @j:   the peer's JSON value.
 * @err: error out: QM_ERR_PROTO for a wrong shape (not an object, unknown
 *       or missing member, wrong type, wrong version, NUL byte in a
 *       string, relative cwd) and QM_ERR_TOO_BIG for a limit, each naming
 *       the member and both values.
 *
 * Return: true on success.
 */
bool ld_desc_from_json(ld_desc *d, const json_object *j, qm_error *err);

/* ---- rewriting ---- */

/**
 * ld_rewrite() - the destination QEMU's argv for the VM @d describes.
 * @d:   the description.
 * @o:   state directory, VM name, QEMU binary, optional limits.
 * @r:   overwritten; on failure it is empty (ld_result_free() is safe).
 * @err: error out. Refusals are QM_ERR_INVAL (QM_ERR_TOO_BIG for a path
 *       over a limit), with a message "OPTION VALUE: reason" naming the
 *       parameter and its value; two rewritten files with one file name
 *       name both options.
 *
 * Return: true on success.
 */
bool ld_rewrite(const ld_desc *d, const ld_opts *o, ld_result *r,
		qm_error *err);

/**
 * ld_validate() - can the VM @d describes be migrated at all?
 * @d:   the description (the source calls this on attach).
 * @err: error out, as ld_rewrite().
 *
 * Runs every check of ld_rewrite() that does not depend on the
 * destination: the allow-list, the parameters, the file names (two
 * rewritten files with one file name are refused here). The destination
 * repeats them with its own state dir, which can add a socket path that
 * grows over LD_UNIX_PATH_MAX or a reserved name.
 *
 * Return: true if ld_rewrite() would accept @d.
 */
bool ld_validate(const ld_desc *d, qm_error *err);

/** ld_result_free() - free what @r owns and make it empty. @r: the result. */
void ld_result_free(ld_result *r);

/**
 * ld_result_find() - the first rewritten file of a kind.
 * @r:    a result.
 * @kind: the kind.
 * @id:   NULL for any, else the chardev or backend id it must have.
 *
 * Return: the entry, or NULL.
 */
const ld_path *ld_result_find(const ld_result *r, ld_path_kind kind,
			      const char *id);

/**
 * ld_result_qmp() - the QMP socket the destination agent connects to.
 * @r: a result.
 *
 * Return: the first QMP entry that is a unix socket QEMU listens on, or
 * NULL if the VM has none (the agent cannot drive such a QEMU).
 */
const ld_path *ld_result_qmp(const ld_result *r);

/**
 * ld_check_external() - do the kept files exist on this host?
 * @r:           a result of ld_rewrite().
 * @image_roots: as ld_opts.image_roots (NULL: no restriction); here the
 *               check resolves symlinks (realpath), so a link that leads
 *               out of the roots is refused.
 * @err:         error out: QM_ERR_NOTFOUND or QM_ERR_IO ("-drive
 *               file=/img/a.qcow2: No such file or directory"),
 *               QM_ERR_INVAL for a wrong file type (a disk must be a
 *               regular file or a block device, an image a regular file)
 *               or a path outside the roots.
 *
 * Return: true if every kept file is there.
 */
bool ld_check_external(const ld_result *r, const char *const *image_roots,
		       qm_error *err);

/** ld_path_kind_name() - "memory", "qmp", ... @k: the kind.
 * Return: a static string; "unknown" when out of range. */
const char *ld_path_kind_name(ld_path_kind k);

/** ld_ext_kind_name() - "disk", "kernel", ... @k: the kind.
 * Return: a static string; "unknown" when out of range. */
const char *ld_ext_kind_name(ld_ext_kind k);

#endif /* QMIG_AGENT_LAUNCHDESC_H */
