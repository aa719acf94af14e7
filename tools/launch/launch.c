/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * launch: start and stop QEMU for the test guest. See launch.h.
 */
#define LOG_PREFIX "launch"
#include "tools/launch/launch-int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef QMIG_GUEST_DEFAULT
#define QMIG_GUEST_DEFAULT ""
#endif

#define ARGV_MAX 96

/* ---- probes ---- */

const char *ql_qemu_binary(void)
{
	static char found[QL_PATH_MAX];
	const char *env = getenv("QMIG_QEMU");
	const char *path = getenv("PATH");
	const char *p, *colon;

	if (env && *env)
		return env;
	if (found[0])
		return found;
	for (p = path ? path : "/usr/bin:/bin"; *p; p = colon + 1) {
		colon = strchrnul(p, ':');
		if (qm_format(found, sizeof(found), "%.*s/qemu-system-x86_64",
			      (int)(colon - p), p) && access(found, X_OK) == 0)
			return found;
		if (!*colon)
			break;
	}
	found[0] = '\0';
	return NULL;
}

const char *ql_guest_kernel(void)
{
	const char *env = getenv("QMIG_GUEST");

	return env && *env ? env : QMIG_GUEST_DEFAULT;
}

bool ql_kvm_usable(char *why, size_t why_len)
{
	return qm_kvm_usable(why, why_len);
}

static bool choose_kvm(ql_accel accel)
{
	const char *env = getenv("QMIG_ACCEL");
	char why[256];

	if (accel == QL_ACCEL_AUTO && env) {
		if (!strcmp(env, "tcg"))
			accel = QL_ACCEL_TCG;
		else if (!strcmp(env, "kvm"))
			accel = QL_ACCEL_KVM;
	}
	if (accel != QL_ACCEL_AUTO)
		return accel == QL_ACCEL_KVM;
	if (ql_kvm_usable(why, sizeof(why)))
		return true;
	pr_debug("using TCG: %s", why);
	return false;
}

/* ---- argv ---- */

typedef struct argv_builder {
	char *v[ARGV_MAX + 1];
	int n;
	bool overflow;
} argv_builder;

