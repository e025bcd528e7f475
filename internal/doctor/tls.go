package doctor

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tokenagent/tokenagent/internal/config"
	"github.com/tokenagent/tokenagent/internal/localtls"
)

// tls reports the configured certificate and, for one `tls setup` made,
// its trust.
func (c *checker) tls(cfg config.Config) {
	if cfg.TLS.Cert == "" {
		c.info("tls", "not configured: pages connect over ws://")
		return
	}
	cert, err := localtls.ReadCert(cfg.TLS.Cert)
	switch {
	case err != nil:
		c.fail("tls", fmt.Sprintf("the certificate %s cannot be read: %v", cfg.TLS.Cert, err), "run: sudo tokenagent tls setup")
		return
	case localtls.RenewalDue(cert, time.Now()):
		c.warn("tls", fmt.Sprintf("the certificate %s expires %s and the agent could not renew it", cfg.TLS.Cert, cert.NotAfter.UTC().Format(time.DateOnly)),
			"run: sudo tokenagent tls setup")
	default:
		c.info("tls", "certificate %s (valid until %s), key %s", cfg.TLS.Cert, cert.NotAfter.UTC().Format(time.DateOnly), cfg.TLS.Key)
	}
	c.trust(filepath.Dir(cfg.TLS.Cert))
}

// trust tells, for a certificate `tls setup` made, which trust stores hold
// its CA: the system's, and each browser's of the user running doctor. A
// store without it means pages in that browser cannot reach wss://.
func (c *checker) trust(dir string) {
	in, err := localtls.Load(dir)
	if err != nil {
		c.info("tls trust", "the certificate was not made by tokenagent tls setup; its trust is not checked")
		return
	}
	stores, unopened := localtls.Selection{User: c.p.User}.TrustStores(in)
	for _, err := range unopened {
		c.warn("tls trust", err.Error(), "run: tokenagent tls status")
	}
	for _, s := range stores {
		ok, err := s.Contains(context.Background(), in.CA)
		switch {
		case err != nil:
			c.warn("tls trust", fmt.Sprintf("%s: cannot tell: %v", s.Ref(), err), "run: tokenagent tls status")
		case ok:
			c.ok("tls trust", "%s trusts the local CA", s.Ref())
		default:
			c.warn("tls trust", fmt.Sprintf("%s does not trust the local CA: pages there cannot use wss://", s.Ref()),
				"run as this user: tokenagent tls setup --user, or as root: sudo tokenagent tls setup")
		}
	}
}
