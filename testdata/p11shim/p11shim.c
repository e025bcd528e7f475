/*
 * p11shim: a fault-injecting PKCS#11 module for tests.
 *
 * It loads a real module (P11SHIM_TARGET, default SoftHSM) and hands out a
 * function list whose entries consult a control file (P11SHIM_CONTROL)
 * before forwarding, so tests can produce what SoftHSM cannot: locked PINs,
 * final-try flags, a device vanishing mid-batch, slow calls, a failing
 * C_Initialize.  Every call can also be logged (P11SHIM_LOG).  The control
 * file syntax is described in README.md.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Platform macros pkcs11.h expects; the same as miekg/pkcs11's pkcs11go.h. */
#define CK_PTR *
#define NULL_PTR 0
#define CK_DEFINE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType (*name)
#define CK_CALLBACK_FUNCTION(returnType, name) returnType (*name)
#include "pkcs11.h"

#define DEFAULT_TARGET "/usr/lib/softhsm/libsofthsm2.so"
#define MAX_RULES 64
#define MAX_LINE 512
#define MAX_CONTROL_SIZE (1 << 20)
#define LABEL_SIZE 32
#define ANY_USER ((CK_ULONG)-1)
#define MAX_HIDDEN 16
#define MAX_PIN 64

/*
 * One id per entry of CK_FUNCTION_LIST, generated from pkcs11f.h so that the
 * ids, the names and the list below cannot drift apart.
 */
enum fn {
#define CK_PKCS11_FUNCTION_INFO(name) FN_##name,
#include "pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO
	FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
#define CK_PKCS11_FUNCTION_INFO(name) #name,
#include "pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO
};

struct name {
	const char *name;
	CK_ULONG value;
};

#define NAME(x) { #x, x }

