//go:build goexperiment.runtimesecret

package localtls

import "runtime/secret"

// withSecret runs f inside secret.Do, which erases what f leaves behind.
func withSecret(f func()) { secret.Do(f) }
