package image

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"go.podman.io/storage"
)

// FsUsage is what the image filesystem (image layers and metadata) and the
// container filesystem (writable layers) use, as ImageFsInfo reports it.
type FsUsage struct {
	// Timestamp is when the usage was measured.
	Timestamp time.Time
	// Mountpoint is the directory both filesystems live in.
	Mountpoint string
	Images     Usage
	Containers Usage
}

// usageCache remembers the usage of image layers, which never change once
// stored, so that only container layers are measured each time, and the
// last measure of each writable layer, which DiskUsage returns until it is
// WritableUsageMaxAge old.
type usageCache struct {
	mu          sync.Mutex
	byLayer     map[string]Usage
	byContainer map[string]measuredUsage
}

// measuredUsage is a usage and when it was measured.
type measuredUsage struct {
	usage Usage
	at    time.Time
}

// writable returns the usage of container id measured less than maxAge
// ago, if there is one.
func (c *usageCache) writable(id string, maxAge time.Duration) (measuredUsage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.byContainer[id]
	return m, ok && time.Since(m.at) < maxAge
}

func (c *usageCache) setWritable(id string, m measuredUsage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byContainer == nil {
		c.byContainer = map[string]measuredUsage{}
	}
	c.byContainer[id] = m
}

// forgetWritable drops container id's usage: its layer is going.
func (c *usageCache) forgetWritable(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byContainer, id)
}

// FsUsage measures the image and container filesystems.
func (s *Store) FsUsage(ctx context.Context) (*FsUsage, error) {
	layers, err := s.store.Layers()
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	containers, err := s.store.Containers()
	if err != nil {
		return nil, fmt.Errorf("list container layers: %w", err)
	}
	out := &FsUsage{Timestamp: time.Now(), Mountpoint: s.opts.Root}
	writable := make(map[string]bool, len(containers))
	for i := range containers {
		writable[containers[i].LayerID] = true
		u, err := s.containerUsage(ctx, &containers[i])
		if err != nil {
			return nil, err
		}
		out.Containers.add(u)
	}
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	fresh := make(map[string]Usage, len(layers))
	for _, l := range layers {
		if writable[l.ID] {
			continue
		}
		u, ok := s.usage.byLayer[l.ID]
		if !ok {
			if u, err = diskUsage(ctx, s.layerDir(l.ID)); err != nil {
				return nil, err
			}
		}
		fresh[l.ID] = u
		out.Images.add(u)
	}
	s.usage.byLayer = fresh
	meta, err := diskUsage(ctx, filepath.Join(s.opts.Root, s.driver+"-images"))
	if err != nil {
		return nil, err
	}
	out.Images.add(meta)
	return out, nil
}

// containerUsage measures a container's writable layer and its directory.
func (s *Store) containerUsage(ctx context.Context, c *storage.Container) (Usage, error) {
	u, err := diskUsage(ctx, s.layerDir(c.LayerID))
	if err != nil {
		return Usage{}, err
	}
	dir, err := diskUsage(ctx, filepath.Join(s.opts.Root, s.driver+"-containers", c.ID))
	if err != nil {
		return Usage{}, err
	}
	u.add(dir)
	return u, nil
}

// layerDir is where the driver keeps a layer's files.
func (s *Store) layerDir(id string) string {
	if s.driver == DriverVFS {
		return filepath.Join(s.opts.Root, "vfs", "dir", id)
	}
	return filepath.Join(s.opts.Root, "overlay", id)
}