static const struct name rv_names[] = {
	NAME(CKR_OK),
	NAME(CKR_CANCEL),
	NAME(CKR_HOST_MEMORY),
	NAME(CKR_SLOT_ID_INVALID),
	NAME(CKR_GENERAL_ERROR),
	NAME(CKR_FUNCTION_FAILED),
	NAME(CKR_ARGUMENTS_BAD),
	NAME(CKR_NO_EVENT),
	NAME(CKR_CANT_LOCK),
	NAME(CKR_DATA_INVALID),
	NAME(CKR_DATA_LEN_RANGE),
	NAME(CKR_DEVICE_ERROR),
	NAME(CKR_DEVICE_MEMORY),
	NAME(CKR_DEVICE_REMOVED),
	NAME(CKR_FUNCTION_CANCELED),
	NAME(CKR_FUNCTION_NOT_SUPPORTED),
	NAME(CKR_KEY_HANDLE_INVALID),
	NAME(CKR_MECHANISM_INVALID),
	NAME(CKR_OBJECT_HANDLE_INVALID),
	NAME(CKR_OPERATION_ACTIVE),
	NAME(CKR_OPERATION_NOT_INITIALIZED),
	NAME(CKR_PIN_INCORRECT),
	NAME(CKR_PIN_INVALID),
	NAME(CKR_PIN_LEN_RANGE),
	NAME(CKR_PIN_EXPIRED),
	NAME(CKR_PIN_LOCKED),
	NAME(CKR_SESSION_CLOSED),
	NAME(CKR_SESSION_COUNT),
	NAME(CKR_SESSION_HANDLE_INVALID),
	NAME(CKR_SESSION_READ_ONLY),
	NAME(CKR_SIGNATURE_INVALID),
	NAME(CKR_TOKEN_NOT_PRESENT),
	NAME(CKR_TOKEN_NOT_RECOGNIZED),
	NAME(CKR_TOKEN_WRITE_PROTECTED),
	NAME(CKR_USER_ALREADY_LOGGED_IN),
	NAME(CKR_USER_NOT_LOGGED_IN),
	NAME(CKR_USER_PIN_NOT_INITIALIZED),
	NAME(CKR_USER_TYPE_INVALID),
	NAME(CKR_BUFFER_TOO_SMALL),
	NAME(CKR_CRYPTOKI_NOT_INITIALIZED),
	NAME(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};

static const struct name flag_names[] = {
	NAME(CKF_WRITE_PROTECTED),
	NAME(CKF_LOGIN_REQUIRED),
	NAME(CKF_USER_PIN_INITIALIZED),
	NAME(CKF_PROTECTED_AUTHENTICATION_PATH),
	NAME(CKF_TOKEN_INITIALIZED),
	NAME(CKF_USER_PIN_COUNT_LOW),
	NAME(CKF_USER_PIN_FINAL_TRY),
	NAME(CKF_USER_PIN_LOCKED),
	NAME(CKF_USER_PIN_TO_BE_CHANGED),
	NAME(CKF_SO_PIN_COUNT_LOW),
	NAME(CKF_SO_PIN_FINAL_TRY),
	NAME(CKF_SO_PIN_LOCKED),
	NAME(CKF_SO_PIN_TO_BE_CHANGED),
};

static const struct name slot_flag_names[] = {
	NAME(CKF_TOKEN_PRESENT),
	NAME(CKF_REMOVABLE_DEVICE),
	NAME(CKF_HW_SLOT),
};

static const struct name mechanism_names[] = {
	NAME(CKM_RSA_PKCS_KEY_PAIR_GEN),
	NAME(CKM_RSA_PKCS),
	NAME(CKM_RSA_PKCS_PSS),
	NAME(CKM_SHA256_RSA_PKCS),
	NAME(CKM_SHA384_RSA_PKCS),
	NAME(CKM_SHA512_RSA_PKCS),
	NAME(CKM_SHA256_RSA_PKCS_PSS),
	NAME(CKM_SHA384_RSA_PKCS_PSS),
	NAME(CKM_SHA512_RSA_PKCS_PSS),
	NAME(CKM_EC_KEY_PAIR_GEN),
	NAME(CKM_ECDSA),
};

static const struct name user_names[] = {
	{ "SO", CKU_SO },
	{ "USER", CKU_USER },
	{ "CONTEXT_SPECIFIC", CKU_CONTEXT_SPECIFIC },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum action { ACT_FAIL, ACT_DELAY };

struct rule {
	enum fn fn;
	CK_ULONG user;		/* C_Login user type, or ANY_USER */
	enum action action;
	CK_ULONG value;		/* CK_RV to return, or milliseconds to sleep */
	unsigned long after;	/* matching calls let through before firing */
	unsigned long times;	/* how often to fire; 0 means forever */
	unsigned long calls;	/* matching calls since the rule was parsed */
};

/* A parsed control file; all zero means pure pass-through. */
struct config {
	int broken;		/* unreadable or invalid: every call fails */
	int removed;
	CK_FLAGS flags_set, flags_clear;
	CK_FLAGS slot_flags_set;
	char label[LABEL_SIZE + 1];	/* empty: faults hit every slot */
	size_t nhidden;
	CK_MECHANISM_TYPE hidden[MAX_HIDDEN];
	int pinpad;
	char pinpad_pin[MAX_PIN + 1];
	size_t nrules;
	struct rule rules[MAX_RULES];
};

/* What a call addresses, which decides whether slot_label selects it. */
enum kind { KIND_MODULE, KIND_SLOT, KIND_SESSION };

struct call {
	enum fn fn;
	enum kind kind;
	CK_ULONG target;	/* slot ID or session handle, per kind */
	CK_USER_TYPE user;	/* C_Login only */
};

struct verdict {
	int fail;		/* return rv without calling the real module */
	CK_RV rv;
	int removed;		/* the addressed token counts as pulled out */
	CK_FLAGS flags_set, flags_clear;
	CK_FLAGS slot_flags_set;
	size_t nhidden;
	CK_MECHANISM_TYPE hidden[MAX_HIDDEN];
	int pinpad;
	char pinpad_pin[MAX_PIN + 1];
};

struct session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
};

/* Guards everything below except real, which is written once before the
 * shim's function list is first handed out and only read afterwards. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST_PTR real;
static char *control_path, *log_path;
static char *control_text;	/* content cfg was parsed from; NULL: none */
static size_t control_len;
static struct config cfg;
static struct session *sessions;
static size_t nsessions, sessions_cap;

/* ---- control file ---------------------------------------------------- */

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Decimal, or hexadecimal with 0x (a leading 0 does not mean octal). */
static int parse_number(const char *s, unsigned long *out)
{
	int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*out = strtoul(s, &end, base);
	return (errno || *end) ? -1 : 0;
}

static int lookup(const struct name *tab, size_t n, const char *s,
		  CK_ULONG *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(tab[i].name, s) == 0) {
			*out = tab[i].value;
			return 0;
		}
	}
	return parse_number(s, out);
}

static const char *parse_flags(char *value, const struct name *names,
			       size_t nnames, CK_FLAGS *out)
{
	char *save, *tok;
	CK_ULONG flag;

	if (*value == '\0')
		return "expected FLAG|FLAG...";
	for (tok = strtok_r(value, "|", &save); tok;
	     tok = strtok_r(NULL, "|", &save)) {
		if (lookup(names, nnames, trim(tok), &flag))
			return "unknown flag";
		*out |= flag;
	}
	return NULL;
}

