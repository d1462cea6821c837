package testregistry

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Compression of a built layer.
type Compression int

// Layer compressions.
const (
	Gzip Compression = iota
	Zstd
	Uncompressed
)

// File is one entry of a built layer.
type File struct {
	Name     string
	Mode     int64
	Body     []byte
	Linkname string // a symlink when set
	Dir      bool
}

// epoch keeps built images reproducible.
var epoch = time.Unix(1700000000, 0)

// Layer builds a layer holding files.
func Layer(files []File, c Compression) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Mode: f.Mode, ModTime: epoch, Typeflag: tar.TypeReg, Size: int64(len(f.Body))}
		switch {
		case f.Dir:
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		case f.Linkname != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.Linkname, 0
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if f.Dir {
				hdr.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	switch c {
	case Uncompressed:
		return static.NewLayer(raw, types.OCIUncompressedLayer), nil
	case Zstd:
		return tarball.LayerFromOpener(opener(raw), tarball.WithCompression(compression.ZStd),
			tarball.WithMediaType(types.OCILayerZStd), tarball.WithCompressedCaching)
	default:
		return tarball.LayerFromOpener(opener(raw), tarball.WithCompressedCaching)
	}
}

func opener(b []byte) tarball.Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// Image builds a linux image for arch from layers with config cfg.
func Image(arch string, cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// BusyboxLayer is a layer with Debian's static busybox as /bin/busybox and
// the applets a shell needs as symlinks to it.
func BusyboxLayer(c Compression) (v1.Layer, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoBusybox, err)
	}
	files := []File{
		{Name: "bin/", Dir: true},
		{Name: "bin/busybox", Mode: 0o755, Body: bin},
		{Name: "etc/", Dir: true},
		{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Name: "etc/group", Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Name: "tmp/", Dir: true, Mode: 0o1777},
	}
	for _, applet := range []string{"sh", "ls", "cat", "echo", "sleep", "true", "false", "id", "ps", "mount", "touch", "rm", "mkdir"} {
		files = append(files, File{Name: "bin/" + applet, Linkname: "busybox"})
	}
	return Layer(files, c)
}

// Busybox is a busybox image for the host architecture running sh.
func Busybox(arch string) (v1.Image, error) {
	l, err := BusyboxLayer(Gzip)
	if err != nil {
		return nil, err
	}
	return Image(arch, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}, l)
}

// WithUser returns img with the default user set (a uid, "uid:gid" or a
// name).
func WithUser(img v1.Image, user string) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg := cf.Config
	cfg.User = user
	return mutate.Config(img, cfg)
}

// RandomLayer is a layer holding one file of size incompressible bytes
// derived from seed.
func RandomLayer(seed uint64, size int, c Compression) (v1.Layer, error) {
	body := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	rng.Read(body)
	return Layer([]File{{Name: fmt.Sprintf("data/%d.bin", seed), Body: body}}, c)
}

// LayeredImage is an image of n layers; layer i holds file data/<seed+i>.bin
// of size bytes.
func LayeredImage(arch string, seed uint64, n, size int, c Compression) (v1.Image, error) {
	layers := make([]v1.Layer, 0, n)
	for i := range n {
		l, err := RandomLayer(seed+uint64(i), size, c)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return Image(arch, v1.Config{Cmd: []string{"/bin/sh"}}, layers...)
}

// Index is a multi-platform OCI index of one image per architecture.
func Index(images map[string]v1.Image) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, arch := range slices.Sorted(maps.Keys(images)) {
		adds = append(adds, mutate.IndexAddendum{
			Add:        images[arch],
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	return idx, nil
}

// TreeImage is an image of the files under dir (regular files, directories
// and symlinks, with their modes), split into about n layers of similar
// size by top-level entry, under "tree/". It stands for a real image: many
// small, compressible files. Each layer also holds "tree/.salt", so images
// built with different salts share no layer.
func TreeImage(arch, dir string, n int, salt string) (v1.Image, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var groups [][]File
	var total int64
	var perEntry [][]File
	for _, e := range entries {
		files, size, err := treeFiles(dir, e.Name())
		if err != nil {
			return nil, err
		}
		perEntry = append(perEntry, files)
		total += size
	}
	target := total/int64(max(n, 1)) + 1
	var cur []File
	var curSize int64
	for _, files := range perEntry {
		cur = append(cur, files...)
		for _, f := range files {
			curSize += int64(len(f.Body))
		}
		if curSize >= target {
			groups, cur, curSize = append(groups, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	layers := make([]v1.Layer, 0, len(groups))
	for i, g := range groups {
		g = append(g, File{Name: "tree/.salt", Body: fmt.Appendf(nil, "%s/%d\n", salt, i)})
		l, err := Layer(g, Gzip)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return Image(arch, v1.Config{Cmd: []string{"/bin/sh"}}, layers...)
}

// treeFiles reads the tree at dir/rel as layer entries under "tree/".
func treeFiles(dir, rel string) ([]File, int64, error) {
	var files []File
	var size int64
	err := filepath.WalkDir(filepath.Join(dir, rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := "tree/" + filepath.ToSlash(r)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			files = append(files, File{Name: name + "/", Dir: true, Mode: int64(info.Mode().Perm())})
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			files = append(files, File{Name: name, Linkname: target})
		case d.Type().IsRegular():
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files = append(files, File{Name: name, Mode: int64(info.Mode().Perm()), Body: body})
			size += int64(len(body))
		}
		return nil
	})
	return files, size, err
}
