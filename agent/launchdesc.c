/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * launchdesc: a VM's launch description and its rewriting for the
 * destination QEMU. See launchdesc.h for the contract and docs/LAUNCH.md
 * for the rules with examples.
 *
 * How it works: the source argv is walked option by option. An option
 * that is not in rules[] is refused; an allowed one goes to its handler,
 * which checks it and appends it, as is or rewritten, to the output argv.
 * Values in QEMU's "key=value,key=value" syntax are split into items that
 * remember their raw bytes, so a rewritten option re-emits every item it
 * did not change byte for byte and escapes commas only in new values.
 */
#define LOG_PREFIX "launchdesc"
#include "agent/launchdesc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Values quoted in messages are cut to this many bytes ("..." follows). */
#define SHOWN 160
#define TRUNC(s) (int)QM_MIN(strlen(s), (size_t)SHOWN), (s), \
		 (strlen(s) > SHOWN ? "..." : "")

/* Longest driver and property name in the "-global DRIVER.PROP=VALUE"
 * form (QEMU scans them with %63[^.=] and %63[^=]). */
#define GLOBAL_NAME_MAX 63

/* ld_path flags, as add_path() takes them. */
#define PF_SOCKET (1u << 0)
#define PF_SERVER (1u << 1)
#define PF_PIPE   (1u << 2)

/* Chardev backend traits. */
#define CD_PATH   (1u << 0)     /* has a path= that moves */
#define CD_SOCKET (1u << 1)
#define CD_PIPE   (1u << 2)

static const char *const path_kind_names[LD_PATH__COUNT] = {
	[LD_PATH_MEMORY] = "memory",
	[LD_PATH_QMP] = "qmp",
	[LD_PATH_MONITOR] = "monitor",
	[LD_PATH_SERIAL] = "serial",
	[LD_PATH_CHARDEV] = "chardev",
	[LD_PATH_PIDFILE] = "pidfile",
	[LD_PATH_LOG] = "log",
};

static const char *const ext_kind_names[LD_EXT__COUNT] = {
	[LD_EXT_DISK] = "disk",
	[LD_EXT_KERNEL] = "kernel",
	[LD_EXT_INITRD] = "initrd",
	[LD_EXT_FIRMWARE] = "firmware",
};

const char *ld_path_kind_name(ld_path_kind k)
{
	return (unsigned)k < LD_PATH__COUNT ? path_kind_names[k] : "unknown";
}

const char *ld_ext_kind_name(ld_ext_kind k)
{
	return (unsigned)k < LD_EXT__COUNT ? ext_kind_names[k] : "unknown";
}

/* ---- strings ---- */

typedef struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = QM_MAX(QM_MAX(b->cap * 2, b->len + n + 1), (size_t)64);
		p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

/* Append @s with every ',' doubled, as QEMU's option syntax wants it. */
static void sb_put_escaped(sbuf *b, const char *s)
{
	const char *comma;

	while ((comma = strchr(s, ','))) {
		sb_putn(b, s, comma - s + 1);
		sb_putn(b, ",", 1);
		s = comma + 1;
	}
	sb_puts(b, s);
}

/* The built string (owned by the caller), or NULL when out of memory. */
static char *sb_take(sbuf *b)
{
	char *s = b->s;

	if (b->oom) {
		free(s);
		s = NULL;
	} else if (!s) {
		s = strdup("");
	}
	memset(b, 0, sizeof(*b));
	return s;
}

static char *cat3(const char *a, const char *b, const char *c)
{
	char *s;

	return asprintf(&s, "%s%s%s", a, b, c) < 0 ? NULL : s;
}

/* @rel joined to directory @dir, not normalised. */
static char *join_path(const char *dir, const char *rel)
{
	size_t n = strlen(dir);

	return cat3(dir, n && dir[n - 1] == '/' ? "" : "/", rel);
}

/* The rest of @s after @prefix, or NULL if @s does not start with it. */
static const char *after(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) ? NULL : s + n;
}

/* Make room for @need elements in @arr; returns the (maybe moved) array,
 * or NULL (then @arr is untouched). */
