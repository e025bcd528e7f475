//go:build unix

package token

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// The few pieces of the PKCS#11 ABI these calls use, as the standard lays
// them out (no packing outside Windows). The function list is a version
// followed by the functions in pkcs11f.h's order, which PKCS#11 2.x never
// changes: C_GetAttributeValue is the 25th, C_Sign the 44th.
typedef unsigned long ck_ulong;
typedef struct { unsigned char major, minor; } ck_version;
typedef struct { ck_version version; void *fn[68]; } ck_function_list;
typedef struct { ck_ulong type; void *value; ck_ulong len; } ck_attribute;

enum { fn_get_attribute_value = 24, fn_sign = 43 };

typedef ck_ulong (*get_function_list_fn)(ck_function_list **);
typedef ck_ulong (*get_attribute_value_fn)(ck_ulong, ck_ulong, ck_attribute *, ck_ulong);
typedef ck_ulong (*sign_fn)(ck_ulong, unsigned char *, ck_ulong, unsigned char *, ck_ulong *);

// direct_open loads the library again (the loader hands back the one
// already loaded) and asks it for its function list, the same one
// miekg/pkcs11 calls through.
static ck_function_list *direct_open(const char *path, void **handle) {
	ck_function_list *list = NULL;
	get_function_list_fn get;
	*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*handle)
		return NULL;
	get = (get_function_list_fn)dlsym(*handle, "C_GetFunctionList");
	if (!get || get(&list) != 0 || !list) {
		dlclose(*handle);
		*handle = NULL;
		return NULL;
	}
	return list;
}

static void direct_close(void *handle) { dlclose(handle); }

static ck_ulong direct_attribute(ck_function_list *l, ck_ulong session, ck_ulong object,
		ck_ulong type, void *value, ck_ulong *len) {
	ck_attribute a = { type, value, *len };
	ck_ulong rv = ((get_attribute_value_fn)l->fn[fn_get_attribute_value])(session, object, &a, 1);
	*len = a.len;
	return rv;
}

static ck_ulong direct_sign(ck_function_list *l, ck_ulong session, unsigned char *data,
		ck_ulong len, unsigned char *sig, ck_ulong *siglen) {
	return ((sign_fn)l->fn[fn_sign])(session, data, len, sig, siglen);
}
*/
import "C"

import (
	"unsafe"

	"github.com/miekg/pkcs11"
)

// directCalls makes the PKCS#11 calls that miekg/pkcs11 makes twice, once
// for the length and once for the value, as one call into a buffer sized
// beforehand: on a card each call can be a round trip. The zero value has
// none, and its callers use miekg/pkcs11 instead.
type directCalls struct {
	list   *C.ck_function_list
	handle unsafe.Pointer
}

// openDirect returns the direct calls of the library at path, which
// miekg/pkcs11 has loaded already; none when it cannot.
func openDirect(path string) directCalls {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var d directCalls
	d.list = C.direct_open(cpath, &d.handle)
	return d
}

func (d directCalls) available() bool { return d.list != nil }

func (d directCalls) close() {
	if d.handle != nil {
		C.direct_close(d.handle)
	}
}

// attribute reads attribute typ of object o into a buffer of size bytes.
// A longer value fails with CKR_BUFFER_TOO_SMALL; a shorter one comes back
// as it is.
func (d directCalls) attribute(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, typ uint, size int) ([]byte, error) {
	buf := make([]byte, max(size, 1))
	n := C.ck_ulong(size)
	rv := C.direct_attribute(d.list, C.ck_ulong(sh), C.ck_ulong(o), C.ck_ulong(typ), unsafe.Pointer(&buf[0]), &n)
	if rv != 0 {
		return nil, pkcs11.Error(rv)
	}
	return buf[:n], nil
}

// sign finishes the signing operation active in session sh with one C_Sign
// into a buffer of size bytes; should the signature be longer, it asks
// again with the length the module gave, which leaves the operation active.
func (d directCalls) sign(sh pkcs11.SessionHandle, data []byte, size int) ([]byte, error) {
	in := data
	if len(in) == 0 {
		in = []byte{0} // a valid pointer; the length says there is nothing
	}
	for {
		sig := make([]byte, max(size, 1))
		n := C.ck_ulong(size)
		rv := C.direct_sign(d.list, C.ck_ulong(sh), (*C.uchar)(&in[0]), C.ck_ulong(len(data)), (*C.uchar)(&sig[0]), &n)
		if rv == pkcs11.CKR_BUFFER_TOO_SMALL && int(n) > size {
			size = int(n)
			continue
		}
		if rv != 0 {
			return nil, pkcs11.Error(rv)
		}
		return sig[:n], nil
	}
}
