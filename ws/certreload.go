package ws

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
)

// certReloader serves the key pair in two files and loads it again when
// either file changes, so a certificate renewed on disk (tokenagent tls
// setup, or the agent's own renewal) is served without a restart.
type certReloader struct {
	certFile, keyFile string

	mu    sync.Mutex
	cert  *tls.Certificate
	stamp string // size and modification time of both files when loaded
}

// stamp identifies the files' current contents cheaply.
func (r *certReloader) currentStamp() string {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		if st, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%d/%d;", st.Size(), st.ModTime().UnixNano())
		}
	}
	return s
}

// get returns the key pair, loading it again when the files changed. A pair
// that fails to load (half written, say) leaves the last good one served.
func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	stamp := r.currentStamp()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && stamp == r.stamp {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("loading the TLS key pair: %w", err)
	}
	r.cert, r.stamp = &cert, stamp
	return r.cert, nil
}