static void *grow(void *arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return arr;
	while (ncap < need)
		ncap *= 2;
	p = realloc(arr, ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

/* ---- paths ---- */

/*
 * @p resolved against @cwd (when relative) and normalised lexically:
 * no ".", "..", "//" or trailing "/" ("/.." is "/"). NULL when out of
 * memory.
 */
static char *path_norm(const char *cwd, const char *p)
{
	sbuf in = { 0 }, out = { 0 };
	const char *s, *e;
	char *slash;

	if (*p != '/') {
		sb_puts(&in, cwd);
		sb_puts(&in, "/");
	}
	sb_puts(&in, p);
	for (s = in.s; s && *s; s = e) {
		while (*s == '/')
			s++;
		e = s + strcspn(s, "/");
		if (e == s || (e - s == 1 && s[0] == '.'))
			continue;
		if (e - s == 2 && s[0] == '.' && s[1] == '.') {
			slash = out.s ? strrchr(out.s, '/') : NULL;
			if (slash) {
				out.len = slash - out.s;
				*slash = '\0';
			}
			continue;
		}
		sb_puts(&out, "/");
		sb_putn(&out, s, e - s);
	}
	if (in.oom)
		out.oom = true;
	free(in.s);
	if (!out.oom && !out.len) {
		free(out.s);
		return strdup("/");
	}
	return sb_take(&out);
}

/* Is normalised @path equal to or below normalised directory @root? */
static bool path_under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (!strcmp(root, "/"))
		return true;
	return !strncmp(path, root, n) && (path[n] == '\0' || path[n] == '/');
}

/* Absolute, no empty, "." or ".." component, no trailing '/'. */
static bool path_is_clean(const char *p)
{
	const char *s = p, *e;

	if (*p != '/' || !p[1])
		return false;
	while (*s) {
		s++;
		e = s + strcspn(s, "/");
		if (e == s || (e - s == 1 && s[0] == '.') ||
		    (e - s == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s = e;
	}
	return true;
}

/* QEMU's path_has_protocol(): "nbd:...", "json:{...}", "fat:rw:/dir". */
static size_t protocol_len(const char *p)
{
	size_t n = strcspn(p, ":/");

	return p[n] == ':' ? n : 0;
}

/* ---- rewriting context ---- */

typedef struct cdev {
	char *id;
	int path;               /* index in ld_result.paths, or -1 */
} cdev;

typedef struct cref {
	char *id;
	ld_path_kind kind;      /* the role a -mon, -serial... gives it */
} cref;

typedef struct ctx {
	const ld_desc *d;
	const ld_opts *o;
	ld_result *r;
	qm_error *err;
	const char *opt;        /* the option being handled, as spelled */
	const char *val;        /* its value; NULL for a flag option */
	size_t cap_argv, cap_paths, cap_ext, cap_backends;
	cdev *cdevs;
	size_t ncdevs, cap_cdevs;
	cref *crefs;
	size_t ncrefs, cap_crefs;
} ctx;

/* Refuse the current option: "OPTION VALUE: what". */
static bool fail(ctx *c, qm_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool fail(ctx *c, qm_errcode code, const char *fmt, ...)
{
	char what[QM_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!c->val)
		return qm_error_set(c->err, code, "%.*s%s: %s", TRUNC(c->opt),
				    what);
	return qm_error_set(c->err, code, "%.*s%s %.*s%s: %s", TRUNC(c->opt),
			    TRUNC(c->val), what);
}

static bool nomem(ctx *c)
{
	return qm_error_set(c->err, QM_ERR_NOMEM, "out of memory");
}

static void ctx_free(ctx *c)
{
	size_t i;

	for (i = 0; i < c->ncdevs; i++)
		free(c->cdevs[i].id);
	for (i = 0; i < c->ncrefs; i++)
		free(c->crefs[i].id);
	free(c->cdevs);
	free(c->crefs);
}

/* Append @s (owned; NULL means out of memory) to the output argv. */
static bool out_take(ctx *c, char *s)
{
	ld_result *r = c->r;
	char **v;

	if (!s)
		return nomem(c);
	v = grow(r->argv, &c->cap_argv, r->argc + 2, sizeof(*v));
	if (!v) {
		free(s);
		return nomem(c);
	}
	r->argv = v;
	v[r->argc++] = s;
	v[r->argc] = NULL;
	return true;
}

static bool out_add(ctx *c, const char *s)
{
	return out_take(c, strdup(s));
}

/* The current option, unchanged. */
static bool out_keep(ctx *c)
{
	return out_add(c, c->opt) && (!c->val || out_add(c, c->val));
}

static bool cdev_add(ctx *c, const char *id, int path)
{
	cdev *v = grow(c->cdevs, &c->cap_cdevs, c->ncdevs + 1, sizeof(*v));

	if (!v)
		return nomem(c);
	c->cdevs = v;
	v[c->ncdevs].path = path;
	v[c->ncdevs].id = strdup(id);
	if (!v[c->ncdevs++].id)
		return nomem(c);
	return true;
}

static bool cref_add(ctx *c, const char *id, ld_path_kind kind)
{
	cref *v = grow(c->crefs, &c->cap_crefs, c->ncrefs + 1, sizeof(*v));

	if (!v)
		return nomem(c);
	c->crefs = v;
	v[c->ncrefs].kind = kind;
	v[c->ncrefs].id = strdup(id);
	if (!v[c->ncrefs++].id)
		return nomem(c);
	return true;
}

/* ---- key=value lists ---- */

typedef struct kv_item {
	const char *raw;        /* its bytes in the value; NULL if added */
	size_t raw_len;
	char *key;              /* the implied key's name for an implied item;
				 * "x" for the flags "x" and "nox" */
	char *val;              /* unescaped; "on"/"off" for a flag */
	bool implied;
	char *repl;             /* new value, or NULL: keep raw */
} kv_item;

typedef struct kv_list {
	kv_item *v;
	size_t n, cap;
} kv_list;

static void kv_free(kv_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].val);
		free(l->v[i].repl);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Unescape a value up to the first single ','; returns where it ended. */
static const char *kv_value(const char *p, sbuf *b)
{
	size_t n;

	for (;;) {
		n = strcspn(p, ",");
		sb_putn(b, p, n);
		p += n;
		if (p[0] != ',' || p[1] != ',')
			return p;
		sb_putn(b, ",", 1);
		p += 2;
	}
}

/* One item at *@pp, the way QEMU's get_opt_name_value() reads it. */
static bool kv_item_parse(ctx *c, const char **pp, const char *implied,
			  bool flags, kv_item *it)
{
	const char *p = *pp;
	size_t len = strcspn(p, "=,");
	sbuf b = { 0 };
	bool no;

	it->raw = p;
	if (p[len] == '=' || implied) {
		it->implied = p[len] != '=';
		it->key = it->implied ? strdup(implied) : strndup(p, len);
		p = kv_value(it->implied ? p : p + len + 1, &b);
		it->val = sb_take(&b);
	} else {
		if (!flags)
			return fail(c, QM_ERR_INVAL,
				    "parameter %.*s has no value",
				    (int)QM_MIN(len, (size_t)SHOWN), p);
		no = len >= 2 && !strncmp(p, "no", 2);
		it->key = no ? strndup(p + 2, len - 2) : strndup(p, len);
		it->val = strdup(no ? "off" : "on");
		p += len;
	}
	it->raw_len = p - it->raw;
	if (*p == ',')
		p++;
	*pp = p;
	return it->key && it->val ? true : nomem(c);
}

static kv_item *kv_get(const kv_list *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return &l->v[i];
	return NULL;
}

/*
 * Split @s into items (see kv_item_parse()). @implied names the first
 * item when it has no '='; @flags allows "key" and "nokey" items
 * (QemuOpts; keyval refuses them). A key given twice is refused: QEMU
 * would silently take one of them. The caller frees @l in every case.
 */
static bool kv_parse(ctx *c, const char *s, const char *implied, bool flags,
		     kv_list *l)
{
	kv_item *v, *it;

	memset(l, 0, sizeof(*l));
	if (*s == '{')
		return fail(c, QM_ERR_INVAL,
			    "JSON syntax is not supported, use key=value");
	while (*s) {
		v = grow(l->v, &l->cap, l->n + 1, sizeof(*v));
		if (!v)
			return nomem(c);
		l->v = v;
		it = &v[l->n];
		memset(it, 0, sizeof(*it));
		l->n++;
		if (!kv_item_parse(c, &s, l->n == 1 ? implied : NULL, flags,
				   it))
			return false;
		if (kv_get(l, it->key) != it)
			return fail(c, QM_ERR_INVAL,
				    "parameter %.*s%s is given twice",
				    TRUNC(it->key));
	}
	return true;
}

/* Give @it the value @val (written escaped, as key=val, or as val when
 * it is the implied first item). */
static bool kv_set(ctx *c, kv_item *it, const char *val)
{
	size_t n = strcspn(val, "=,");

	/* QEMU reads a first item with '=' before any ',' as key=value. */
	if (it->implied && val[n] == '=')
		return fail(c, QM_ERR_INVAL,
			    "rewritten %s %.*s%s would be read as key=value",
			    it->key, TRUNC(val));
	free(it->repl);
	it->repl = strdup(val);
	return it->repl ? true : nomem(c);
}

static bool kv_add(ctx *c, kv_list *l, const char *key, const char *val)
{
	kv_item *v = grow(l->v, &l->cap, l->n + 1, sizeof(*v));

	if (!v)
		return nomem(c);
	l->v = v;
	memset(&v[l->n], 0, sizeof(*v));
	v[l->n].key = strdup(key);
	v[l->n].val = strdup(val);
	v[l->n].repl = strdup(val);
	l->n++;
	return v[l->n - 1].key && v[l->n - 1].val && v[l->n - 1].repl ?
	       true : nomem(c);
}

static bool kv_changed(const kv_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].repl)
			return true;
	return false;
}

/*
 * Append the current option with @l as its value: the original bytes if
 * nothing changed, else @prefix_len bytes of the original value (e.g.
 * "unix:") and the items, untouched ones raw, changed ones re-escaped.
 */
static bool emit_kv(ctx *c, const kv_list *l, size_t prefix_len)
{
	sbuf b = { 0 };
	const kv_item *it;

	if (!kv_changed(l))
		return out_keep(c);
	sb_putn(&b, c->val, prefix_len);
	for (size_t i = 0; i < l->n; i++) {
		it = &l->v[i];
		if (i)
			sb_puts(&b, ",");
		if (!it->repl) {
			sb_putn(&b, it->raw, it->raw_len);
			continue;
		}
		if (!it->implied) {
			sb_puts(&b, it->key);
			sb_puts(&b, "=");
		}
		sb_put_escaped(&b, it->repl);
	}
	return out_add(c, c->opt) && out_take(c, sb_take(&b));
}

/* Does @key match an entry of the NULL-terminated @list? An entry ending
 * in '*' matches every key that starts with the rest of it. */
static bool key_in(const char *key, const char *const *list)
{
	size_t n;

	for (; *list; list++) {
		n = strlen(*list);
		if (n && (*list)[n - 1] == '*' ? !strncmp(key, *list, n - 1) :
		    !strcmp(key, *list))
			return true;
	}
	return false;
}

static bool keys_allowed(ctx *c, const kv_list *l, const char *const *allowed,
			 const char *what)
{
	for (size_t i = 0; i < l->n; i++)
		if (!key_in(l->v[i].key, allowed))
			return fail(c, QM_ERR_INVAL,
				    "parameter %.*s%s is not allowed for %s",
				    TRUNC(l->v[i].key), what);
	return true;
}

/* QEMU's boolean spellings: 1, 0, or -1 for anything else. */
static int parse_bool(const char *s)
{
	static const char *const yes[] = { "on", "yes", "true", "y", NULL };
	static const char *const no[] = { "off", "no", "false", "n", NULL };

	if (key_in(s, yes))
		return 1;
	return key_in(s, no) ? 0 : -1;
}

/*
 * A QEMU size: "4096", "0x1000", "64M", "1.5G" (suffixes B K M G T P E,
 * either case, powers of 1024; a fraction needs a suffix other than B).
 */
static bool parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "bkmgtpe";
	unsigned long long ip, fp = 0, fscale = 1;
	unsigned __int128 v;
	const char *u;
	unsigned shift = 0;
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		ip = strtoull(s, &end, 16);
		*out = ip;
		return !errno && end > s + 2 && !*end;
	}
	ip = strtoull(s, &end, 10);
	if (errno)
		return false;
	if (*end == '.') {
		if (!isdigit((unsigned char)*++end))
			return false;
		for (; isdigit((unsigned char)*end); end++) {
			if (fscale < 1000000000000000000ULL) {
				fp = fp * 10 + (*end - '0');
				fscale *= 10;
			}
		}
	}
	if (*end) {
		u = strchr(units, tolower((unsigned char)*end));
		if (!u || end[1])
			return false;
		shift = (u - units) * 10;
	}
	if (fscale > 1 && !shift)
		return false;
	v = ((unsigned __int128)ip << shift) +
	    (((unsigned __int128)fp << shift) / fscale);
	if (v > UINT64_MAX)
		return false;
	*out = (uint64_t)v;
	return true;
}

/* ---- recording files ---- */

/* The file name @src ends in, refusing what names no file. */
static bool file_name_of(ctx *c, const char *key, const char *src,
			 const char **name)
{
	const char *what = key ? key : "path";
	const char *slash = strrchr(src, '/');

	*name = slash ? slash + 1 : src;
	if (!*src)
		return fail(c, QM_ERR_INVAL, "%s is empty", what);
	if (strlen(src) > LD_MAX_PATH)
		return fail(c, QM_ERR_TOO_BIG,
			    "%s is %zu bytes, over the limit of %d", what,
			    strlen(src), LD_MAX_PATH);
	if (!**name)
		return fail(c, QM_ERR_INVAL,
			    "%s ends in '/', not in a file name", what);
	if (!strcmp(*name, ".") || !strcmp(*name, ".."))
		return fail(c, QM_ERR_INVAL,
			    "%s ends in \"%s\", not in a file name", what,
			    *name);
	return true;
}

/* Defence in depth: @dst must be one plain file name in the VM dir. */
static bool dst_check(ctx *c, const char *dst, unsigned flags)
{
	const char *dir = c->r->vm_dir;
	size_t n = strlen(dir);

	if (strncmp(dst, dir, n) || dst[n] != '/' ||
	    strchr(dst + n + 1, '/') || !path_is_clean(dst))
		return fail(c, QM_ERR_INVAL,
			    "rewritten path %.*s%s escapes the VM directory %s",
			    TRUNC(dst), dir);
	if (strlen(dst) > LD_MAX_PATH)
		return fail(c, QM_ERR_TOO_BIG,
			    "rewritten path is %zu bytes, over the limit of %d",
			    strlen(dst), LD_MAX_PATH);
	if ((flags & PF_SOCKET) && strlen(dst) > LD_UNIX_PATH_MAX)
		return fail(c, QM_ERR_TOO_BIG,
			    "rewritten socket path %.*s%s is %zu bytes, over the unix socket limit of %d",
			    TRUNC(dst), strlen(dst), LD_UNIX_PATH_MAX);
	return true;
}

/*
 * Move @src (the value of parameter @key, NULL for a whole value) into
 * the VM directory. Returns the new entry's index, or -1 with the error
 * set.
 */