/* FUNCTION[:USERTYPE] VALUE [after=N] [times=M] */
static const char *parse_rule(enum action action, char *value, struct rule *r)
{
	const char *blank = " \t";
	char *save, *fname, *arg, *user, *q;
	size_t i;

	memset(r, 0, sizeof *r);
	r->action = action;
	r->user = ANY_USER;
	fname = strtok_r(value, blank, &save);
	arg = strtok_r(NULL, blank, &save);
	if (!fname || !arg)
		return "expected FUNCTION VALUE [after=N] [times=M]";

	user = strchr(fname, ':');
	if (user)
		*user++ = '\0';
	for (i = 0; i < FN_COUNT && strcmp(fn_names[i], fname) != 0; i++)
		;
	if (i == FN_COUNT)
		return "unknown function";
	r->fn = (enum fn)i;
	if (user && r->fn != FN_C_Login)
		return "a user type is only allowed on C_Login";
	if (user && lookup(user_names, COUNT(user_names), user, &r->user))
		return "unknown user type (SO, USER, CONTEXT_SPECIFIC)";

	if (action == ACT_FAIL ?
	    lookup(rv_names, COUNT(rv_names), arg, &r->value) :
	    parse_number(arg, &r->value))
		return action == ACT_FAIL ? "unknown CKR value" :
					    "delay expects milliseconds";

	while ((q = strtok_r(NULL, blank, &save))) {
		if (strncmp(q, "after=", 6) == 0) {
			if (parse_number(q + 6, &r->after))
				return "after= expects a number";
		} else if (strncmp(q, "times=", 6) == 0) {
			if (parse_number(q + 6, &r->times) || r->times == 0)
				return "times= expects a positive number";
		} else {
			return "unknown qualifier (after=N, times=M)";
		}
	}
	return NULL;
}

static const char *parse_line(char *line, struct config *c)
{
	char *key, *value, *eq;
	unsigned long n;

	line[strcspn(line, "#")] = '\0';
	key = trim(line);
	if (*key == '\0')
		return NULL;
	eq = strchr(key, '=');
	if (!eq)
		return "expected KEY = VALUE";
	*eq = '\0';
	key = trim(key);
	value = trim(eq + 1);

	if (strcmp(key, "fail") == 0 || strcmp(key, "delay") == 0) {
		enum action action = strcmp(key, "fail") == 0 ? ACT_FAIL : ACT_DELAY;
		const char *why;

		if (c->nrules == MAX_RULES)
			return "too many fail/delay rules";
		why = parse_rule(action, value, &c->rules[c->nrules]);
		if (!why)
			c->nrules++;
		return why;
	}
	if (strcmp(key, "token_flags_set") == 0)
		return parse_flags(value, flag_names, COUNT(flag_names),
				   &c->flags_set);
	if (strcmp(key, "token_flags_clear") == 0)
		return parse_flags(value, flag_names, COUNT(flag_names),
				   &c->flags_clear);
	if (strcmp(key, "slot_flags_set") == 0)
		return parse_flags(value, slot_flag_names,
				   COUNT(slot_flag_names), &c->slot_flags_set);
	if (strcmp(key, "mechanisms_hide") == 0) {
		char *save, *tok;
		CK_ULONG mech;

		if (*value == '\0')
			return "expected CKM_...|CKM_...";
		for (tok = strtok_r(value, "|", &save); tok;
		     tok = strtok_r(NULL, "|", &save)) {
			if (lookup(mechanism_names, COUNT(mechanism_names),
				   trim(tok), &mech))
				return "unknown mechanism";
			if (c->nhidden == MAX_HIDDEN)
				return "too many hidden mechanisms";
			c->hidden[c->nhidden++] = mech;
		}
		return NULL;
	}
	if (strcmp(key, "pinpad") == 0) {
		if (*value == '\0' || strlen(value) > MAX_PIN)
			return "pinpad expects the PIN typed on the pad, 1 to 64 bytes";
		c->pinpad = 1;
		strcpy(c->pinpad_pin, value);
		return NULL;
	}
	if (strcmp(key, "removed") == 0) {
		if (parse_number(value, &n) || n > 1)
			return "removed expects 0 or 1";
		c->removed = (int)n;
		return NULL;
	}
	if (strcmp(key, "slot_label") == 0) {
		if (*value == '\0' || strlen(value) > LABEL_SIZE)
			return "slot_label expects 1 to 32 bytes";
		strcpy(c->label, value);
		return NULL;
	}
	return "unknown directive";
}

