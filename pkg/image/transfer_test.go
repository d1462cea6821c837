package image_test

import (
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/image/transfer"
)

// The tests of this package pull with pkg/image/transfer, as the daemon
// does.
func init() { image.SetTestTransfer(transfer.Puller{}, transfer.Load) }