static int add_path(ctx *c, ld_path_kind kind, const char *key,
		    const char *src, const char *id, unsigned flags)
{
	ld_result *r = c->r;
	const char *name;
	ld_path *p;
	char *dst;

	if (!file_name_of(c, key, src, &name))
		return -1;
	dst = cat3(r->vm_dir, "/", name);
	if (!dst || !dst_check(c, dst, flags)) {
		if (!dst)
			nomem(c);
		free(dst);
		return -1;
	}
	p = grow(r->paths, &c->cap_paths, r->npaths + 1, sizeof(*p));
	if (!p) {
		free(dst);
		return nomem(c), -1;
	}
	r->paths = p;
	p = &r->paths[r->npaths++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->dst = dst;
	p->socket = flags & PF_SOCKET;
	p->server = flags & PF_SERVER;
	p->pipe = flags & PF_PIPE;
	p->option = strdup(c->opt);
	p->key = key ? strdup(key) : NULL;
	p->id = id ? strdup(id) : NULL;
	p->src = strdup(src);
	p->src_abs = path_norm(c->d->cwd, src);
	if (!p->option || (key && !p->key) || (id && !p->id) || !p->src ||
	    !p->src_abs)
		return nomem(c), -1;
	return (int)(r->npaths - 1);
}

static bool under_roots(const char *path, const char *const *roots)
{
	char *n = path_norm("/", path), *rn;
	bool ok = false;

	for (; n && *roots && !ok; roots++) {
		rn = path_norm("/", *roots);
		ok = rn && path_under(n, rn);
		free(rn);
	}
	free(n);
	return ok;
}

/*
 * Keep @src (parameter @key) as an external file of @kind; relative paths
 * are joined to the source cwd. Returns the path to give QEMU (owned by
 * the result), or NULL with the error set.
 */
static const char *add_ext(ctx *c, ld_ext_kind kind, const char *key,
			   const char *src)
{
	const char *what = key ? key : "path";
	ld_result *r = c->r;
	size_t proto = protocol_len(src);
	ld_ext *e;
	char *path;

	if (!*src)
		return fail(c, QM_ERR_INVAL, "%s is empty", what), NULL;
	if (kind == LD_EXT_DISK && proto)
		return fail(c, QM_ERR_INVAL,
			    "%s has the protocol prefix \"%.*s:\"; only plain files and block devices are allowed",
			    what, (int)QM_MIN(proto, (size_t)SHOWN), src), NULL;
	path = src[0] == '/' ? strdup(src) : join_path(c->d->cwd, src);
	if (!path)
		return nomem(c), NULL;
	if (strlen(path) > LD_MAX_PATH) {
		free(path);
		return fail(c, QM_ERR_TOO_BIG,
			    "%s is over %d bytes", what, LD_MAX_PATH), NULL;
	}
	if (c->o->image_roots && !under_roots(path, c->o->image_roots)) {
		fail(c, QM_ERR_INVAL, "%s %.*s%s is outside the image roots",
		     what, TRUNC(path));
		free(path);
		return NULL;
	}
	e = grow(r->ext, &c->cap_ext, r->next + 1, sizeof(*e));
	if (!e) {
		free(path);
		return nomem(c), NULL;
	}
	r->ext = e;
	e = &r->ext[r->next++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->path = path;
	e->option = strdup(c->opt);
	e->key = key ? strdup(key) : NULL;
	e->src = strdup(src);
	if (!e->option || (key && !e->key) || !e->src)
		return nomem(c), NULL;
	return path;
}

/* Keep item @it as an external file, rewriting it only if it was
 * relative. */
static bool ext_item(ctx *c, kv_item *it, ld_ext_kind kind)
{
	const char *p = add_ext(c, kind, it->key, it->val);

	if (!p)
		return false;
	return !strcmp(p, it->val) || kv_set(c, it, p);
}

static bool add_backend(ctx *c, ld_backend_type type, const char *id,
			const char *size, bool share, int path)
{
	ld_result *r = c->r;
	ld_backend *b;

	b = grow(r->backends, &c->cap_backends, r->nbackends + 1, sizeof(*b));
	if (!b)
		return nomem(c);
	r->backends = b;
	b = &r->backends[r->nbackends++];
	memset(b, 0, sizeof(*b));
	b->type = type;
	b->share = share;
	b->path = path;
	b->id = strdup(id);
	if (!b->id)
		return nomem(c);
	if (size && !parse_size(size, &b->size))
		return fail(c, QM_ERR_INVAL, "size=%.*s%s is not a size",
			    TRUNC(size));
	b->has_size = size != NULL;
	if (path >= 0) {
		r->paths[path].size = b->size;
		r->paths[path].has_size = b->has_size;
	}
	return true;
}

/* ---- option handlers ---- */

typedef struct opt_rule opt_rule;
typedef bool (*opt_fn)(ctx *c, const opt_rule *rule);

struct opt_rule {
	const char *name;       /* without the leading '-' */
	bool arg;               /* takes a value */
	opt_fn fn;
	int kind;               /* handler-specific (a path or ext kind) */
};

static bool h_keep(ctx *c, const opt_rule *rule)
{
	return out_keep(c);
}

/* -S, -daemonize: the destination adds its own -S. */
static bool h_drop(ctx *c, const opt_rule *rule)
{
	return true;
}

/* -incoming: dropped (the destination adds "-incoming defer"), but an
 * exec: URI is refused outright: it is a shell command. */
static bool h_incoming(ctx *c, const opt_rule *rule)
{
	if (after(c->val, "exec:"))
		return fail(c, QM_ERR_INVAL,
			    "exec: migration runs a shell command");
	return true;
}

static bool h_display(ctx *c, const opt_rule *rule)
{
	if (strcmp(c->val, "none"))
		return fail(c, QM_ERR_INVAL, "only -display none is allowed");
	return out_keep(c);
}

static bool h_vga(ctx *c, const opt_rule *rule)
{
	static const char *const ok[] = { "none", "std", "cirrus", "virtio",
					  NULL };

	if (!key_in(c->val, ok))
		return fail(c, QM_ERR_INVAL,
			    "VGA type not allowed (none, std, cirrus, virtio)");
	return out_keep(c);
}

/* -pidfile, -D: the whole value is a path that moves. */
static bool h_path(ctx *c, const opt_rule *rule)
{
	int i = add_path(c, rule->kind, NULL, c->val, NULL, 0);

	return i >= 0 && out_add(c, c->opt) && out_add(c, c->r->paths[i].dst);
}

/* -kernel: an external image. */
static bool h_image(ctx *c, const opt_rule *rule)
{
	const char *p = add_ext(c, rule->kind, NULL, c->val);

	return p && out_add(c, c->opt) && out_add(c, p);
}

/* -bios: a name without '/' is a firmware name QEMU looks up in its own
 * data directories (and in its cwd, the VM directory): kept, not listed. */
static bool h_bios(ctx *c, const opt_rule *rule)
{
	if (*c->val && !strchr(c->val, '/'))
		return out_keep(c);
	return h_image(c, rule);
}

/*
 * An initrd value, read as QEMU's multiboot module list: modules
 * separated by ',' (",," escapes), each "PATH[ ARGS]". Every PATH is an
 * external file. Returns the value to give QEMU (new string), or NULL.
 */
static char *initrd_rewrite(ctx *c, const char *key, const char *v)
{
	sbuf out = { 0 }, m = { 0 };
	const char *abs;
	char *one, *path;
	size_t n;

	for (;;) {
		v = kv_value(v, &m);
		one = sb_take(&m);
		n = one ? strcspn(one, " ") : 0;
		path = one ? strndup(one, n) : NULL;
		abs = path ? add_ext(c, LD_EXT_INITRD, key, path) : NULL;
		if (!path)
			nomem(c);
		if (abs) {
			if (out.len)
				sb_puts(&out, ",");
			sb_put_escaped(&out, abs);
			sb_put_escaped(&out, one + n);
		}
		free(path);
		free(one);
		if (!abs) {
			free(sb_take(&out));
			return NULL;
		}
		if (!*v++)
			break;
	}
	return sb_take(&out);
}

static bool h_initrd(ctx *c, const opt_rule *rule)
{
	char *v = initrd_rewrite(c, NULL, c->val);

	if (!v)
		return qm_error_is_set(c->err) ? false : nomem(c);
	if (!strcmp(v, c->val)) {
		free(v);
		return out_keep(c);
	}
	return out_add(c, c->opt) && out_take(c, v);
}

/* ---- -object ---- */

#define MEM_KEYS "qom-type", "id", "size", "share", "merge", "dump", \
	"prealloc", "prealloc-threads", "prealloc-context", "host-nodes*", \
	"policy", "reserve", "x-use-canonical-path-for-ramblock-id"

static const char *const keys_mem_file[] = {
	MEM_KEYS, "mem-path", "align", "discard-data", "pmem", "readonly", NULL
};
static const char *const keys_mem_memfd[] = {
	MEM_KEYS, "hugetlb", "hugetlbsize", "seal", NULL
};
static const char *const keys_mem_ram[] = { MEM_KEYS, NULL };
static const char *const keys_iothread[] = {
	"qom-type", "id", "poll-max-ns", "poll-grow", "poll-shrink",
	"aio-max-batch", "thread-pool-min", "thread-pool-max", NULL
};
static const char *const keys_rng_random[] = {
	"qom-type", "id", "filename", NULL
};
static const char *const keys_rng_builtin[] = { "qom-type", "id", NULL };

typedef struct obj_type {
	const char *name;
	int backend;            /* ld_backend_type, or -1 */
	const char *const *keys;
} obj_type;

static const obj_type obj_types[] = {
	{ "memory-backend-file", LD_BACKEND_FILE, keys_mem_file },
	{ "memory-backend-memfd", LD_BACKEND_MEMFD, keys_mem_memfd },
	{ "memory-backend-ram", LD_BACKEND_RAM, keys_mem_ram },
	{ "iothread", -1, keys_iothread },
	{ "rng-random", -1, keys_rng_random },
	{ "rng-builtin", -1, keys_rng_builtin },
};

static bool backend_record(ctx *c, kv_list *l, ld_backend_type type,
			   const char *id)
{
	kv_item *mp = kv_get(l, "mem-path"), *sh = kv_get(l, "share");
	kv_item *sz = kv_get(l, "size");
	int share = type == LD_BACKEND_MEMFD, path = -1;

	if (sh && (share = parse_bool(sh->val)) < 0)
		return fail(c, QM_ERR_INVAL, "share=%.*s%s is not a boolean",
			    TRUNC(sh->val));
	if (type == LD_BACKEND_FILE) {
		if (!mp)
			return fail(c, QM_ERR_INVAL,
				    "memory-backend-file without mem-path");
		path = add_path(c, LD_PATH_MEMORY, "mem-path", mp->val, id, 0);
		if (path < 0 || !kv_set(c, mp, c->r->paths[path].dst))
			return false;
	}
	return add_backend(c, type, id, sz ? sz->val : NULL, share, path);
}

static bool object_check(ctx *c, kv_list *l)
{
	static const char *const rng_files[] = { "/dev/random",
						 "/dev/urandom", NULL };
	const kv_item *t = kv_get(l, "qom-type"), *id = kv_get(l, "id");
	const kv_item *fn = kv_get(l, "filename");
	const obj_type *ot = NULL;

	if (!t)
		return fail(c, QM_ERR_INVAL, "no object type");
	for (size_t i = 0; i < QM_ARRAY_SIZE(obj_types) && !ot; i++)
		if (!strcmp(t->val, obj_types[i].name))
			ot = &obj_types[i];
	if (!ot)
		return fail(c, QM_ERR_INVAL, "object type %.*s%s is not allowed",
			    TRUNC(t->val));
	if (!keys_allowed(c, l, ot->keys, ot->name))
		return false;
	if (!id || !*id->val)
		return fail(c, QM_ERR_INVAL, "no id");
	if (fn && !key_in(fn->val, rng_files))
		return fail(c, QM_ERR_INVAL,
			    "filename=%.*s%s: only /dev/random and /dev/urandom are allowed",
			    TRUNC(fn->val));
	if (ot->backend < 0)
		return true;
	return backend_record(c, l, ot->backend, id->val);
}

/* -object: keyval since QEMU 6, but 7.2 still takes flags ("share"). */
static bool h_object(ctx *c, const opt_rule *rule)
{
	kv_list l;
	bool ok = kv_parse(c, c->val, "qom-type", true, &l) &&
		  object_check(c, &l) && emit_kv(c, &l, 0);

	kv_free(&l);
	return ok;
}

/* ---- chardevs: -chardev, -serial, -monitor, -qmp, -mon ---- */

#define CD_COMMON "backend", "id", "mux", "logfile", "logappend"
#define CD_SOCKET_KEYS "path", "server", "wait", "delay", "nodelay", \
	"telnet", "tn3270", "websocket", "reconnect", "tight", "abstract"

static const char *const keys_cd_file[] = { CD_COMMON, "path", "append",
					    NULL };
static const char *const keys_cd_socket[] = { CD_COMMON, CD_SOCKET_KEYS,
					      NULL };
static const char *const keys_cd_pipe[] = { CD_COMMON, "path", NULL };
static const char *const keys_cd_null[] = { CD_COMMON, NULL };
static const char *const keys_cd_ring[] = { CD_COMMON, "size", NULL };
/* "unix:" in -serial/-monitor/-qmp: socket parameters, no backend or id */
static const char *const keys_compat_unix[] = {
	CD_SOCKET_KEYS, "mux", "logfile", "logappend", NULL
};

typedef struct cd_type {
	const char *name;
	const char *const *keys;
	unsigned flags;
} cd_type;

static const cd_type cd_types[] = {
	{ "file", keys_cd_file, CD_PATH },
	{ "socket", keys_cd_socket, CD_PATH | CD_SOCKET },
	{ "pipe", keys_cd_pipe, CD_PATH | CD_PIPE },
	{ "null", keys_cd_null, 0 },
	{ "ringbuf", keys_cd_ring, 0 },
	{ "memory", keys_cd_ring, 0 },
};

static bool socket_flags(ctx *c, const kv_list *l, unsigned *pf)
{
	const kv_item *it = kv_get(l, "abstract");
	int v;

	if (it && parse_bool(it->val) != 0)
		return fail(c, QM_ERR_INVAL,
			    "abstract=%.*s%s: abstract sockets are not allowed",
			    TRUNC(it->val));
	it = kv_get(l, "server");
	v = it ? parse_bool(it->val) : 0;
	if (v < 0)
		return fail(c, QM_ERR_INVAL, "server=%.*s%s is not a boolean",
			    TRUNC(it->val));
	*pf |= PF_SOCKET | (v ? PF_SERVER : 0);
	return true;
}

/*
 * Move a chardev's path= and logfile= into the VM directory; for
 * -chardev (with its @id) and for the "unix:" form (@id NULL).
 */
static bool chardev_files(ctx *c, kv_list *l, unsigned flags, const char *id,
			  ld_path_kind kind)
{
	kv_item *path = kv_get(l, "path"), *log = kv_get(l, "logfile");
	unsigned pf = (flags & CD_PIPE) ? PF_PIPE : 0;
	int i = -1, li;

	if ((flags & CD_SOCKET) && !socket_flags(c, l, &pf))
		return false;
	if ((flags & CD_PATH) && !path)
		return fail(c, QM_ERR_INVAL, (flags & CD_SOCKET) ?
			    "no path: only unix sockets are allowed" :
			    "no path");
	if (flags & CD_PATH) {
		i = add_path(c, kind, "path", path->val, id, pf);
		if (i < 0 || !kv_set(c, path, c->r->paths[i].dst))
			return false;
	}
	if (log) {
		li = add_path(c, LD_PATH_LOG, "logfile", log->val, id, 0);
		if (li < 0 || !kv_set(c, log, c->r->paths[li].dst))
			return false;
	}
	return !id || cdev_add(c, id, i);
}

static bool chardev_check(ctx *c, kv_list *l)
{
	const kv_item *b = kv_get(l, "backend"), *id = kv_get(l, "id");
	const cd_type *t = NULL;
	char what[64];

	if (!b)
		return fail(c, QM_ERR_INVAL, "no backend");
	for (size_t i = 0; i < QM_ARRAY_SIZE(cd_types) && !t; i++)
		if (!strcmp(b->val, cd_types[i].name))
			t = &cd_types[i];
	if (!t)
		return fail(c, QM_ERR_INVAL,
			    "chardev backend %.*s%s is not allowed (file, socket, pipe, null, ringbuf, memory)",
			    TRUNC(b->val));
	snprintf(what, sizeof(what), "chardev %s", t->name);
	if (!keys_allowed(c, l, t->keys, what))
		return false;
	if (!id || !*id->val)
		return fail(c, QM_ERR_INVAL, "no id");
	return chardev_files(c, l, t->flags, id->val, LD_PATH_CHARDEV);
}

static bool h_chardev(ctx *c, const opt_rule *rule)
{
	kv_list l;
	bool ok = kv_parse(c, c->val, "backend", true, &l) &&
		  chardev_check(c, &l) && emit_kv(c, &l, 0);

	kv_free(&l);
	return ok;
}

/* "file:PATH" and "pipe:PATH": QEMU takes the rest literally. */
static bool compat_literal(ctx *c, ld_path_kind kind, const char *path,
			   unsigned pf)
{
	int i = add_path(c, kind, NULL, path, NULL, pf);
	size_t n = path - c->val;
	char *v;

	if (i < 0)
		return false;
	if (asprintf(&v, "%.*s%s", (int)n, c->val, c->r->paths[i].dst) < 0)
		return nomem(c);
	return out_add(c, c->opt) && out_take(c, v);
}

/* "unix:PATH,opts": chardev socket options with "path" implied. */
static bool compat_unix(ctx *c, ld_path_kind kind, const char *p)
{
	kv_list l;
	bool ok = kv_parse(c, p, "path", true, &l) &&
		  keys_allowed(c, &l, keys_compat_unix, "unix:") &&
		  chardev_files(c, &l, CD_PATH | CD_SOCKET, NULL, kind) &&
		  emit_kv(c, &l, p - c->val);

	kv_free(&l);
	return ok;
}

/*
 * -serial, -monitor, -qmp, -qmp-pretty: QEMU's compat chardev syntax
 * (qemu_chr_parse_compat()). Allowed: "none" (not for -qmp), "null",
 * "chardev:ID", and "file:", "pipe:", "unix:" whose file moves; each but
 * "none" and "chardev:" may follow "mon:".
 */
static bool h_compat(ctx *c, const opt_rule *rule)
{
	ld_path_kind kind = rule->kind;
	const char *rest = after(c->val, "mon:"), *p;

	if (!rest && !strcmp(c->val, "none") && kind != LD_PATH_QMP)
		return out_keep(c);
	if (!rest && (p = after(c->val, "chardev:")))
		return cref_add(c, p, kind) && out_keep(c);
	rest = rest ? rest : c->val;
	if (!strcmp(rest, "null"))
		return out_keep(c);
	if ((p = after(rest, "file:")))
		return compat_literal(c, kind, p, 0);
	if ((p = after(rest, "pipe:")))
		return compat_literal(c, kind, p, PF_PIPE);
	if ((p = after(rest, "unix:")))
		return compat_unix(c, kind, p);
	return fail(c, QM_ERR_INVAL,
		    "character device not allowed (%snull, chardev:ID, file:PATH, pipe:PATH, unix:PATH)",
		    kind == LD_PATH_QMP ? "" : "none, ");
}

/* -mon chardev=ID[,mode=readline|control][,pretty=on|off] */
static bool mon_check(ctx *c, const kv_list *l)
{
	static const char *const keys[] = { "chardev", "mode", "pretty", NULL };
	const kv_item *cd = kv_get(l, "chardev"), *mode = kv_get(l, "mode");

	if (!keys_allowed(c, l, keys, "-mon"))
		return false;
	if (!cd)
		return fail(c, QM_ERR_INVAL, "no chardev");
	if (mode && strcmp(mode->val, "control") &&
	    strcmp(mode->val, "readline"))
		return fail(c, QM_ERR_INVAL,
			    "mode=%.*s%s is not readline or control",
			    TRUNC(mode->val));
	return cref_add(c, cd->val, mode && !strcmp(mode->val, "control") ?
			LD_PATH_QMP : LD_PATH_MONITOR);
}

static bool h_mon(ctx *c, const opt_rule *rule)
{
	kv_list l;
	bool ok = kv_parse(c, c->val, "chardev", true, &l) &&
		  mon_check(c, &l) && out_keep(c);

	kv_free(&l);
	return ok;
}

/* ---- machine, accel, boot ---- */

static bool machine_item(ctx *c, kv_item *it)
{
	char *v;

	if (!strcmp(it->key, "dumpdtb"))
		return fail(c, QM_ERR_INVAL, "dumpdtb writes a host file");
	if (!strcmp(it->key, "kernel"))
		return ext_item(c, it, LD_EXT_KERNEL);
	if (!strcmp(it->key, "dtb") ||
	    (!strcmp(it->key, "firmware") && strchr(it->val, '/')))
		return ext_item(c, it, LD_EXT_FIRMWARE);
	if (strcmp(it->key, "initrd"))
		return true;
	v = initrd_rewrite(c, it->key, it->val);
	if (!v)
		return qm_error_is_set(c->err) ? false : nomem(c);
	if (strcmp(v, it->val) && !kv_set(c, it, v)) {
		free(v);
		return false;
	}
	free(v);
	return true;
}

/* -machine / -M: keyval (no flags); image parameters are external. */
static bool h_machine(ctx *c, const opt_rule *rule)
{
	kv_list l;
	bool ok = kv_parse(c, c->val, "type", false, &l);

	for (size_t i = 0; ok && i < l.n; i++)
		ok = machine_item(c, &l.v[i]);
	ok = ok && emit_kv(c, &l, 0);
	kv_free(&l);
	return ok;
}

static bool h_accel(ctx *c, const opt_rule *rule)
{
	static const char *const ok_types[] = { "kvm", "tcg", NULL };
	const kv_item *t;
	const char *tv;
	kv_list l;
	bool ok = kv_parse(c, c->val, "accel", true, &l);

	t = ok ? kv_get(&l, "accel") : NULL;
	tv = t ? t->val : "";
	if (ok && !key_in(tv, ok_types))
		ok = fail(c, QM_ERR_INVAL,
			  "accelerator %.*s%s is not allowed (kvm, tcg)",
			  TRUNC(tv));
	kv_free(&l);
	return ok && out_keep(c);
}

static bool h_boot(ctx *c, const opt_rule *rule)
{
	static const char *const keys[] = { "order", "once", "menu",
		"splash-time", "reboot-timeout", "strict", NULL };
	kv_list l;
	bool ok = kv_parse(c, c->val, "order", true, &l);

	if (ok && kv_get(&l, "splash"))
		ok = fail(c, QM_ERR_INVAL, "splash= reads a host file");
	ok = ok && keys_allowed(c, &l, keys, "-boot") && out_keep(c);
	kv_free(&l);
	return ok;
}

/* ---- devices ---- */

/* Drivers that reach host devices, host files or outside daemons. */
static const char *const device_refused[] = {
	"loader", "guest-loader", "vfio-*", "vhost-*", "usb-host",
	"u2f-passthru", "usb-mtp", "virtio-9p-*", "scsi-generic", "scsi-block",
	"xen-*", NULL
};

/* Properties that name host files, devices or file descriptors. */
static const char *const device_props_refused[] = {
	"file", "filename", "path", "rootdir", "sysfsdev", "host", "hostbus",
	"hostaddr", "hostport", "hostdevice", "sdrfile", "fruareafile", "fd",
	"fds", "vhostfd", "vhostfds", "logfile", NULL
};

static bool device_driver_check(ctx *c, const char *drv)
{
	if (key_in(drv, device_refused))
		return fail(c, QM_ERR_INVAL,
			    "device %.*s%s is not allowed: it reaches host devices, files or daemons",
			    TRUNC(drv));
	return true;
}

static bool device_prop_check(ctx *c, const char *prop, const char *val)
{
	if (!strcmp(prop, "romfile")) {
		if (strchr(val, '/'))
			return fail(c, QM_ERR_INVAL,
				    "romfile=%.*s%s: only empty or a firmware name without '/' is allowed",
				    TRUNC(val));
		return true;
	}
	if (key_in(prop, device_props_refused))
		return fail(c, QM_ERR_INVAL,
			    "property %.*s%s names a host file or device",
			    TRUNC(prop));
	return true;
}

static bool device_check(ctx *c, const kv_list *l)
{
	static const char *const serials[] = { "isa-serial", "pci-serial",
					       NULL };
	const kv_item *drv = kv_get(l, "driver"), *cd = kv_get(l, "chardev");

	if (!drv)
		return fail(c, QM_ERR_INVAL, "no driver");
	if (!device_driver_check(c, drv->val))
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (&l->v[i] != drv &&
		    !device_prop_check(c, l->v[i].key, l->v[i].val))
			return false;
	if (cd && key_in(drv->val, serials))
		return cref_add(c, cd->val, LD_PATH_SERIAL);
	return true;
}

static bool h_device(ctx *c, const opt_rule *rule)
{
	kv_list l;
	bool ok = kv_parse(c, c->val, "driver", true, &l) &&
		  device_check(c, &l) && out_keep(c);

	kv_free(&l);
	return ok;
}

/* -global DRIVER.PROP=VALUE (value literal), or driver=,property=,value= */
static bool h_global(ctx *c, const opt_rule *rule)
{
	static const char *const keys[] = { "driver", "property", "value",
					    NULL };
	const char *v = c->val, *q;
	size_t dn = strcspn(v, ".="), pn;
	const kv_item *d, *p, *val;
	char drv[GLOBAL_NAME_MAX + 1], prop[GLOBAL_NAME_MAX + 1];
	kv_list l;
	bool ok;

	q = v[dn] == '.' ? v + dn + 1 : "";
	pn = strcspn(q, "=");
	if (dn >= 1 && dn <= GLOBAL_NAME_MAX && pn >= 1 &&
	    pn <= GLOBAL_NAME_MAX && q[pn] == '=') {
		snprintf(drv, sizeof(drv), "%.*s", (int)dn, v);
		snprintf(prop, sizeof(prop), "%.*s", (int)pn, q);
		return device_driver_check(c, drv) &&
		       device_prop_check(c, prop, q + pn + 1) && out_keep(c);
	}
	ok = kv_parse(c, v, NULL, true, &l) &&
	     keys_allowed(c, &l, keys, "-global");
	d = ok ? kv_get(&l, "driver") : NULL;
	p = ok ? kv_get(&l, "property") : NULL;
	val = ok ? kv_get(&l, "value") : NULL;
	if (ok && (!d || !p))
		ok = fail(c, QM_ERR_INVAL, "needs driver= and property=");
	ok = ok && device_driver_check(c, d->val) &&
	     device_prop_check(c, p->val, val ? val->val : "") && out_keep(c);
	kv_free(&l);
	return ok;
}

/* ---- block devices ---- */

static const char *const block_drivers[] = {
	"file", "host_device", "host_cdrom", "raw", "qcow2", "null-co",
	"null-aio", NULL
};

static const char *const drive_keys[] = {
	"file", "filename", "file.filename", "file.driver", "file.locking",
	"file.aio", "if", "id", "index", "bus", "unit", "media", "format",
	"driver", "cache", "cache.*", "aio", "discard", "detect-zeroes",
	"readonly", "read-only", "snapshot", "werror", "rerror",
	"copy-on-read", "serial", "addr", "node-name", "auto-read-only",
	"force-share", "locking", "throttling.*", "bps*", "iops*", "group",
	NULL
};

static const char *const blockdev_keys[] = {
	"driver", "node-name", "discard", "cache.direct", "cache.no-flush",
	"read-only", "auto-read-only", "force-share", "detect-zeroes",
	"filename", "locking", "aio", "aio-max-batch", "drop-cache",
	"lazy-refcounts", "pass-discard-*", "overlap-check*", "cache-size",
	"l2-cache-size", "l2-cache-entry-size", "refcount-cache-size",
	"cache-clean-interval", "offset", "size", "file", "backing",
	"data-file", "data-file-raw", NULL
};

static bool block_driver_check(ctx *c, const kv_item *it)
{
	if (!key_in(it->val, block_drivers))
		return fail(c, QM_ERR_INVAL,
			    "%s=%.*s%s: block driver not allowed (file, host_device, host_cdrom, raw, qcow2, null-co, null-aio)",
			    it->key, TRUNC(it->val));
	return true;
}

static bool drive_item(ctx *c, kv_item *it)
{
	static const char *const drivers[] = { "format", "driver",
					       "file.driver", NULL };
	static const char *const files[] = { "file", "filename",
					     "file.filename", NULL };

	if (!key_in(it->key, drive_keys))
		return fail(c, QM_ERR_INVAL,
			    "parameter %.*s%s is not allowed for -drive",
			    TRUNC(it->key));
	if (key_in(it->key, drivers))
		return block_driver_check(c, it);
	if (key_in(it->key, files) && *it->val)
		return ext_item(c, it, LD_EXT_DISK);
	return true;
}

static bool h_drive(ctx *c, const opt_rule *rule)
{
	kv_list l;
	bool ok = kv_parse(c, c->val, NULL, true, &l);

	for (size_t i = 0; ok && i < l.n; i++)
		ok = drive_item(c, &l.v[i]);
	ok = ok && emit_kv(c, &l, 0);
	kv_free(&l);
	return ok;
}

/* A -blockdev key without its child-node prefixes ("file.", "backing.",
 * "data-file."): "backing.file.filename" is a "filename". */
static const char *blockdev_leaf(const char *key)
{
	static const char *const prefixes[] = { "file.", "backing.",
						"data-file.", NULL };
	const char *rest;
	bool again = true;

	while (again) {
		again = false;
		for (const char *const *p = prefixes; *p && !again; p++) {
			rest = after(key, *p);
			if (rest) {
				key = rest;
				again = true;
			}
		}
	}
	return key;
}

static bool blockdev_item(ctx *c, kv_item *it)
{
	const char *leaf = blockdev_leaf(it->key);

	if (!key_in(leaf, blockdev_keys))
		return fail(c, QM_ERR_INVAL,
			    "parameter %.*s%s is not allowed for -blockdev",
			    TRUNC(it->key));
	if (!strcmp(leaf, "driver"))
		return block_driver_check(c, it);
	if (!strcmp(leaf, "filename"))
		return ext_item(c, it, LD_EXT_DISK);
	return true;
}

/* -blockdev: keyval with "driver" implied. */
static bool h_blockdev(ctx *c, const opt_rule *rule)
{
	kv_list l;
	bool ok = kv_parse(c, c->val, "driver", false, &l);

	if (ok && !kv_get(&l, "driver"))
		ok = fail(c, QM_ERR_INVAL, "no driver");
	for (size_t i = 0; ok && i < l.n; i++)
		ok = blockdev_item(c, &l.v[i]);
	ok = ok && emit_kv(c, &l, 0);
	kv_free(&l);
	return ok;
}

/* ---- networking ---- */

static const char *const net_user_keys[] = {
	"type", "id", "net", "host", "ipv4", "ipv6", "restrict", "hostname",
	"dhcpstart", "dns", "dnssearch", "domainname", "ipv6-net",
	"ipv6-host", "ipv6-dns", "ipv6-prefix", "ipv6-prefixlen", NULL
};
static const char *const net_tap_keys[] = {
	"type", "id", "ifname", "script", "downscript", "vnet_hdr", "vhost",
	"vhostforce", "queues", "sndbuf", "poll-us", NULL
};
static const char *const nic_keys[] = { "model", "mac", NULL };

/* Parameters refused with their reason. */
static const struct {
	const char *key;
	const char *why;
} net_refused[] = {
	{ "hostfwd", "listens on host ports" },
	{ "guestfwd", "can run a command" },
	{ "smb", "runs smbd on a host directory" },
	{ "smbserver", "runs smbd on a host directory" },
	{ "tftp", "serves a host directory" },
	{ "bootfile", "serves a host file" },
	{ "fd", "file descriptors do not cross hosts" },
	{ "fds", "file descriptors do not cross hosts" },
	{ "vhostfd", "file descriptors do not cross hosts" },
	{ "vhostfds", "file descriptors do not cross hosts" },
	{ "helper", "runs a helper program" },
	{ "br", "runs the bridge helper program" },
};

/* A tap's script and downscript must be "no" (or empty); QEMU runs its
 * default /etc/qemu-ifup and -ifdown when they are absent, so they are
 * added as "no". */
static bool tap_scripts(ctx *c, kv_list *l)
{
	static const char *const names[] = { "script", "downscript" };
	const kv_item *it;

	for (size_t i = 0; i < QM_ARRAY_SIZE(names); i++) {
		it = kv_get(l, names[i]);
		if (!it) {
			if (!kv_add(c, l, names[i], "no"))
				return false;
		} else if (*it->val && strcmp(it->val, "no")) {
			return fail(c, QM_ERR_INVAL,
				    "%s=%.*s%s would run a program; only %s=no is allowed",
				    names[i], TRUNC(it->val), names[i]);
		}
	}
	return true;
}

static bool netdev_check(ctx *c, kv_list *l, bool nic)
{
	const kv_item *t = kv_get(l, "type"), *it;
	const char *const *keys;

	if (!t)
		return fail(c, QM_ERR_INVAL, "no type");
	if (nic && !strcmp(t->val, "none"))
		return l->n == 1 ||
		       fail(c, QM_ERR_INVAL, "none takes no parameters");
	if (!strcmp(t->val, "user"))
		keys = net_user_keys;
	else if (!strcmp(t->val, "tap"))
		keys = net_tap_keys;
	else
		return fail(c, QM_ERR_INVAL,
			    "network type %.*s%s is not allowed (user, tap)",
			    TRUNC(t->val));
	for (size_t i = 0; i < l->n; i++) {
		it = &l->v[i];
		for (size_t j = 0; j < QM_ARRAY_SIZE(net_refused); j++)
			if (!strcmp(it->key, net_refused[j].key))
				return fail(c, QM_ERR_INVAL, "%s= %s",
					    it->key, net_refused[j].why);
		if (!key_in(it->key, keys) && !(nic && key_in(it->key, nic_keys)))
			return fail(c, QM_ERR_INVAL,
				    "parameter %.*s%s is not allowed for %s",
				    TRUNC(it->key), t->val);
	}
	return keys != net_tap_keys || tap_scripts(c, l);
}

/* -netdev and (rule->kind 1) -nic */
static bool h_netdev(ctx *c, const opt_rule *rule)
{
	kv_list l;
	bool ok = kv_parse(c, c->val, "type", true, &l) &&
		  netdev_check(c, &l, rule->kind) && emit_kv(c, &l, 0);

	kv_free(&l);
	return ok;
}

/* ---- the allow-list ---- */

static const opt_rule rules[] = {
	/* flags */
	{ "nodefaults", false, h_keep, 0 },
	{ "no-user-config", false, h_keep, 0 },
	{ "nographic", false, h_keep, 0 },
	{ "no-reboot", false, h_keep, 0 },
	{ "no-shutdown", false, h_keep, 0 },
	{ "enable-kvm", false, h_keep, 0 },
	{ "no-hpet", false, h_keep, 0 },
	{ "no-acpi", false, h_keep, 0 },
	{ "usb", false, h_keep, 0 },
	/* guest shape: nothing in their syntax reaches the host */
	{ "name", true, h_keep, 0 },
	{ "uuid", true, h_keep, 0 },
	{ "cpu", true, h_keep, 0 },
	{ "smp", true, h_keep, 0 },
	{ "m", true, h_keep, 0 },
	{ "numa", true, h_keep, 0 },
	{ "rtc", true, h_keep, 0 },
	{ "append", true, h_keep, 0 },
	{ "d", true, h_keep, 0 },
	{ "msg", true, h_keep, 0 },
	{ "sandbox", true, h_keep, 0 },
	{ "overcommit", true, h_keep, 0 },
	{ "action", true, h_keep, 0 },
	{ "watchdog-action", true, h_keep, 0 },
	/* checked */
	{ "machine", true, h_machine, 0 },
	{ "M", true, h_machine, 0 },
	{ "accel", true, h_accel, 0 },
	{ "display", true, h_display, 0 },
	{ "vga", true, h_vga, 0 },
	{ "boot", true, h_boot, 0 },
	{ "object", true, h_object, 0 },
	{ "device", true, h_device, 0 },
	{ "global", true, h_global, 0 },
	{ "netdev", true, h_netdev, 0 },
	{ "nic", true, h_netdev, 1 },
	{ "drive", true, h_drive, 0 },
	{ "blockdev", true, h_blockdev, 0 },
	{ "kernel", true, h_image, LD_EXT_KERNEL },
	{ "initrd", true, h_initrd, 0 },
	{ "bios", true, h_bios, LD_EXT_FIRMWARE },
	/* files that move into the VM directory */
	{ "chardev", true, h_chardev, 0 },
	{ "serial", true, h_compat, LD_PATH_SERIAL },
	{ "monitor", true, h_compat, LD_PATH_MONITOR },
	{ "qmp", true, h_compat, LD_PATH_QMP },
	{ "qmp-pretty", true, h_compat, LD_PATH_QMP },
	{ "mon", true, h_mon, 0 },
	{ "pidfile", true, h_path, LD_PATH_PIDFILE },
	{ "D", true, h_path, LD_PATH_LOG },
	/* replaced by the destination's "-incoming defer -S" */
	{ "incoming", true, h_incoming, 0 },
	{ "S", false, h_drop, 0 },
	{ "daemonize", false, h_drop, 0 },
};

static const opt_rule *rule_find(const char *name)
{
	for (size_t i = 0; i < QM_ARRAY_SIZE(rules); i++)
		if (!strcmp(rules[i].name, name))
			return &rules[i];
	return NULL;
}

/* Every option of the source argv through its handler. */
static bool walk(ctx *c)
{
	const ld_desc *d = c->d;
	const opt_rule *rule;
	const char *a;
	size_t i = 1;

	while (i < d->argc) {
		a = d->argv[i++];
		c->opt = a;
		c->val = NULL;
		if (a[0] != '-')
			return fail(c, QM_ERR_INVAL,
				    "not an option (QEMU would take it as a disk image)");
		rule = rule_find(a + 1 + (a[1] == '-'));
		if (!rule)
			return fail(c, QM_ERR_INVAL, "option not allowed");
		if (rule->arg && i >= d->argc)
			return fail(c, QM_ERR_INVAL, "option needs a value");
		if (rule->arg)
			c->val = d->argv[i++];
		if (!rule->fn(c, rule))
			return false;
	}
	return out_add(c, "-incoming") && out_add(c, "defer") &&
	       out_add(c, "-S");
}

/* ---- after the walk: chardev roles, file name clashes ---- */

static int role_rank(ld_path_kind k)
{
	switch (k) {
	case LD_PATH_QMP:
		return 0;
	case LD_PATH_SERIAL:
		return 1;
	case LD_PATH_MONITOR:
		return 2;
	default:
		return 3;
	}
}

/* A chardev used by -mon, -serial chardev:, -qmp chardev:, a serial
 * device... takes that role (the first of QMP, SERIAL, MONITOR). */
static void classify(ctx *c)
{
	ld_path *p;

	for (size_t i = 0; i < c->ncrefs; i++) {
		for (size_t j = 0; j < c->ncdevs; j++) {
			if (c->cdevs[j].path < 0 ||
			    strcmp(c->cdevs[j].id, c->crefs[i].id))
				continue;
			p = &c->r->paths[c->cdevs[j].path];
			if (role_rank(c->crefs[i].kind) < role_rank(p->kind))
				p->kind = c->crefs[i].kind;
		}
	}
}

static const char *dst_name(const ld_result *r, const ld_path *p)
{
	return p->dst + strlen(r->vm_dir) + 1;
}

/* Does @p (file name @pname) claim the file name @name? A pipe also
 * claims NAME.in and NAME.out. */
static bool claims(const ld_path *p, const char *pname, const char *name)
{
	size_t n = strlen(pname);

	if (!strcmp(pname, name))
		return true;
	if (!p->pipe || strncmp(name, pname, n))
		return false;
	return !strcmp(name + n, ".in") || !strcmp(name + n, ".out");
}

static void show_path(char *buf, size_t len, const ld_path *p)
{
	snprintf(buf, len, "%.*s%s %s%s%.*s%s", TRUNC(p->option),
		 p->key ? p->key : "", p->key ? "=" : "", TRUNC(p->src));
}

static bool paths_check(ctx *c)
{
	const ld_result *r = c->r;
	const ld_path *a, *b;
	const char *an, *bn;
	char sa[2 * SHOWN + 64], sb[2 * SHOWN + 64];

	for (size_t i = 0; i < r->npaths; i++) {
		a = &r->paths[i];
		an = dst_name(r, a);
		for (const char *const *res = c->o->reserved_names;
		     res && *res; res++) {
			if (!claims(a, an, *res))
				continue;
			show_path(sa, sizeof(sa), a);
			return qm_error_set(c->err, QM_ERR_INVAL,
					    "%s: file name %s is reserved by the destination agent",
					    sa, *res);
		}
		for (size_t j = 0; j < i; j++) {
			b = &r->paths[j];
			bn = dst_name(r, b);
			if (!strcmp(a->src_abs, b->src_abs) ||
			    (!claims(a, an, bn) && !claims(b, bn, an)))
				continue;
			show_path(sa, sizeof(sa), b);
			show_path(sb, sizeof(sb), a);
			return qm_error_set(c->err, QM_ERR_INVAL,
					    "%s and %s: both become %s in the VM directory",
					    sa, sb, an);
		}
	}
	return true;
}

/* ---- options and limits ---- */

static bool vm_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > LD_MAX_NAME || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

static bool opts_check(const ld_opts *o, qm_error *err)
{
	const char *sd = o->state_dir;

	if (!sd || strlen(sd) > LD_MAX_PATH / 2 || !path_is_clean(sd) ||
	    strpbrk(sd, ",="))
		return qm_error_set(err, QM_ERR_INVAL,
				    "state dir %.*s%s: not an absolute, normalised path without ',' or '='",
				    TRUNC(sd ? sd : "(null)"));
	if (!o->vm_name || !vm_name_ok(o->vm_name))
		return qm_error_set(err, QM_ERR_INVAL,
				    "VM name %.*s%s: not 1 to %d of [A-Za-z0-9_.-] starting with another than '.'",
				    TRUNC(o->vm_name ? o->vm_name : "(null)"),
				    LD_MAX_NAME);
	if (!o->qemu_binary || o->qemu_binary[0] != '/' ||
	    strlen(o->qemu_binary) > LD_MAX_PATH)
		return qm_error_set(err, QM_ERR_INVAL,
				    "QEMU binary %.*s%s is not an absolute path",
				    TRUNC(o->qemu_binary ? o->qemu_binary :
					  "(null)"));
	for (const char *const *r = o->image_roots; r && *r; r++)
		if ((*r)[0] != '/')
			return qm_error_set(err, QM_ERR_INVAL,
					    "image root %.*s%s is not an absolute path",
					    TRUNC(*r));
	return true;
}

/* The limits every description must respect, however it was made. */
static bool desc_limits(const char *const *argv, size_t argc,
			const char *cwd, qm_error *err)
{
	size_t total = 0, n;

	if (!argc)
		return qm_error_set(err, QM_ERR_INVAL, "argv is empty");
	if (argc > LD_MAX_ARGS)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "argv has %zu arguments, over the limit of %d",
				    argc, LD_MAX_ARGS);
	for (size_t i = 0; i < argc; i++) {
		if (!argv[i])
			return qm_error_set(err, QM_ERR_INVAL,
					    "argv[%zu] is NULL", i);
		n = strlen(argv[i]);
		if (n > LD_MAX_ARG_LEN)
			return qm_error_set(err, QM_ERR_TOO_BIG,
					    "argv[%zu] is %zu bytes, over the limit of %d",
					    i, n, LD_MAX_ARG_LEN);
		total += n + 1;
	}
	if (total > LD_MAX_TOTAL)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "argv is %zu bytes, over the limit of %d",
				    total, LD_MAX_TOTAL);
	if (!cwd || cwd[0] != '/')
		return qm_error_set(err, QM_ERR_INVAL,
				    "cwd %.*s%s is not an absolute path",
				    TRUNC(cwd ? cwd : "(null)"));
	if (strlen(cwd) > LD_MAX_PATH)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "cwd is %zu bytes, over the limit of %d",
				    strlen(cwd), LD_MAX_PATH);
	return true;
}

