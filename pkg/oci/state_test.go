package oci

import (
	"encoding/json"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRecordConfigJSON checks that a record writes its config from the
// bundle's bytes while they are current and encodes the spec otherwise, and
// that both read back as the same spec.
func TestRecordConfigJSON(t *testing.T) {
	spec := &specs.Spec{Version: "1.2.0", Hostname: "from-spec"}
	raw := json.RawMessage(`{"ociVersion":"1.2.0","hostname":"from-spec","x-unknown":1}`)
	for _, tc := range []struct {
		name       string
		configJSON json.RawMessage
		wantRaw    bool
	}{
		{"bundle bytes", raw, true},
		{"changed since", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &record{ID: "c1", Config: spec, configJSON: tc.configJSON}
			data, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(data, &fields); err != nil {
				t.Fatal(err)
			}
			if got := string(fields["config"]) == string(raw); got != tc.wantRaw {
				t.Errorf("config %s: written from the bundle's bytes %v, want %v", fields["config"], got, tc.wantRaw)
			}
			if string(fields["id"]) != `"c1"` {
				t.Errorf("id %s, want \"c1\"", fields["id"])
			}
			back := &record{}
			if err := json.Unmarshal(data, back); err != nil {
				t.Fatal(err)
			}
			if back.Config == nil || back.Config.Hostname != "from-spec" || back.Config.Version != "1.2.0" {
				t.Errorf("read back config %+v", back.Config)
			}
		})
	}
}
