package testregistry

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Named is an image and the references it is pushed under.
type Named struct {
	Refs  []string
	Image v1.Image
}

// PushAll pushes each image under each of its references, printing
// "pushed REF DIGEST" to w for each.
func (r *Registry) PushAll(ctx context.Context, w io.Writer, images []Named) error {
	for _, n := range images {
		for _, ref := range n.Refs {
			full, digest, err := r.Push(ctx, ref, n.Image)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "pushed", full, digest)
		}
	}
	return nil
}

// SameImages says which of images are one image under two entries (their
// digests equal), as "REF and REF are the same image DIGEST".
func SameImages(images []Named) ([]string, error) {
	seen := map[string]string{}
	var same []string
	for _, n := range images {
		d, err := n.Image.Digest()
		if err != nil {
			return nil, err
		}
		if other, ok := seen[d.String()]; ok {
			same = append(same, fmt.Sprintf("%s and %s are the same image %s", n.Refs[0], other, d))
		}
		seen[d.String()] = n.Refs[0]
	}
	return same, nil
}