/* ---- rewriting: public ---- */

bool ld_rewrite(const ld_desc *d, const ld_opts *o, ld_result *r,
		qm_error *err)
{
	ctx c = { .d = d, .o = o, .r = r, .err = err };
	bool ok;

	memset(r, 0, sizeof(*r));
	if (!opts_check(o, err) ||
	    !desc_limits((const char *const *)d->argv, d->argc, d->cwd, err))
		return false;
	r->vm_dir = cat3(o->state_dir, "/vms/", o->vm_name);
	ok = r->vm_dir ? true : nomem(&c);
	ok = ok && out_add(&c, o->qemu_binary) && walk(&c);
	if (ok)
		classify(&c);
	ok = ok && paths_check(&c);
	ctx_free(&c);
	if (!ok)
		ld_result_free(r);
	return ok;
}

bool ld_validate(const ld_desc *d, qm_error *err)
{
	const ld_opts o = {
		.state_dir = "/validate",
		.vm_name = "vm",
		.qemu_binary = "/qemu",
	};
	ld_result r;

	if (!ld_rewrite(d, &o, &r, err))
		return false;
	ld_result_free(&r);
	return true;
}

void ld_result_free(ld_result *r)
{
	size_t i;

	for (i = 0; r->argv && i < r->argc; i++)
		free(r->argv[i]);
	for (i = 0; i < r->npaths; i++) {
		free(r->paths[i].option);
		free(r->paths[i].key);
		free(r->paths[i].id);
		free(r->paths[i].src);
		free(r->paths[i].src_abs);
		free(r->paths[i].dst);
	}
	for (i = 0; i < r->next; i++) {
		free(r->ext[i].option);
		free(r->ext[i].key);
		free(r->ext[i].src);
		free(r->ext[i].path);
	}
	for (i = 0; i < r->nbackends; i++)
		free(r->backends[i].id);
	free(r->argv);
	free(r->vm_dir);
	free(r->paths);
	free(r->ext);
	free(r->backends);
	memset(r, 0, sizeof(*r));
}

