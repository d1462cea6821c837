package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxOwnerLen bounds the container ID a claim records and the bytes read
// back from one.
const maxOwnerLen = 256

// layerClaims records, before a container's writable layer is created, which
// container the layer belongs to. go.podman.io/storage creates the layer and
// then the container record that names it, in two steps: a crash between
// them leaves a layer no container names. The claim, written first, makes
// such a layer findable: its file name is the layer's ID, derived from the
// container ID, and its content is the container ID.
type layerClaims struct {
	dir string
}

// containerLayerID is the storage layer ID of container id's writable layer:
// fixed by the ID, so the layer of a crashed creation is found from its
// claim or its container record alone.
func containerLayerID(id string) string {
	sum := sha256.Sum256([]byte("crisp container layer\x00" + id))
	return hex.EncodeToString(sum[:])
}

// isLayerID reports whether name is a layer ID containerLayerID made.
func isLayerID(name string) bool {
	if len(name) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil && strings.ToLower(name) == name
}

// claim durably records that layerID belongs to container owner.
func (c *layerClaims) claim(layerID, owner string) error {
	if len(owner) > maxOwnerLen {
		return fmt.Errorf("container id is longer than %d bytes", maxOwnerLen)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".claim-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(owner)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(c.dir, layerID))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("record owner of layer %s: %w", layerID, err)
	}
	return syncDir(c.dir)
}

// release forgets the claim on layerID; releasing a missing claim succeeds.
func (c *layerClaims) release(layerID string) error {
	if err := os.Remove(filepath.Join(c.dir, layerID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget owner of layer %s: %w", layerID, err)
	}
	return nil
}

// list returns the claimed layer IDs with their owners. An owner that cannot
// be read is "": no container has that ID.
func (c *layerClaims) list() (map[string]string, error) {
	entries, err := os.ReadDir(c.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list container layer owners: %w", err)
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !isLayerID(name) || !e.Type().IsRegular() {
			continue
		}
		out[name] = c.owner(name)
	}
	return out, nil
}

// removeUnfinished removes the temporary files of claims a crash cut short.
// Only for start-up: a running claim's file would go too.
func (c *layerClaims) removeUnfinished() {
	tmps, _ := filepath.Glob(filepath.Join(c.dir, ".claim-*"))
	for _, tmp := range tmps {
		os.Remove(tmp)
	}
}

// owner reads the container ID the claim on layerID records.
func (c *layerClaims) owner(layerID string) string {
	f, err := os.Open(filepath.Join(c.dir, layerID))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxOwnerLen+1))
	if err != nil || len(b) > maxOwnerLen {
		return ""
	}
	return string(b)
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
