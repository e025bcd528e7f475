package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tokenagent/tokenagent/internal/gost"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// MaxBatch is the most items one sign.batch call may carry.
const MaxBatch = 1000

// SignFormat is the form of a signature; the zero value is FormatRaw.
type SignFormat string

// The signature formats.
const (
	FormatRaw SignFormat = "raw" // the bare signature
	FormatCMS SignFormat = "cms" // CMS SignedData (CAdES-BES)
)

// SignOptions say how to sign.
type SignOptions struct {
	Cert     string // certificate id; its key signs
	Hash     crypto.Hash
	Streebog Streebog // instead of Hash, for GOST keys: the Streebog of the key's size
	Format   SignFormat
	PSS      bool // RSA-PSS instead of PKCS#1 v1.5
	Detached bool // CMS: leave the data out
}

// SignInput is one thing to sign: the data, or its digest made with the
// options' hash. Exactly one is set.
type SignInput struct {
	Data   []byte
	Digest []byte
}

// sha256 is the audit log's dataSha256 of in: the hex SHA-256 of the
// bytes received, the data or the digest.
func (in SignInput) sha256() string {
	b := in.Data
	if b == nil {
		b = in.Digest
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Signature is one signature made.
type Signature struct {
	Value     []byte
	Format    SignFormat
	Algorithm string // e.g. "RSA-PSS-SHA512"
}

// checkInput returns why in cannot be signed with opts, or nil.
func checkInput(in SignInput, opts SignOptions) error {
	switch {
	case (in.Data == nil) == (in.Digest == nil):
		return fmt.Errorf("exactly one of data and digest is required")
	case in.Digest != nil && len(in.Digest) != opts.digestSize():
		return fmt.Errorf("digest is %d bytes; %s needs %d", len(in.Digest), opts.digestName(), opts.digestSize())
	case in.Digest != nil && opts.Format == FormatCMS && !opts.Detached:
		return fmt.Errorf("an attached CMS signature needs the data, not its digest")
	}
	return nil
}

// Sign signs one input with the key of certificate opts.Cert.
func (a *Agent) Sign(ctx context.Context, call Call, opts SignOptions, in SignInput) (Signature, error) {
	sigs, err := a.sign(ctx, call, opts, []SignInput{in}, false)
	if err != nil {
		return Signature{}, err
	}
	return sigs[0], nil
}

// SignBatch signs up to MaxBatch inputs in one login; the signatures come in
// the inputs' order. An invalid input fails the call before anything is
// signed, with its index in the error's data.
func (a *Agent) SignBatch(ctx context.Context, call Call, opts SignOptions, items []SignInput) ([]Signature, error) {
	return a.sign(ctx, call, opts, items, true)
}

func (a *Agent) sign(ctx context.Context, call Call, opts SignOptions, items []SignInput, batch bool) ([]Signature, error) {
	p := a.attempt(ctx, call)
	p.rec.Object = opts.Cert
	p.shown.Object, p.certRequired = opts.Cert, true
	p.inputs, p.batch = items, batch
	p.signed = make([]bool, len(items))
	if err := checkBatch(opts, items, batch); err != nil {
		return nil, p.finish(err)
	}
	sigs := make([]Signature, len(items))
	err := p.run(func() error {
		return p.login(func(s *token.Session) error {
			cert, err := s.Certificate(opts.Cert)
			if err != nil {
				return err
			}
			p.rec.CertSHA256 = certHash(cert.Cert)
			pk, err := s.KeyForCertificate(cert)
			if err != nil {
				return fmt.Errorf("certificate %s has no private key on the token: %w", opts.Cert, token.ErrObjectNotFound)
			}
			alg, err := algorithmName(pk, opts)
			if err != nil {
				return err
			}
			key, err := signer.New(s, pk)
			if err != nil {
				return err
			}
			now := a.opts.Now().UTC()
			// One after the other, with the key itself, in the one
			// session: what every token does.
			for i, in := range items {
				v, err := signOne(key, &cert, opts, in, now)
				if err != nil {
					return err
				}
				sigs[i] = Signature{Value: v, Format: opts.Format, Algorithm: alg}
				p.signed[i] = true
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return sigs, nil
}

// checkBatch validates the options and every item before the token is
// touched.
func checkBatch(opts SignOptions, items []SignInput, batch bool) error {
	if _, ok := hashNames[opts.Hash]; !ok && !validStreebog(opts) {
		return Errorf(InvalidInput, "unsupported digest algorithm")
	}
	if len(items) == 0 || len(items) > MaxBatch {
		return Errorf(InvalidInput, "items must hold 1 to %d entries", MaxBatch)
	}
	for i, in := range items {
		if err := checkInput(in, opts); err != nil {
			e := Errorf(InvalidInput, "%v", err)
			if batch {
				e = Errorf(InvalidInput, "items[%d]: %v", i, err)
				e.Item = &i
			}
			return e
		}
	}
	return nil
}

// signOne makes one signature, raw or CMS, over data or a digest.
func signOne(key *signer.Key, cert *token.Certificate, opts SignOptions, in SignInput, now time.Time) ([]byte, error) {
	if opts.Format != FormatCMS {
		so := opts.signerOpts()
		if in.Data != nil {
			return key.SignData(in.Data, so)
		}
		return key.Sign(nil, in.Digest, so)
	}
	cmsOpts := signer.CMSOptions{Hash: opts.Hash, Streebog: opts.Streebog, PSS: opts.PSS, Detached: opts.Detached, SigningTime: now}
	if in.Data != nil {
		return signer.SignCMS(key, cert.Cert, in.Data, cmsOpts)
	}
	return signer.SignCMSDigest(key, cert.Cert, in.Digest, cmsOpts)
}

// signerOpts are the crypto.SignerOpts of a raw signature as opts say.
func (opts SignOptions) signerOpts() crypto.SignerOpts {
	switch {
	case opts.Streebog != 0:
		return opts.Streebog
	case opts.PSS:
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: opts.Hash}
	}
	return opts.Hash
}

// hashNames are the hashes signing takes, as algorithm names spell them.
var hashNames = map[crypto.Hash]string{crypto.SHA256: "SHA256", crypto.SHA384: "SHA384", crypto.SHA512: "SHA512"}

// algorithmName names what signing with key and opts does, e.g.
// "RSA-PSS-SHA512"; PSS with a key that is not RSA is an invalid request.
func algorithmName(key token.PrivateKey, opts SignOptions) (string, error) {
	if _, ok := key.Public.(*gost.PublicKey); ok || opts.Streebog != 0 {
		return gostAlgorithmName(key, opts)
	}
	switch key.Public.(type) {
	case *rsa.PublicKey:
		if opts.PSS {
			return "RSA-PSS-" + hashNames[opts.Hash], nil
		}
		return "RSA-PKCS1v15-" + hashNames[opts.Hash], nil
	case *ecdsa.PublicKey:
		if opts.PSS {
			return "", Errorf(InvalidInput, "pss padding needs an RSA key")
		}
		return "ECDSA-" + hashNames[opts.Hash], nil
	}
	return "", fmt.Errorf("key %s: %w", key.ID, signer.ErrUnsupported)
}