const ld_path *ld_result_find(const ld_result *r, ld_path_kind kind,
			      const char *id)
{
	for (size_t i = 0; i < r->npaths; i++)
		if (r->paths[i].kind == kind &&
		    (!id || (r->paths[i].id && !strcmp(r->paths[i].id, id))))
			return &r->paths[i];
	return NULL;
}

const ld_path *ld_result_qmp(const ld_result *r)
{
	for (size_t i = 0; i < r->npaths; i++)
		if (r->paths[i].kind == LD_PATH_QMP && r->paths[i].socket &&
		    r->paths[i].server)
			return &r->paths[i];
	return NULL;
}

/* ---- checking kept files ---- */

static bool real_under_roots(const char *real, const char *const *roots)
{
	char *rr;
	bool ok = false;

	for (; *roots && !ok; roots++) {
		rr = realpath(*roots, NULL);
		ok = rr && path_under(real, rr);
		free(rr);
	}
	return ok;
}

static bool ext_check_one(const ld_ext *e, const char *const *roots,
			  qm_error *err)
{
	char shown[2 * SHOWN + 64], *real;
	struct stat st;
	bool type_ok;

	snprintf(shown, sizeof(shown), "%.*s%s %s%s%.*s%s", TRUNC(e->option),
		 e->key ? e->key : "", e->key ? "=" : "", TRUNC(e->path));
	if (stat(e->path, &st) < 0)
		return errno == ENOENT ?
		       qm_error_set(err, QM_ERR_NOTFOUND, "%s: %s", shown,
				    strerror(ENOENT)) :
		       qm_error_errno(err, errno, "%s", shown);
	type_ok = S_ISREG(st.st_mode) ||
		  (e->kind == LD_EXT_DISK && S_ISBLK(st.st_mode));
	if (!type_ok)
		return qm_error_set(err, QM_ERR_INVAL, "%s: not a %s", shown,
				    e->kind == LD_EXT_DISK ?
				    "regular file or block device" :
				    "regular file");
	if (!roots)
		return true;
	real = realpath(e->path, NULL);
	if (!real)
		return qm_error_errno(err, errno, "%s", shown);
	if (!real_under_roots(real, roots)) {
		qm_error_set(err, QM_ERR_INVAL,
			     "%s: resolves to %.*s%s, outside the image roots",
			     shown, TRUNC(real));
		free(real);
		return false;
	}
	free(real);
	return true;
}

