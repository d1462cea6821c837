package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	graphdriver "go.podman.io/storage/drivers"
)

func TestChooseDriver(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		dirs       []string
		want       string
		wantErr    bool
	}{
		{"fresh overlay", DriverOverlay, nil, DriverOverlay, false},
		{"fresh vfs", DriverVFS, nil, DriverVFS, false},
		{"earlier vfs fallback stays", DriverOverlay, []string{"vfs-layers"}, DriverVFS, false},
		{"overlay storage stays", DriverOverlay, []string{"overlay-layers", "vfs-layers"}, DriverOverlay, false},
		{"unknown", "btrfs", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tt.dirs {
				if err := os.Mkdir(filepath.Join(root, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			got, err := chooseDriver(root, tt.configured)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("chooseDriver = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestIsDriverUnsupported(t *testing.T) {
	for _, err := range []error{graphdriver.ErrNotSupported, graphdriver.ErrPrerequisites, graphdriver.ErrIncompatibleFS} {
		if !isDriverUnsupported(fmt.Errorf("overlay: %w", err)) {
			t.Errorf("%v not recognised", err)
		}
	}
	if isDriverUnsupported(errors.New("permission denied")) || isDriverUnsupported(nil) {
		t.Error("an unrelated error counts as unsupported")
	}
}
