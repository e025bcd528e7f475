/*
 * p11drive: the selftest's PKCS#11 client for what pkcs11-tool cannot do,
 * namely many signatures in one process (the shim's after=/times= counters
 * live as long as the process) and from several threads at once.
 *
 *   p11drive MODULE TOKEN_LABEL USER_PIN SIGNATURES [THREADS]
 *
 * Logs in, then per signature opens a session, signs 32 bytes with the
 * token's first private key (CKM_ECDSA) and closes the session again, so an
 * injected failure cannot leave an operation active for the next round.
 * Prints the CK_RV of each round in hex, one per line ("0x0" on success).
 * Exits non-zero only when the setup before the first round fails.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK_PTR *
#define NULL_PTR 0
#define CK_DEFINE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType (*name)
#define CK_CALLBACK_FUNCTION(returnType, name) returnType (*name)
#include "pkcs11.h"

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE key;
static unsigned long rounds;

static void die(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11drive: %s: 0x%lx\n", what, rv);
	exit(1);
}

static int label_is(const CK_UTF8CHAR *label, const char *want)
{
	size_t n = 32;

	while (n > 0 && label[n - 1] == ' ')
		n--;
	return n == strlen(want) && memcmp(label, want, n) == 0;
}

static CK_SLOT_ID find_slot(const char *want)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO info;
	CK_RV rv;

	rv = p11->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK)
		die("C_GetSlotList", rv);
	for (i = 0; i < n; i++)
		if (p11->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    label_is(info.label, want))
			return slots[i];
	die("no token with that label", CKR_TOKEN_NOT_PRESENT);
	return 0;
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof cls };
	CK_OBJECT_HANDLE obj;
	CK_ULONG found = 0;
	CK_RV rv;

	rv = p11->C_FindObjectsInit(s, &tmpl, 1);
	if (rv == CKR_OK)
		rv = p11->C_FindObjects(s, &obj, 1, &found);
	p11->C_FindObjectsFinal(s);
	if (rv != CKR_OK || found == 0)
		die("no private key", rv);
	return obj;
}

static CK_RV sign_once(void)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL_PTR, 0 };
	CK_BYTE data[32] = { 0 }, sig[256];
	CK_ULONG siglen = sizeof sig;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL_PTR, NULL_PTR, &s);
	if (rv != CKR_OK)
		return rv;
	rv = p11->C_SignInit(s, &mech, key);
	if (rv == CKR_OK)
		rv = p11->C_Sign(s, data, sizeof data, sig, &siglen);
	p11->C_CloseSession(s);
	return rv;
}

static void *worker(void *arg)
{
	unsigned long i;

	(void)arg;
	for (i = 0; i < rounds; i++)
		printf("0x%lx\n", sign_once());
	return NULL;
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS init_args = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get_list;
	CK_SESSION_HANDLE login;
	pthread_t tid[64];
	unsigned long nthreads = 1, i;
	void *mod;
	CK_RV rv;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: p11drive MODULE TOKEN_LABEL USER_PIN SIGNATURES [THREADS]\n");
		return 2;
	}
	rounds = strtoul(argv[4], NULL, 10);
	if (argc == 6)
		nthreads = strtoul(argv[5], NULL, 10);
	if (nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "p11drive: THREADS must be 1..64\n");
		return 2;
	}

	mod = dlopen(argv[1], RTLD_NOW);
	if (!mod) {
		fprintf(stderr, "p11drive: %s\n", dlerror());
		return 1;
	}
	get_list = (CK_C_GetFunctionList)dlsym(mod, "C_GetFunctionList");
	if (!get_list)
		die("no C_GetFunctionList", CKR_GENERAL_ERROR);
	rv = get_list(&p11);
	if (rv != CKR_OK)
		die("C_GetFunctionList", rv);
	/* Threads need the module's own locking, as Go's miekg/pkcs11 asks. */
	rv = p11->C_Initialize(&init_args);
	if (rv != CKR_OK)
		die("C_Initialize", rv);

	slot = find_slot(argv[2]);
	/* This session holds the login for all the per-round sessions. */
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL_PTR, NULL_PTR, &login);
	if (rv != CKR_OK)
		die("C_OpenSession", rv);
	/* An empty PIN logs in with none, as on a PIN pad (NULL_PTR). */
	rv = p11->C_Login(login, CKU_USER, *argv[3] ? (CK_UTF8CHAR_PTR)argv[3] : NULL_PTR, strlen(argv[3]));
	if (rv != CKR_OK)
		die("C_Login", rv);
	key = find_key(login);

	for (i = 0; i < nthreads; i++)
		if (pthread_create(&tid[i], NULL, worker, NULL) != 0)
			die("pthread_create", CKR_HOST_MEMORY);
	for (i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);

	p11->C_CloseSession(login);
	p11->C_Finalize(NULL_PTR);
	return 0;
}