bool ld_check_external(const ld_result *r, const char *const *image_roots,
		       qm_error *err)
{
	for (size_t i = 0; i < r->next; i++)
		if (!ext_check_one(&r->ext[i], image_roots, err))
			return false;
	return true;
}

/* ---- descriptions ---- */

void ld_desc_init(ld_desc *d)
{
	memset(d, 0, sizeof(*d));
}

void ld_desc_free(ld_desc *d)
{
	for (size_t i = 0; d->argv && i < d->argc; i++)
		free(d->argv[i]);
	free(d->argv);
	free(d->cwd);
	ld_desc_init(d);
}

bool ld_desc_set(ld_desc *d, const char *const *argv, size_t argc,
		 const char *cwd, qm_error *err)
{
	ld_desc_init(d);
	if (!desc_limits(argv, argc, cwd, err))
		return false;
	d->argv = calloc(argc + 1, sizeof(char *));
	d->cwd = strdup(cwd);
	if (!d->argv || !d->cwd)
		goto oom;
	for (d->argc = 0; d->argc < argc; d->argc++) {
		d->argv[d->argc] = strdup(argv[d->argc]);
		if (!d->argv[d->argc])
			goto oom;
	}
	return true;
oom:
	ld_desc_free(d);
	return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
}

bool ld_desc_from_cmdline(ld_desc *d, const char *buf, size_t len,
			  const char *cwd, qm_error *err)
{
	const char **v;
	char *copy;
	size_t n = 0, i;
	bool ok;

	ld_desc_init(d);
	if (!len)
		return qm_error_set(err, QM_ERR_INVAL, "command line is empty");
	if (len > LD_MAX_TOTAL)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "command line is %zu bytes, over the limit of %d",
				    len, LD_MAX_TOTAL);
	for (i = 0; i < len; i++)
		n += !buf[i];
	n += buf[len - 1] != '\0';
	if (n > LD_MAX_ARGS)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "argv has %zu arguments, over the limit of %d",
				    n, LD_MAX_ARGS);
	copy = malloc(len + 1);
	v = calloc(n, sizeof(*v));
	if (!copy || !v) {
		free(copy);
		free(v);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';
	for (i = 0; i < n; i++)
		v[i] = i ? v[i - 1] + strlen(v[i - 1]) + 1 : copy;
	ok = ld_desc_set(d, v, n, cwd, err);
	free(v);
	free(copy);
	return ok;
}