static void arg_add(argv_builder *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void arg_add(argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (b->n >= ARGV_MAX) {
		b->overflow = true;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		b->overflow = true;
		return;
	}
	b->v[b->n++] = s;
}

static void argv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static bool build_argv(ql_vm *vm, const ql_vm_opts *o, const char *qemu,
		       const char *kernel, qm_error *err)
{
	argv_builder b = { .n = 0 };
	unsigned long long mib = vm->ram_bytes >> 20;

	arg_add(&b, "%s", qemu);
	arg_add(&b, "-name");
	arg_add(&b, "%s", vm->name);
	arg_add(&b, "-nodefaults");
	arg_add(&b, "-no-user-config");
	arg_add(&b, "-display");
	arg_add(&b, "none");
	arg_add(&b, "-accel");
	arg_add(&b, "%s", vm->kvm ? "kvm" : "tcg");
	arg_add(&b, "-m");
	arg_add(&b, "%lluM", mib);
	if (o->mem == QL_MEM_FILE) {
		arg_add(&b, "-object");
		arg_add(&b, "memory-backend-file,id=ram0,size=%lluM,"
			"mem-path=%s,share=on", mib, vm->mem_path);
	} else if (o->mem == QL_MEM_MEMFD) {
		arg_add(&b, "-object");
		arg_add(&b, "memory-backend-memfd,id=ram0,size=%lluM,share=on",
			mib);
	}
	arg_add(&b, "-machine");
	arg_add(&b, o->mem == QL_MEM_PRIVATE ? "pc" : "pc,memory-backend=ram0");
	arg_add(&b, "-qmp");
	arg_add(&b, "unix:%s,server=on,wait=off", vm->qmp_path);
	arg_add(&b, "-chardev");
	arg_add(&b, "file,id=serial0,path=%s", vm->serial_path);
	arg_add(&b, "-serial");
	arg_add(&b, "chardev:serial0");
	if (kernel && *kernel) {
		arg_add(&b, "-kernel");
		arg_add(&b, "%s", kernel);
		if (o->append) {
			arg_add(&b, "-append");
			arg_add(&b, "%s", o->append);
		}
	}
	if (o->paused)
		arg_add(&b, "-S");
	if (o->incoming) {
		arg_add(&b, "-incoming");
		arg_add(&b, "%s", o->incoming);
	}
	for (const char *const *e = o->extra_args; e && *e; e++)
		arg_add(&b, "%s", *e);

	vm->argv = calloc(b.n + 1, sizeof(char *));
	if (b.overflow || !vm->argv) {
		for (int i = 0; i < b.n; i++)
			free(b.v[i]);
		free(vm->argv);
		vm->argv = NULL;
		return qm_error_set(err, QM_ERR_INVAL,
				    "QEMU command line: more than %d arguments",
				    ARGV_MAX);
	}
	memcpy(vm->argv, b.v, b.n * sizeof(char *));
	return true;
}

/* ---- files ---- */

static void remove_files(ql_vm *vm)
{
	const char *keep = getenv("QMIG_KEEP");

	if (vm->mem_path[0]) {
		unlink(vm->mem_path);
		vm->mem_path[0] = '\0';
	}
	if (!vm->dir[0])
		return;
	if (keep && *keep && strcmp(keep, "0")) {
		pr_info("keeping run dir %s (QMIG_KEEP)", vm->dir);
		vm->dir[0] = '\0';
		return;
	}
	unlink(vm->qmp_path);
	unlink(vm->serial_path);
	unlink(vm->log_path);
	if (rmdir(vm->dir) < 0)
		pr_warn("rmdir %s: %s", vm->dir, strerror(errno));
	vm->dir[0] = '\0';
}

static bool make_files(ql_vm *vm, const ql_vm_opts *o, qm_error *err)
{
	const char *tmp = getenv("TMPDIR");
	const char *shm = o->shm_dir ? o->shm_dir : "/dev/shm";
	int fd;

	if (!qm_format(vm->dir, sizeof(vm->dir), "%s/qmig-%s-XXXXXX",
		       tmp && *tmp ? tmp : "/tmp", vm->name)) {
		vm->dir[0] = '\0';
		return qm_error_set(err, QM_ERR_TOO_BIG, "TMPDIR path too long");
	}
	if (!mkdtemp(vm->dir)) {
		qm_error_errno(err, errno, "creating run dir %s", vm->dir);
		vm->dir[0] = '\0';
		return false;
	}
	if (!qm_format(vm->qmp_path, sizeof(vm->qmp_path), "%s/qmp.sock",
		       vm->dir) ||
	    !qm_format(vm->serial_path, sizeof(vm->serial_path),
		       "%s/serial.log", vm->dir) ||
	    !qm_format(vm->log_path, sizeof(vm->log_path), "%s/qemu.log",
		       vm->dir))
		return qm_error_set(err, QM_ERR_TOO_BIG, "run dir path too long");
	if (o->mem != QL_MEM_FILE)
		return true;
	if (!qm_format(vm->mem_path, sizeof(vm->mem_path),
		       "%s/qmig-%s-%d-XXXXXX.ram", shm, vm->name, (int)getpid())) {
		vm->mem_path[0] = '\0';
		return qm_error_set(err, QM_ERR_TOO_BIG, "shm dir path too long");
	}
	fd = mkostemps(vm->mem_path, 4, O_CLOEXEC);
	if (fd < 0) {
		qm_error_errno(err, errno, "creating RAM file %s", vm->mem_path);
		vm->mem_path[0] = '\0';
		return false;
	}
	close(fd);
	return true;
}

/* ---- process ---- */

bool ql__netns_path(const char *netns, char *path, size_t len,
		    qm_error *err)
{
	path[0] = '\0';
	if (!netns)
		return true;
	if (!*netns || strchr(netns, '/') || !strcmp(netns, ".") ||
	    !strcmp(netns, ".."))
		return qm_error_set(err, QM_ERR_INVAL, "network namespace '%s': "
				    "expected a name under /run/netns", netns);
	if (!qm_format(path, len, "/run/netns/%s", netns))
		return qm_error_set(err, QM_ERR_TOO_BIG, "network namespace "
				    "name '%s' too long", netns);
	if (access(path, F_OK) < 0)
		return qm_error_errno(err, errno, "network namespace '%s' (%s)",
				      netns, path);
	return true;
}

void ql__exec_logged(char *const *argv, const char *log_path, bool append,
		     const char *netns_path)
{
	int null = open("/dev/null", O_RDONLY);
	int log = open(log_path, O_WRONLY | O_CREAT |
		       (append ? O_APPEND : O_TRUNC), 0600);
	int ns;

	/* Dies with the thread that launched it: no stray process after a
	 * crashed test. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (null < 0 || log < 0)
		_exit(127);
	dup2(null, STDIN_FILENO);
	dup2(log, STDOUT_FILENO);
	dup2(log, STDERR_FILENO);
	if (netns_path && *netns_path) {
		/* Checked by the parent; this can still fail if the
		 * namespace went away in between: say so in the log. */
		ns = open(netns_path, O_RDONLY | O_CLOEXEC);
		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
			dprintf(STDERR_FILENO, "network namespace %s: %s\n",
				netns_path, strerror(errno));
			_exit(127);
		}
		close(ns);
	}
	closefrom(3);
	execv(argv[0], argv);
	dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