static int parse_config(const char *text, struct config *c)
{
	char line[MAX_LINE], orig[MAX_LINE];
	const char *p = text, *why;
	unsigned lineno = 0;
	size_t n;

	memset(c, 0, sizeof *c);
	while (*p) {
		n = strcspn(p, "\n");
		lineno++;
		if (n >= sizeof line) {
			why = "line too long";
			orig[0] = '\0';
		} else {
			memcpy(line, p, n);
			line[n] = '\0';
			strcpy(orig, line);
			why = parse_line(line, c);
		}
		if (why) {
			fprintf(stderr, "p11shim: %s:%u: %s: %s\n",
				control_path, lineno, why, orig);
			return -1;
		}
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

/* Reads the whole file into a NUL-terminated buffer; a missing file reads
 * as empty.  Returns 0 or an errno value. */
static int read_file(const char *path, char **out, size_t *outlen)
{
	size_t len = 0, cap = 4096;
	char *buf, *grown;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return errno;
	buf = malloc(cap);
	if (!buf)
		err = ENOMEM;
	while (!err && fd >= 0) {
		if (len + 1 == cap) {
			if (cap >= MAX_CONTROL_SIZE) {
				err = EFBIG;
				break;
			}
			grown = realloc(buf, 2 * cap);
			if (!grown) {
				err = ENOMEM;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno != EINTR)
			err = errno;
		else if (n == 0)
			break;
		else if (n > 0)
			len += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

static void forget_control_locked(void)
{
	free(control_text);
	control_text = NULL;
	memset(&cfg, 0, sizeof cfg);
}

/*
 * Re-reads the control file on every call: tests rewrite it between calls,
 * possibly within one mtime tick and at the same size, so stat() could miss
 * a change.  Rules, and with them their counters, are only rebuilt when the
 * content differs.
 */
static void refresh_config_locked(void)
{
	char *text = NULL;
	size_t len = 0;
	int err;

	if (!control_path)
		return;
	err = read_file(control_path, &text, &len);
	if (err) {
		fprintf(stderr, "p11shim: %s: %s\n", control_path,
			strerror(err));
		forget_control_locked();
		cfg.broken = 1;
		return;
	}
	if (control_text && len == control_len &&
	    memcmp(text, control_text, len) == 0) {
		free(text);
		return;
	}
	free(control_text);
	control_text = text;
	control_len = len;
	if (parse_config(text, &cfg) < 0) {
		memset(&cfg, 0, sizeof cfg);
		cfg.broken = 1;
	}
}

/* ---- call log -------------------------------------------------------- */

/* Opened per call so tests may truncate or delete the log at any time; a
 * single write() with O_APPEND keeps lines whole. */
static void log_call_locked(enum fn fn)
{
	char line[64];
	int fd, n;

	if (!log_path)
		return;
	n = snprintf(line, sizeof line, "%s\n", fn_names[fn]);
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n)
		fprintf(stderr, "p11shim: %s: %s\n", log_path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* ---- session to slot map, for slot_label ------------------------------ */

static void session_add_locked(CK_SESSION_HANDLE handle, CK_SLOT_ID slot)
{
	struct session *grown;
	size_t cap;

	if (nsessions == sessions_cap) {
		cap = sessions_cap ? 2 * sessions_cap : 16;
		grown = realloc(sessions, cap * sizeof *sessions);
		/* Out of memory only makes the session unknown, which
		 * slot_label treats as belonging to no labelled slot. */
		if (!grown)
			return;
		sessions = grown;
		sessions_cap = cap;
	}
	sessions[nsessions].handle = handle;
	sessions[nsessions].slot = slot;
	nsessions++;
}

static int session_slot_locked(CK_SESSION_HANDLE handle, CK_SLOT_ID *slot)
{
	size_t i;

	for (i = 0; i < nsessions; i++) {
		if (sessions[i].handle == handle) {
			*slot = sessions[i].slot;
			return 1;
		}
	}
	return 0;
}

static void session_forget_locked(CK_SESSION_HANDLE handle)
{
	size_t i;

	for (i = 0; i < nsessions; i++) {
		if (sessions[i].handle == handle) {
			sessions[i] = sessions[--nsessions];
			return;
		}
	}
}

static void slot_sessions_forget_locked(CK_SLOT_ID slot)
{
	size_t i = 0;

	while (i < nsessions) {
		if (sessions[i].slot == slot)
			sessions[i] = sessions[--nsessions];
		else
			i++;
	}
}

/* ---- fault decisions --------------------------------------------------- */

/*
 * Asks the real module for the token label.  Holding the lock across the
 * call is safe because the real module never calls back into the shim; it
 * only serialises fault evaluation, never the forwarded calls.
 */
static int slot_selected_locked(CK_SLOT_ID slot)
{
	CK_TOKEN_INFO info;
	size_t start = 0, end = sizeof info.label;

	if (cfg.label[0] == '\0')
		return 1;
	if (real->C_GetTokenInfo(slot, &info) != CKR_OK)
		return 0;
	while (start < end && (info.label[start] == ' ' || !info.label[start]))
		start++;
	while (end > start && (info.label[end - 1] == ' ' || !info.label[end - 1]))
		end--;
	return end - start == strlen(cfg.label) &&
	       memcmp(info.label + start, cfg.label, end - start) == 0;
}

static int call_selected_locked(const struct call *c)
{
	CK_SLOT_ID slot;

	switch (c->kind) {
	case KIND_SLOT:
		return slot_selected_locked(c->target);
	case KIND_SESSION:
		if (cfg.label[0] == '\0')
			return 1;
		return session_slot_locked(c->target, &slot) &&
		       slot_selected_locked(slot);
	default:
		return 1;
	}
}

/* Whether the configuration can affect this call at all; keeps the common
 * path free of the label lookups that call_selected_locked() may do. */
static int config_concerns_locked(const struct call *c)
{
	size_t i;

	if (cfg.removed)
		return 1;
	if (c->fn == FN_C_GetTokenInfo && (cfg.flags_set || cfg.flags_clear))
		return 1;
	if (c->fn == FN_C_GetSlotInfo && cfg.slot_flags_set)
		return 1;
	if (cfg.nhidden && (c->fn == FN_C_GetMechanismList ||
			    c->fn == FN_C_GetMechanismInfo ||
			    c->fn == FN_C_GenerateKeyPair ||
			    c->fn == FN_C_SignInit))
		return 1;
	if (cfg.pinpad && c->fn == FN_C_Login)
		return 1;
	for (i = 0; i < cfg.nrules; i++)
		if (cfg.rules[i].fn == c->fn)
			return 1;
	return 0;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Logs the call, applies delays and decides what the wrapper must do. */
static void intercept(const struct call *c, struct verdict *v)
{
	unsigned long delay_ms = 0;
	struct rule *r;
	size_t i;

	memset(v, 0, sizeof *v);
	pthread_mutex_lock(&lock);
	log_call_locked(c->fn);
	refresh_config_locked();
	if (cfg.broken) {
		v->fail = 1;
		v->rv = CKR_GENERAL_ERROR;
	} else if (config_concerns_locked(c) && call_selected_locked(c)) {
		for (i = 0; i < cfg.nrules; i++) {
			r = &cfg.rules[i];
			if (r->fn != c->fn ||
			    (r->user != ANY_USER && r->user != c->user))
				continue;
			r->calls++;
			if (r->calls <= r->after ||
			    (r->times && r->calls - r->after > r->times))
				continue;
			if (r->action == ACT_DELAY)
				delay_ms += r->value;
			else if (!v->fail) {
				v->fail = 1;
				v->rv = r->value;
			}
		}
		v->removed = cfg.removed;
		v->flags_set = cfg.flags_set;
		v->flags_clear = cfg.flags_clear;
		v->slot_flags_set = cfg.slot_flags_set;
		v->nhidden = cfg.nhidden;
		memcpy(v->hidden, cfg.hidden, sizeof v->hidden);
		v->pinpad = cfg.pinpad;
		memcpy(v->pinpad_pin, cfg.pinpad_pin, sizeof v->pinpad_pin);
	}
	pthread_mutex_unlock(&lock);
	if (delay_ms)
		sleep_ms(delay_ms);
}

/* The common outcome: a fail rule, or a pulled token for anything that
 * addresses a token. */
static int refused(const struct call *c, const struct verdict *v, CK_RV *rv)
{
	if (v->fail)
		*rv = v->rv;
	else if (v->removed && c->kind != KIND_MODULE)
		*rv = CKR_DEVICE_REMOVED;
	else
		return 0;
	return 1;
}

/* ---- wrappers ---------------------------------------------------------- */

#define WRAP(name, kind, target, params, args)				\
	static CK_RV shim_##name params					\
	{								\
		struct call c = { FN_##name, kind, target, 0 };		\
		struct verdict v;					\
		CK_RV rv;						\
									\
		intercept(&c, &v);					\
		if (refused(&c, &v, &rv))				\
			return rv;					\
		return real->name args;					\
	}
#define MODULE_FN(name, params, args) WRAP(name, KIND_MODULE, 0, params, args)
#define SLOT_FN(name, params, args) WRAP(name, KIND_SLOT, slotID, params, args)
#define SESSION_FN(name, params, args) \
	WRAP(name, KIND_SESSION, hSession, params, args)

MODULE_FN(C_Initialize,
	(CK_VOID_PTR pInitArgs),
	(pInitArgs))
MODULE_FN(C_GetInfo,
	(CK_INFO_PTR pInfo),
	(pInfo))
MODULE_FN(C_WaitForSlotEvent,
	(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pRserved),
	(flags, pSlot, pRserved))
SLOT_FN(C_InitToken,
	(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel),
	(slotID, pPin, ulPinLen, pLabel))
SESSION_FN(C_InitPIN,
	(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen),
	(hSession, pPin, ulPinLen))
SESSION_FN(C_SetPIN,
	(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen),
	(hSession, pOldPin, ulOldLen, pNewPin, ulNewLen))
SESSION_FN(C_GetSessionInfo,
	(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo),
	(hSession, pInfo))
SESSION_FN(C_GetOperationState,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, CK_ULONG_PTR pulOperationStateLen),
	(hSession, pOperationState, pulOperationStateLen))
SESSION_FN(C_SetOperationState,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey, CK_OBJECT_HANDLE hAuthenticationKey),
	(hSession, pOperationState, ulOperationStateLen, hEncryptionKey, hAuthenticationKey))
SESSION_FN(C_Logout,
	(CK_SESSION_HANDLE hSession),
	(hSession))
SESSION_FN(C_CreateObject,
	(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject),
	(hSession, pTemplate, ulCount, phObject))
SESSION_FN(C_CopyObject,
	(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject),
	(hSession, hObject, pTemplate, ulCount, phNewObject))
SESSION_FN(C_DestroyObject,
	(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject),
	(hSession, hObject))
SESSION_FN(C_GetObjectSize,
	(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize),
	(hSession, hObject, pulSize))
SESSION_FN(C_GetAttributeValue,
	(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount),
	(hSession, hObject, pTemplate, ulCount))
SESSION_FN(C_SetAttributeValue,
	(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount),
	(hSession, hObject, pTemplate, ulCount))
SESSION_FN(C_FindObjectsInit,
	(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount),
	(hSession, pTemplate, ulCount))
SESSION_FN(C_FindObjects,
	(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount),
	(hSession, phObject, ulMaxObjectCount, pulObjectCount))
SESSION_FN(C_FindObjectsFinal,
	(CK_SESSION_HANDLE hSession),
	(hSession))
SESSION_FN(C_EncryptInit,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey),
	(hSession, pMechanism, hKey))
SESSION_FN(C_Encrypt,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen),
	(hSession, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen))
SESSION_FN(C_EncryptUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen),
	(hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen))
SESSION_FN(C_EncryptFinal,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart, CK_ULONG_PTR pulLastEncryptedPartLen),
	(hSession, pLastEncryptedPart, pulLastEncryptedPartLen))
SESSION_FN(C_DecryptInit,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey),
	(hSession, pMechanism, hKey))
SESSION_FN(C_Decrypt,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen),
	(hSession, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen))