bool ld_desc_from_pid(ld_desc *d, pid_t pid, qm_error *err)
{
	char path[64], cwd[LD_MAX_PATH + 2], *buf;
	ssize_t n;
	size_t len;
	bool ok;

	ld_desc_init(d);
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
	n = readlink(path, cwd, sizeof(cwd));
	if (n < 0)
		return qm_error_errno(err, errno, "%s", path);
	if ((size_t)n >= sizeof(cwd) - 1)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "%s: over %d bytes", path, LD_MAX_PATH);
	cwd[n] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	buf = qm_read_file(path, LD_MAX_TOTAL, &len, err);
	if (!buf)
		return false;
	if (!len) {
		free(buf);
		return qm_error_set(err, QM_ERR_NOTFOUND,
				    "process %d has no command line (it exited or is a kernel thread)",
				    (int)pid);
	}
	ok = ld_desc_from_cmdline(d, buf, len, cwd, err);
	free(buf);
	return ok;
}

/* ---- JSON ---- */

json_object *ld_desc_to_json(const ld_desc *d, qm_error *err)
{
	json_object *o = json_object_new_object();
	json_object *a = json_object_new_array();
	json_object *s;
	bool ok = o && a;

	for (size_t i = 0; ok && i < d->argc; i++) {
		s = json_object_new_string(d->argv[i]);
		ok = s && !json_object_array_add(a, s);
		if (!ok)
			json_object_put(s);
	}
	if (ok && !json_object_object_add(o, "argv", a)) {
		a = NULL;
		s = json_object_new_int(LD_DESC_VERSION);
		ok = s && !json_object_object_add(o, "version", s);
		s = ok ? json_object_new_string(d->cwd ? d->cwd : "") : NULL;
		ok = s && !json_object_object_add(o, "cwd", s);
	} else {
		ok = false;
	}
	if (ok)
		return o;
	json_object_put(a);
	json_object_put(o);
	qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return NULL;
}

