/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char *const errcode_names[QM_ERR__COUNT] = {
	[QM_OK] = "ok",
	[QM_ERR_INVAL] = "invalid-argument",
	[QM_ERR_IO] = "io",
	[QM_ERR_PROTO] = "protocol",
	[QM_ERR_TOO_BIG] = "too-big",
	[QM_ERR_TIMEOUT] = "timeout",
	[QM_ERR_CLOSED] = "closed",
	[QM_ERR_QMP] = "qmp",
	[QM_ERR_NOMEM] = "no-memory",
	[QM_ERR_STATE] = "state",
	[QM_ERR_UNSUPPORTED] = "unsupported",
	[QM_ERR_NOTFOUND] = "not-found",
	[QM_ERR_CANCELLED] = "cancelled",
};

const char *qm_errcode_name(qm_errcode code)
{
	if ((unsigned)code >= QM_ERR__COUNT)
		return "unknown";
	return errcode_names[code];
}

static void error_vset(qm_error *err, qm_errcode code, int errnum,
		       const char *fmt, va_list ap)
{
	if (!err || err->code != QM_OK)
		return; /* the first error is the one that explains */
	err->code = code;
	err->sys_errno = errnum;
	err->subclass = 0;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

bool qm_error_set(qm_error *err, qm_errcode code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return false;
}

bool qm_error_errno(qm_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (!err || err->code != QM_OK)
		return false;
	va_start(ap, fmt);
	error_vset(err, QM_ERR_IO, errnum, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
		 strerror(errnum));
	return false;
}

void qm_error_prepend(qm_error *err, const char *fmt, ...)
{
	char joined[2 * QM_ERROR_MSG_MAX + 2];
	va_list ap;
	int n;

	if (!qm_error_is_set(err))
		return;
	va_start(ap, fmt);
	n = vsnprintf(joined, QM_ERROR_MSG_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= QM_ERROR_MSG_MAX)
		n = QM_ERROR_MSG_MAX - 1;
	memcpy(joined + n, ": ", 2);
	memcpy(joined + n + 2, err->msg, QM_ERROR_MSG_MAX);
	joined[n + 2 + QM_ERROR_MSG_MAX - 1] = '\0';
	/* Truncation keeps the head: the context is what the caller added. */
	memcpy(err->msg, joined, QM_ERROR_MSG_MAX - 1);
	err->msg[QM_ERROR_MSG_MAX - 1] = '\0';
}

/* ---- logging ---- */

static int log_level = -1;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void log_init(void)
{
	const char *e = getenv("QMIG_LOG");

	if (log_level >= 0)
		return;
	log_level = QM_LOG_INFO;
	if (!e)
		return;
	if (!strcasecmp(e, "error"))
		log_level = QM_LOG_ERROR;
	else if (!strcasecmp(e, "warn"))
		log_level = QM_LOG_WARN;
	else if (!strcasecmp(e, "debug"))
		log_level = QM_LOG_DEBUG;
}

bool qm_log_enabled(qm_log_level lvl)
{
	pthread_once(&log_once, log_init);
	return (int)lvl <= log_level;
}

void qm_log_set_level(qm_log_level lvl)
{
	pthread_once(&log_once, log_init);
	log_level = lvl;
}

void qm_log(qm_log_level lvl, const char *prefix, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	struct timespec ts;
	va_list ap;
	int n;

	if (!qm_log_enabled(lvl))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lld.%03ld %s %s%s", (long long)ts.tv_sec,
		     ts.tv_nsec / 1000000, names[lvl], prefix,
		     prefix[0] ? ": " : "");
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write so lines from several threads do not interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

/* ---- clocks ---- */

int64_t qm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t qm_now_ms(void)
{
	return qm_now_ns() / 1000000;
}

/* ---- helpers ---- */

bool qm_parse_size(const char *s, uint64_t *out, qm_error *err)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !*s || *s == '-')
		return qm_error_set(err, QM_ERR_INVAL, "size '%s' is not a number",
				    s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno)
		return qm_error_set(err, QM_ERR_INVAL, "size '%s' is not a number",
				    s);
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return qm_error_set(err, QM_ERR_INVAL,
				    "size '%s': unknown suffix '%c'", s, *end);
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end)
		return qm_error_set(err, QM_ERR_INVAL,
				    "size '%s': trailing characters '%s'", s, end);
	if (shift && v > (UINT64_MAX >> shift))
		return qm_error_set(err, QM_ERR_INVAL, "size '%s' overflows", s);
	*out = (uint64_t)v << shift;
	return true;
}

bool qm_format(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len;
}

static bool grow(char **buf, size_t *cap, qm_error *err)
{
	char *nb = realloc(*buf, *cap * 2);

	if (!nb)
		return qm_error_set(err, QM_ERR_NOMEM, "%zu bytes", *cap * 2);
	*buf = nb;
	*cap *= 2;
	return true;
}

char *qm_read_file(const char *path, size_t max, size_t *len, qm_error *err)
{
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t r = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		qm_error_errno(err, fd < 0 ? errno : ENOMEM, "%s", path);
		goto fail;
	}
	for (;;) {
		if (n + 1 == cap && !grow(&buf, &cap, err))
			goto fail;
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n > max) {
			qm_error_set(err, QM_ERR_TOO_BIG, "%s: over %zu bytes",
				     path, max);
			goto fail;
		}
	}
	if (r < 0) {
		qm_error_errno(err, errno, "reading %s", path);
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

int qm_fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* ---- probes ---- */

static bool cpu_has_hw_virt(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		found = strstr(line, " vmx") || strstr(line, " svm");
	}
	fclose(f);
	return found;
}

bool qm_kvm_usable(char *why, size_t why_len)
{
	int fd, vm;

	if (!cpu_has_hw_virt()) {
		if (why)
			snprintf(why, why_len, "CPU flags have neither vmx nor svm "
				 "(an emulated /dev/kvm is slower than TCG)");
		return false;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (why)
			snprintf(why, why_len, "/dev/kvm: %s", strerror(errno));
		return false;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		if (why)
			snprintf(why, why_len, "/dev/kvm: unexpected API version");
		close(fd);
		return false;
	}
	vm = ioctl(fd, KVM_CREATE_VM, 0);
	if (vm < 0) {
		if (why)
			snprintf(why, why_len, "KVM_CREATE_VM: %s", strerror(errno));
		close(fd);
		return false;
	}
	close(vm);
	close(fd);
	return true;
}