SESSION_FN(C_DecryptUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen),
	(hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen))
SESSION_FN(C_DecryptFinal,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen),
	(hSession, pLastPart, pulLastPartLen))
SESSION_FN(C_DigestInit,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism),
	(hSession, pMechanism))
SESSION_FN(C_Digest,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen),
	(hSession, pData, ulDataLen, pDigest, pulDigestLen))
SESSION_FN(C_DigestUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen),
	(hSession, pPart, ulPartLen))
SESSION_FN(C_DigestKey,
	(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey),
	(hSession, hKey))
SESSION_FN(C_DigestFinal,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen),
	(hSession, pDigest, pulDigestLen))
SESSION_FN(C_Sign,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen),
	(hSession, pData, ulDataLen, pSignature, pulSignatureLen))
SESSION_FN(C_SignUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen),
	(hSession, pPart, ulPartLen))
SESSION_FN(C_SignFinal,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen),
	(hSession, pSignature, pulSignatureLen))
SESSION_FN(C_SignRecoverInit,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey),
	(hSession, pMechanism, hKey))
SESSION_FN(C_SignRecover,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen),
	(hSession, pData, ulDataLen, pSignature, pulSignatureLen))
SESSION_FN(C_VerifyInit,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey),
	(hSession, pMechanism, hKey))
