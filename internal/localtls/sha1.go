//go:build windows || darwin

package localtls

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
)

// shortFingerprintSHA1 is the lowercase hex SHA-1 of the certificate's DER,
// the hash by which certutil.exe and security(1) name certificates.
func shortFingerprintSHA1(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return hex.EncodeToString(sum[:])
}
