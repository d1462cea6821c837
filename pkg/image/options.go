package image

import (
	"path/filepath"
	"time"

	"github.com/crisp-runtime/crisp/pkg/config"
)

// Storage drivers a Store can run on.
const (
	DriverOverlay = "overlay"
	DriverVFS     = "vfs"
)

// DefaultProgressInterval is how often a running pull logs its progress.
const DefaultProgressInterval = 10 * time.Second

// DefaultWritableUsageMaxAge is how old a container's writable layer usage
// may be when stats report it: measuring walks the layer's files, which on
// a node of a thousand containers polled every second costs more than all
// else the stats read. containerd's CRI refreshes its snapshots' usage as
// often (stats_collect_period).
const DefaultWritableUsageMaxAge = 10 * time.Second

// Options configure a Store.
type Options struct {
	// Root holds images, layers and container layers (<root>/storage).
	Root string
	// RunRoot holds the storage's runtime state, such as mount counts.
	RunRoot string
	// Driver is DriverOverlay or DriverVFS. Overlay falls back to vfs, with a
	// warning, where the kernel or the backing filesystem cannot mount it.
	Driver string
	// RegistriesConf and RegistriesConfDir are containers-registries.conf(5)
	// and its drop-in directory: mirrors, insecure and blocked registries.
	// Either may be missing, which means no settings from it.
	RegistriesConf    string
	RegistriesConfDir string
	// SignaturePolicy is containers-policy.json(5); when the file does not
	// exist every image is accepted.
	SignaturePolicy string
	// PullTimeout bounds a pull; zero means no limit.
	PullTimeout time.Duration
	// ProgressInterval is how often a running pull logs its progress; zero
	// means DefaultProgressInterval.
	ProgressInterval time.Duration
	// Pinned lists references of images that kubelet must never garbage
	// collect. An entry ending in "*" matches every reference with that
	// prefix.
	Pinned []string
	// Copier copies images in, from registries and archives; without one
	// Pull and Load are refused as not implemented.
	Copier Copier
	// Observer, when set, is told of every pull from a registry.
	Observer PullObserver
	// WritableUsageMaxAge is how old a writable layer's usage that
	// DiskUsage returns may be; zero measures at every call.
	WritableUsageMaxAge time.Duration
}

// PullObserver is told, for each pull from a registry, the bytes of blobs
// it downloaded (those it could count: pulls the generic copy makes count
// none), how long it took, and how it ended.
type PullObserver interface {
	ObservePull(bytes uint64, d time.Duration, err error)
}

// OptionsFromConfig returns the Store options of the daemon configuration, so
// the daemon and the offline CLI open the same storage the same way.
func OptionsFromConfig(cfg *config.Config) Options {
	return Options{
		Root:              filepath.Join(cfg.Root, "storage"),
		RunRoot:           filepath.Join(cfg.State, "storage"),
		Driver:            cfg.Image.StorageDriver,
		RegistriesConf:    cfg.Image.RegistriesConf,
		RegistriesConfDir: cfg.Image.RegistriesConfDir,
		SignaturePolicy:   cfg.Image.SignaturePolicy,
		PullTimeout:       cfg.Image.PullTimeout.Duration,
		ProgressInterval:  cfg.Image.PullProgressInterval.Duration,
		Pinned:            cfg.Image.PinnedImages,

		WritableUsageMaxAge: DefaultWritableUsageMaxAge,
	}
}