SESSION_FN(C_Verify,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen),
	(hSession, pData, ulDataLen, pSignature, ulSignatureLen))
SESSION_FN(C_VerifyUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen),
	(hSession, pPart, ulPartLen))
SESSION_FN(C_VerifyFinal,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen),
	(hSession, pSignature, ulSignatureLen))
SESSION_FN(C_VerifyRecoverInit,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey),
	(hSession, pMechanism, hKey))
SESSION_FN(C_VerifyRecover,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen),
	(hSession, pSignature, ulSignatureLen, pData, pulDataLen))
SESSION_FN(C_DigestEncryptUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen),
	(hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen))
SESSION_FN(C_DecryptDigestUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen),
	(hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen))
SESSION_FN(C_SignEncryptUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen),
	(hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen))
SESSION_FN(C_DecryptVerifyUpdate,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen),
	(hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen))
SESSION_FN(C_GenerateKey,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey),
	(hSession, pMechanism, pTemplate, ulCount, phKey))
SESSION_FN(C_WrapKey,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen),
	(hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen))
SESSION_FN(C_UnwrapKey,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey),
	(hSession, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate, ulAttributeCount, phKey))
SESSION_FN(C_DeriveKey,
	(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey),
	(hSession, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey))
SESSION_FN(C_SeedRandom,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen),
	(hSession, pSeed, ulSeedLen))
SESSION_FN(C_GenerateRandom,
	(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen),
	(hSession, RandomData, ulRandomLen))
SESSION_FN(C_GetFunctionStatus,
	(CK_SESSION_HANDLE hSession),
	(hSession))
SESSION_FN(C_CancelFunction,
	(CK_SESSION_HANDLE hSession),
	(hSession))

/* The functions below need more than "fail or forward". */

static CK_RV shim_C_Finalize(CK_VOID_PTR pReserved)
{
	struct call c = { FN_C_Finalize, KIND_MODULE, 0, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	rv = real->C_Finalize(pReserved);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&lock);
		nsessions = 0;
		pthread_mutex_unlock(&lock);
	}
	return rv;
}

