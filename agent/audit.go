package agent

import "time"

// AuditRecord is one line of the audit log: who did what to which token,
// and how it ended. It never holds a PIN or the signed data.
type AuditRecord struct {
	Time       time.Time
	Origin     string // "local" without an Origin
	Method     string // the call's name, as Call.Method gives it
	Token      string // token id
	Serial     string // token serial number, when known
	Object     string // certificate or key id, when one is involved
	CertSHA256 string // hex, when a certificate is involved
	DataSHA256 string // hex SHA-256 of what was signed, for signing
	Consent    string // ConsentAgent when the person typed the PIN on the consent page; else empty
	Outcome    string // "ok", or the name of the error's Kind
}

// Auditor receives audit records: one call's, in one batch (sign.batch
// has a record per item), so that they can be written at once.
// Implementations must be safe for concurrent use.
type Auditor interface {
	Audit(...AuditRecord)
}
