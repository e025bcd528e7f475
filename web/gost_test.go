package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/gosttest"
	"github.com/tokenagent/tokenagent/internal/openssl"
	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// TestSelfServicePageGOST signs a file with a GOST certificate on the
// SoftHSM built with GOST: WebCrypto has no Streebog, so the page sends the
// file and the agent hashes it. OpenSSL and certtool verify the download.
func TestSelfServicePageGOST(t *testing.T) {
	env := softhsm.NewGOST(t)
	if err := env.InitToken("gost", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	f := servePage(t, env, nil, env.Module)
	f.t = t
	ca := gosttest.NewCA(t, "GOST CA")
	ctx := context.Background()
	// A call's PIN is cleared when the call ends, so each call gets its own.
	call := func() agent.Call {
		return agent.Call{Origin: agent.LocalOrigin, Token: f.tokenID("gost"), PIN: []byte(userPIN)}
	}
	key, err := f.agent.GenerateKey(ctx, call(), agent.KeySpec{Algorithm: "GOST-2012-256"}, "gost")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := f.agent.CreateCSR(ctx, call(), key.ID, agent.CertificateRequest{Subject: agent.Subject{CommonName: "GOST Signer"}})
	if err != nil {
		t.Fatal(err)
	}
	cert := ca.Issue(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
	certID, err := f.agent.ImportCertificate(ctx, call(), cert, "")
	if err != nil {
		t.Fatal(err)
	}

	f.open("en")
	id := call().Token
	dir := t.TempDir()
	data := []byte(strings.Repeat("документ на подпись\n", 500))
	openssl.WriteFiles(t, dir, map[string][]byte{"doc.txt": data})
	downloads := f.chooseFileToSign(id, filepath.Join(dir, "doc.txt"))
	f.submit(id, "sign", map[string]any{"cert": certID, "pin": userPIN})
	sig := f.signature(id, downloads, "doc.txt.p7s")
	if err := gosttest.OpenSSLCMS(t, ca.PEM, sig, data, nil); err != nil {
		t.Error(err)
	}
	if err := gosttest.CertToolCMS(t, ca.PEM, sig, data); err != nil {
		t.Error(err)
	}
	// The page sent the file itself: the audit line has its SHA-256.
	sum := sha256.Sum256(data)
	if !strings.Contains(f.audit.String(), `"dataSha256":"`+hex.EncodeToString(sum[:])+`"`) {
		t.Errorf("the audit log has no line for the file's own bytes: %s", f.audit.String())
	}
}
