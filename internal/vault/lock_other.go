//go:build !unix

package vault

// lockFile is a no-op where flock is unavailable: concurrent rotations of
// the same keyring file are then the operator's responsibility.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
