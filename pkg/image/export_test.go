package image

import "context"

// testPuller is the Puller of testOptions. pkg/image/transfer imports this
// package, so these tests cannot; transfer_test.go, an external test file
// in the same test binary, sets it.
var testPuller Puller

// testLoad is pkg/image/transfer's Load, set with testPuller.
var testLoad func(ctx context.Context, s *Store, file string) ([]*Image, error)

// SetTestTransfer sets the Puller of testOptions and the Load of the tests.
func SetTestTransfer(p Puller, load func(ctx context.Context, s *Store, file string) ([]*Image, error)) {
	testPuller, testLoad = p, load
}
