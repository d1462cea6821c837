package transfer

import (
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image"
)

const okStorage = `"storage":{"root":"/r","run_root":"/s","driver":"overlay"}`

func TestDecodeHelperRequest(t *testing.T) {
	for _, tt := range []struct {
		name, in, wantErr string
	}{
		{"pull", `{` + okStorage + `,"pull":{"ref":"r/a:1","auth":{"Username":"u","Password":"p"}}}`, ""},
		{"load", `{` + okStorage + `,"load":"/a.tar"}`, ""},
		{"neither", `{` + okStorage + `}`, "neither a pull nor a load"},
		{"both", `{` + okStorage + `,"pull":{"ref":"r/a:1"},"load":"/a.tar"}`, "both a pull and a load"},
		{"unknown field", `{` + okStorage + `,"load":"/a.tar","exec":"sh"}`, "unknown field"},
		{"driver", `{"storage":{"root":"/r","run_root":"/s","driver":"btrfs"},"load":"/a.tar"}`, "storage driver"},
		{"trailing data", `{` + okStorage + `,"load":"/a.tar"}{}`, "data after the request"},
		{"not JSON", `load /a.tar`, "decode request"},
		{"too long", `{` + okStorage + `,"load":"` + strings.Repeat("a", image.MaxHelperRequest) + `"}`, "longer than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := decodeHelperRequest(strings.NewReader(tt.in))
			if tt.wantErr == "" {
				if err != nil || req == nil {
					t.Fatalf("decode = %v, %v", req, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("decode = %v, want an error containing %q", err, tt.wantErr)
			}
			if errdefs.ClassOf(err) != errdefs.ErrInvalidArgument {
				t.Errorf("%v is not classed invalid argument", err)
			}
		})
	}
}

// A refused request is answered, with its class, and serves nothing.
func TestServeHelperAnswersRefusal(t *testing.T) {
	var out strings.Builder
	if ServeHelper(t.Context(), strings.NewReader(`{}`), &out) {
		t.Fatal("an empty request succeeded")
	}
	if !strings.Contains(out.String(), `"class":"invalid argument"`) {
		t.Errorf("answer %q does not carry the class", out.String())
	}
}

func FuzzDecodeHelperRequest(f *testing.F) {
	f.Add(`{` + okStorage + `,"pull":{"ref":"r/a:1"}}`)
	f.Add(`{` + okStorage + `,"load":"/a.tar"}`)
	f.Add(`{"storage":{},"pull":null}`)
	f.Add(`{` + okStorage + `,"pull":{"ref":"r/a:1","auth":{"Auth":"YWxpY2U6czNjcmV0","IdentityToken":"t","RegistryToken":"\r\n"}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		req, err := decodeHelperRequest(strings.NewReader(in))
		if err != nil {
			return
		}
		if (req.Pull == nil) == (req.Load == "") {
			t.Fatalf("accepted a request that does not ask for exactly one copy: %q", in)
		}
		if d := req.Storage.Driver; d != image.DriverOverlay && d != image.DriverVFS {
			t.Fatalf("accepted driver %q", d)
		}
	})
}