/* With removed, the selected slots drop out of the tokenPresent list. */
static CK_RV present_slots(CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_SLOT_ID *all = NULL, *grown;
	CK_ULONG n = 0, kept = 0, i;
	CK_RV rv;

	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	/* Slots may appear between the two calls; ask again, as callers do. */
	do {
		rv = real->C_GetSlotList(CK_TRUE, NULL_PTR, &n);
		if (rv != CKR_OK)
			goto out;
		grown = realloc(all, (n ? n : 1) * sizeof *all);
		if (!grown) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		all = grown;
		rv = real->C_GetSlotList(CK_TRUE, all, &n);
	} while (rv == CKR_BUFFER_TOO_SMALL);
	if (rv != CKR_OK)
		goto out;

	pthread_mutex_lock(&lock);
	for (i = 0; i < n; i++)
		if (!slot_selected_locked(all[i]))
			all[kept++] = all[i];
	pthread_mutex_unlock(&lock);

	if (pSlotList && *pulCount < kept)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pSlotList)
		memcpy(pSlotList, all, kept * sizeof *all);
	*pulCount = kept;
out:
	free(all);
	return rv;
}

static CK_RV shim_C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
				CK_ULONG_PTR pulCount)
{
	struct call c = { FN_C_GetSlotList, KIND_MODULE, 0, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	if (tokenPresent && v.removed)
		return present_slots(pSlotList, pulCount);
	return real->C_GetSlotList(tokenPresent, pSlotList, pulCount);
}

static CK_RV shim_C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	struct call c = { FN_C_GetSlotInfo, KIND_SLOT, slotID, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (v.fail)
		return v.rv;
	/* The slot (the reader) stays; only its token is gone. */
	rv = real->C_GetSlotInfo(slotID, pInfo);
	if (rv == CKR_OK)
		pInfo->flags |= v.slot_flags_set;
	if (rv == CKR_OK && v.removed)
		pInfo->flags &= ~CKF_TOKEN_PRESENT;
	return rv;
}

static CK_RV shim_C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	struct call c = { FN_C_GetTokenInfo, KIND_SLOT, slotID, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	rv = real->C_GetTokenInfo(slotID, pInfo);
	if (rv == CKR_OK)
		pInfo->flags = (pInfo->flags & ~v.flags_clear) | v.flags_set;
	return rv;
}

static CK_RV shim_C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags,
				CK_VOID_PTR pApplication, CK_NOTIFY Notify,
				CK_SESSION_HANDLE_PTR phSession)
{
	struct call c = { FN_C_OpenSession, KIND_SLOT, slotID, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	rv = real->C_OpenSession(slotID, flags, pApplication, Notify, phSession);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&lock);
		session_add_locked(*phSession, slotID);
		pthread_mutex_unlock(&lock);
	}
	return rv;
}

/*
 * Closing still reaches the real module while the token is "removed", so
 * its sessions are freed as a real pull would free them; the caller sees
 * CKR_DEVICE_REMOVED all the same.
 */
static CK_RV shim_C_CloseSession(CK_SESSION_HANDLE hSession)
{
	struct call c = { FN_C_CloseSession, KIND_SESSION, hSession, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (v.fail)
		return v.rv;
	rv = real->C_CloseSession(hSession);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&lock);
		session_forget_locked(hSession);
		pthread_mutex_unlock(&lock);
	}
	return v.removed ? CKR_DEVICE_REMOVED : rv;
}

static CK_RV shim_C_CloseAllSessions(CK_SLOT_ID slotID)
{
	struct call c = { FN_C_CloseAllSessions, KIND_SLOT, slotID, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (v.fail)
		return v.rv;
	rv = real->C_CloseAllSessions(slotID);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&lock);
		slot_sessions_forget_locked(slotID);
		pthread_mutex_unlock(&lock);
	}
	return v.removed ? CKR_DEVICE_REMOVED : rv;
}

/*
 * With pinpad, the token has a PIN pad: a login without a PIN gets the PIN
 * "typed on the pad", and one with a PIN from the caller is refused, as a
 * reader that takes PINs from its pad only would.
 */
static CK_RV shim_C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
			  CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	struct call c = { FN_C_Login, KIND_SESSION, hSession, userType };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	if (v.pinpad) {
		if (pPin || ulPinLen)
			return CKR_ARGUMENTS_BAD;
		return real->C_Login(hSession, userType,
				     (CK_UTF8CHAR_PTR)v.pinpad_pin,
				     strlen(v.pinpad_pin));
	}
	return real->C_Login(hSession, userType, pPin, ulPinLen);
}

/* With mechanisms_hide, the token does not have those mechanisms: they are
 * not listed, have no info, and are refused where a call names them. */
static int hidden(const struct verdict *v, CK_MECHANISM_TYPE type)
{
	size_t i;

	for (i = 0; i < v->nhidden; i++)
		if (v->hidden[i] == type)
			return 1;
	return 0;
}