void ql__log_tail(const char *path, char *out, size_t len)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(buf) - 1)
		lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	/* Keep the end: the last lines say why QEMU stopped. */
	if ((size_t)n >= len) {
		memmove(buf, buf + n - (len - 1), len);
		n = len - 1;
	}
	memcpy(out, buf, n + 1);
}

/*
 * QEMU listens on the QMP socket early but greets a client only from its
 * main loop, after the machine and memory backends exist: a greeting means
 * the VM is fully set up (the RAM file has its size, -S has taken effect).
 */
static bool qmp_greets(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	char buf[512];
	ssize_t n;
	bool ok = false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	if (!qm_format(sa.sun_path, sizeof(sa.sun_path), "%s", path) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		ok = strstr(buf, "\"QMP\"") != NULL;
	}
out:
	close(fd);
	return ok;
}

void ql__sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool wait_ready(ql_vm *vm, int timeout_ms, qm_error *err)
{
	int64_t deadline = qm_now_ms() + timeout_ms;
	char tail[1024];

	while (qm_now_ms() < deadline) {
		if (!ql_vm_alive(vm)) {
			ql__log_tail(vm->log_path, tail, sizeof(tail));
			return qm_error_set(err, QM_ERR_IO,
					    "QEMU exited during start-up: %s",
					    tail[0] ? tail : "(no output)");
		}
		if (qmp_greets(vm->qmp_path))
			return true;
		ql__sleep_ms(5);
	}
	return qm_error_set(err, QM_ERR_TIMEOUT,
			    "QEMU's QMP socket %s not ready after %d ms",
			    vm->qmp_path, timeout_ms);
}

static bool check_opts(const ql_vm_opts *o, const char *kernel, qm_error *err)
{
	if (o->ram_bytes && (o->ram_bytes & ((1 << 20) - 1)))
		return qm_error_set(err, QM_ERR_INVAL,
				    "RAM size %llu is not a multiple of 1 MiB",
				    (unsigned long long)o->ram_bytes);
	if (kernel && *kernel && access(kernel, R_OK) < 0)
		return qm_error_errno(err, errno, "guest kernel %s", kernel);
	return true;
}

bool ql_vm_start(ql_vm *vm, const ql_vm_opts *o, qm_error *err)
{
	const char *qemu = ql_qemu_binary();
	const char *kernel = o->kernel ? o->kernel : ql_guest_kernel();
	char netns_path[QL_PATH_MAX];

	memset(vm, 0, sizeof(*vm));
	snprintf(vm->name, sizeof(vm->name), "%s", o->name ? o->name : "vm");
	vm->ram_bytes = o->ram_bytes ? o->ram_bytes : 256ULL << 20;
	vm->kvm = choose_kvm(o->accel);
	if (!qemu)
		return qm_error_set(err, QM_ERR_NOTFOUND,
				    "qemu-system-x86_64 not found in PATH");
	if (!check_opts(o, kernel, err) ||
	    !ql__netns_path(o->netns, netns_path, sizeof(netns_path), err))
		return false;
	if (!make_files(vm, o, err) || !build_argv(vm, o, qemu, kernel, err))
		goto fail;
	vm->pid = fork();
	if (vm->pid < 0) {
		qm_error_errno(err, errno, "fork");
		vm->pid = 0;
		goto fail;
	}
	if (vm->pid == 0)
		ql__exec_logged(vm->argv, vm->log_path, false, netns_path);
	if (!wait_ready(vm, o->start_timeout_ms ? o->start_timeout_ms : 10000,
			err))
		goto fail;
	pr_debug("started %s pid %d (%s)", vm->name, (int)vm->pid,
		 vm->kvm ? "kvm" : "tcg");
	return true;
fail:
	ql_vm_stop(vm);
	return false;
}

bool ql_vm_alive(ql_vm *vm)
{
	int status;
	pid_t r;

	if (vm->pid <= 0)
		return false;
	r = waitpid(vm->pid, &status, WNOHANG);
	if (r == 0)
		return true;
	if (r == vm->pid) {
		vm->exited = true;
		vm->wait_status = status;
		vm->pid = 0;
	}
	return false;
}

int ql__stop_pid(pid_t pid)
{
	int64_t deadline = qm_now_ms() + STOP_GRACE_MS;
	int status = -1;

	kill(pid, SIGTERM);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (qm_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		ql__sleep_ms(5);
	}
	return status;
}

int ql_vm_stop(ql_vm *vm)
{
	int status = -1;

	if (vm->pid > 0)
		status = ql__stop_pid(vm->pid);
	else if (vm->exited)
		status = vm->wait_status;
	vm->pid = 0;
	remove_files(vm);
	argv_free(vm->argv);
	vm->argv = NULL;
	return status;
}
