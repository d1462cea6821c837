package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image"
)

// ServeHelper is crisp-image, the other side of image.Helper: it reads one
// image.HelperRequest from in, copies the image or archive into the
// storage the request names, and writes an image.HelperResult to out. It
// reports whether the copy succeeded. Neither shared downloads nor the
// removal of a failed copy's layers happen here: the Store that asked does
// both, as it alone knows which of its copies are still running.
func ServeHelper(ctx context.Context, in io.Reader, out io.Writer) bool {
	res := serveHelper(ctx, in)
	if err := json.NewEncoder(out).Encode(res); err != nil {
		klog.ErrorS(err, "Cannot answer")
		return false
	}
	return res.Error == ""
}

func serveHelper(ctx context.Context, in io.Reader) *image.HelperResult {
	req, err := decodeHelperRequest(in)
	if err != nil {
		return failed(err)
	}
	s, err := image.Open(ctx, req.Storage.Options(Copier{}))
	if err != nil {
		return failed(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			klog.ErrorS(err, "Closing image storage")
		}
	}()
	if req.Pull != nil {
		named, err := image.ParseReference(req.Pull.Ref)
		if err != nil {
			return failed(err)
		}
		id, downloaded, err := Copier{}.Pull(ctx, s, named, req.Pull.Auth)
		if err != nil {
			return failed(err)
		}
		return &image.HelperResult{IDs: []string{id}, Downloaded: downloaded}
	}
	ids, err := Copier{}.Load(ctx, s, req.Load)
	if err != nil {
		return failed(err)
	}
	return &image.HelperResult{IDs: ids}
}

// failed is the result of a copy that failed with err.
func failed(err error) *image.HelperResult {
	res := &image.HelperResult{Error: err.Error()}
	if c := errdefs.ClassOf(err); c != nil {
		res.Class = c.Error()
	}
	return res
}

// decodeHelperRequest reads a request of at most image.MaxHelperRequest
// bytes that asks for exactly one pull or load.
func decodeHelperRequest(in io.Reader) (*image.HelperRequest, error) {
	data, err := io.ReadAll(io.LimitReader(in, image.MaxHelperRequest+1))
	if err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	if len(data) > image.MaxHelperRequest {
		return nil, fmt.Errorf("request longer than %d bytes: %w", image.MaxHelperRequest, errdefs.ErrInvalidArgument)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req image.HelperRequest
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("decode request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode request: data after the request: %w", errdefs.ErrInvalidArgument)
	}
	switch {
	case req.Pull == nil && req.Load == "":
		return nil, fmt.Errorf("request asks for neither a pull nor a load: %w", errdefs.ErrInvalidArgument)
	case req.Pull != nil && req.Load != "":
		return nil, fmt.Errorf("request asks for both a pull and a load: %w", errdefs.ErrInvalidArgument)
	case req.Storage.Driver != image.DriverOverlay && req.Storage.Driver != image.DriverVFS:
		return nil, fmt.Errorf("request names storage driver %q: %w", req.Storage.Driver, errdefs.ErrInvalidArgument)
	}
	return &req, nil
}
