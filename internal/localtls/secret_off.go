//go:build !goexperiment.runtimesecret

package localtls

// withSecret runs f; without GOEXPERIMENT=runtimesecret there is no
// runtime/secret to erase what it leaves behind.
func withSecret(f func()) { f() }