static CK_RV shim_C_GetMechanismList(CK_SLOT_ID slotID,
				     CK_MECHANISM_TYPE_PTR pMechanismList,
				     CK_ULONG_PTR pulCount)
{
	struct call c = { FN_C_GetMechanismList, KIND_SLOT, slotID, 0 };
	CK_MECHANISM_TYPE *all = NULL, *grown;
	CK_ULONG n = 0, kept = 0, i;
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	if (!v.nhidden)
		return real->C_GetMechanismList(slotID, pMechanismList, pulCount);
	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	do {
		rv = real->C_GetMechanismList(slotID, NULL_PTR, &n);
		if (rv != CKR_OK)
			goto out;
		grown = realloc(all, (n ? n : 1) * sizeof *all);
		if (!grown) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		all = grown;
		rv = real->C_GetMechanismList(slotID, all, &n);
	} while (rv == CKR_BUFFER_TOO_SMALL);
	if (rv != CKR_OK)
		goto out;
	for (i = 0; i < n; i++)
		if (!hidden(&v, all[i]))
			all[kept++] = all[i];
	if (pMechanismList && *pulCount < kept)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pMechanismList)
		memcpy(pMechanismList, all, kept * sizeof *all);
	*pulCount = kept;
out:
	free(all);
	return rv;
}

static CK_RV shim_C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
				     CK_MECHANISM_INFO_PTR pInfo)
{
	struct call c = { FN_C_GetMechanismInfo, KIND_SLOT, slotID, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	if (hidden(&v, type))
		return CKR_MECHANISM_INVALID;
	return real->C_GetMechanismInfo(slotID, type, pInfo);
}

static CK_RV shim_C_SignInit(CK_SESSION_HANDLE hSession,
			     CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	struct call c = { FN_C_SignInit, KIND_SESSION, hSession, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	if (pMechanism && hidden(&v, pMechanism->mechanism))
		return CKR_MECHANISM_INVALID;
	return real->C_SignInit(hSession, pMechanism, hKey);
}

static CK_RV shim_C_GenerateKeyPair(CK_SESSION_HANDLE hSession,
				    CK_MECHANISM_PTR pMechanism,
				    CK_ATTRIBUTE_PTR pPublicKeyTemplate,
				    CK_ULONG ulPublicKeyAttributeCount,
				    CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
				    CK_ULONG ulPrivateKeyAttributeCount,
				    CK_OBJECT_HANDLE_PTR phPublicKey,
				    CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	struct call c = { FN_C_GenerateKeyPair, KIND_SESSION, hSession, 0 };
	struct verdict v;
	CK_RV rv;

	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	if (pMechanism && hidden(&v, pMechanism->mechanism))
		return CKR_MECHANISM_INVALID;
	return real->C_GenerateKeyPair(hSession, pMechanism, pPublicKeyTemplate,
				       ulPublicKeyAttributeCount,
				       pPrivateKeyTemplate,
				       ulPrivateKeyAttributeCount, phPublicKey,
				       phPrivateKey);
}

/* ---- entry point --------------------------------------------------------- */

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);

/* Advertises the version of the header it is laid out by. */
static CK_FUNCTION_LIST shim_list = {
	{ CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
#define CK_PKCS11_FUNCTION_INFO(name) shim_##name,
#include "pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO
};

/* Points *path at a copy of the environment variable (NULL when unset or
 * empty).  Returns 1 when the value changed, 0 when not, -1 without memory. */
static int refresh_env_path(char **path, const char *name)
{
	const char *value = getenv(name);
	char *copy = NULL;

	if (value && *value == '\0')
		value = NULL;
	if (value ? (*path && strcmp(value, *path) == 0) : !*path)
		return 0;
	if (value && !(copy = strdup(value)))
		return -1;
	free(*path);
	*path = copy;
	return 1;
}

/*
 * The environment is read on every C_GetFunctionList, so a test that sets
 * new paths and loads the module again gets them even if the shim stayed
 * mapped in between.  The target is loaded once and never unloaded: callers
 * may still hold pointers into it.
 */
static CK_RV load_locked(void)
{
	int control_changed = refresh_env_path(&control_path, "P11SHIM_CONTROL");
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR list;
	const char *target;
	void *handle;

	if (control_changed < 0 || refresh_env_path(&log_path, "P11SHIM_LOG") < 0)
		return CKR_HOST_MEMORY;
	if (control_changed)
		forget_control_locked();
	if (real)
		return CKR_OK;

	target = getenv("P11SHIM_TARGET");
	if (!target || *target == '\0')
		target = DEFAULT_TARGET;
	handle = dlopen(target, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "p11shim: %s\n", dlerror());
		return CKR_GENERAL_ERROR;
	}
	get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
	if (!get_list || get_list(&list) != CKR_OK) {
		fprintf(stderr, "p11shim: %s: no usable C_GetFunctionList\n",
			target);
		dlclose(handle);
		return CKR_GENERAL_ERROR;
	}
	real = list;
	return CKR_OK;
}

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	struct call c = { FN_C_GetFunctionList, KIND_MODULE, 0, 0 };
	struct verdict v;
	CK_RV rv;

	pthread_mutex_lock(&lock);
	rv = load_locked();
	pthread_mutex_unlock(&lock);
	if (rv != CKR_OK)
		return rv;
	intercept(&c, &v);
	if (refused(&c, &v, &rv))
		return rv;
	if (!ppFunctionList)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &shim_list;
	return CKR_OK;
}

/* The only exported symbol. */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	return shim_C_GetFunctionList(ppFunctionList);
}
