// Package signer turns keys on tokens into Go signers: a crypto.Signer over
// a token key (usable by x509.CreateCertificateRequest and the like), and
// CMS SignedData (CAdES-BES) built around any crypto.Signer. A GOST
// R 34.10-2012 key signs Streebog digests (its SignerOpts is a Streebog),
// and its certificate requests are built here (CreateGOSTCertificateRequest),
// since crypto/x509 knows no GOST.
//
// A Key is bound to one token.Session, so it is valid only inside the
// callback of token.Manager.Login that opened the session: the login, every
// signature and the logout happen under the token's lock, and the PIN stays
// with that one call. A Key is not safe for concurrent use, as the session
// under it is not.
package signer