/* "an array", "a string"...: for messages. */
static const char *json_kind(const json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a number";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "unknown";
}

/* A string member without NUL bytes; @what names it in messages. */
static const char *json_str(const json_object *v, const char *what,
			    size_t *len, qm_error *err)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string)) {
		qm_error_set(err, QM_ERR_PROTO,
			     "launch description: %s is %s, expected a string",
			     what, json_kind(v));
		return NULL;
	}
	s = json_object_get_string((json_object *)v);
	*len = json_object_get_string_len(v);
	if (memchr(s, '\0', *len)) {
		qm_error_set(err, QM_ERR_PROTO,
			     "launch description: %s contains a NUL byte", what);
		return NULL;
	}
	return s;
}

/* The argv array into @v (borrowed strings), checking every limit. */
static bool json_argv(const json_object *a, const char ***v, size_t *argc,
		      qm_error *err)
{
	size_t n, len, total = 0;
	char what[32];

	if (!json_object_is_type(a, json_type_array))
		return qm_error_set(err, QM_ERR_PROTO,
				    "launch description: argv is %s, expected an array",
				    json_kind(a));
	n = json_object_array_length(a);
	if (!n)
		return qm_error_set(err, QM_ERR_PROTO,
				    "launch description: argv is empty");
	if (n > LD_MAX_ARGS)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "launch description: argv has %zu arguments, over the limit of %d",
				    n, LD_MAX_ARGS);
	*v = calloc(n, sizeof(**v));
	if (!*v)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (*argc = 0; *argc < n; (*argc)++) {
		snprintf(what, sizeof(what), "argv[%zu]", *argc);
		(*v)[*argc] = json_str(json_object_array_get_idx(a, *argc),
				       what, &len, err);
		if (!(*v)[*argc])
			return false;
		if (len > LD_MAX_ARG_LEN)
			return qm_error_set(err, QM_ERR_TOO_BIG,
					    "launch description: %s is %zu bytes, over the limit of %d",
					    what, len, LD_MAX_ARG_LEN);
		total += len + 1;
		if (total > LD_MAX_TOTAL)
			return qm_error_set(err, QM_ERR_TOO_BIG,
					    "launch description: argv is over %d bytes",
					    LD_MAX_TOTAL);
	}
	return true;
}

static bool json_members(const json_object *j, json_object **argv,
			 json_object **cwd, qm_error *err)
{
	json_object *ver = NULL;

	if (!json_object_is_type(j, json_type_object))
		return qm_error_set(err, QM_ERR_PROTO,
				    "launch description is %s, expected an object",
				    json_kind(j));
	json_object_object_foreach((json_object *)j, key, val) {
		if (!strcmp(key, "argv"))
			*argv = val;
		else if (!strcmp(key, "cwd"))
			*cwd = val;
		else if (!strcmp(key, "version"))
			ver = val;
		else
			return qm_error_set(err, QM_ERR_PROTO,
					    "launch description: unknown member \"%.*s%s\"",
					    TRUNC(key));
	}
	if (!ver || !*argv || !*cwd)
		return qm_error_set(err, QM_ERR_PROTO,
				    "launch description: member %s is missing",
				    !ver ? "version" : !*argv ? "argv" : "cwd");
	if (!json_object_is_type(ver, json_type_int))
		return qm_error_set(err, QM_ERR_PROTO,
				    "launch description: version is %s, expected an integer",
				    json_kind(ver));
	if (json_object_get_int64(ver) != LD_DESC_VERSION)
		return qm_error_set(err, QM_ERR_PROTO,
				    "launch description: version %lld, expected %d",
				    (long long)json_object_get_int64(ver),
				    LD_DESC_VERSION);
	return true;
}

bool ld_desc_from_json(ld_desc *d, const json_object *j, qm_error *err)
{
	json_object *argv = NULL, *cwdj = NULL;
	const char **v = NULL, *cwd;
	size_t argc = 0, len;
	bool ok;

	ld_desc_init(d);
	ok = json_members(j, &argv, &cwdj, err) &&
	     json_argv(argv, &v, &argc, err);
	cwd = ok ? json_str(cwdj, "cwd", &len, err) : NULL;
	ok = cwd != NULL;
	if (ok && (cwd[0] != '/' || len > LD_MAX_PATH))
		ok = qm_error_set(err, len > LD_MAX_PATH ? QM_ERR_TOO_BIG :
				  QM_ERR_PROTO,
				  "launch description: cwd %.*s%s is not an absolute path of at most %d bytes",
				  TRUNC(cwd), LD_MAX_PATH);
	ok = ok && ld_desc_set(d, v, argc, cwd, err);
	free(v);
	return ok;
}
