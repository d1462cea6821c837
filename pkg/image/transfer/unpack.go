package transfer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/vbatts/tar-split/archive/tar"
	"github.com/vbatts/tar-split/tar/asm"
	tarsplitstorage "github.com/vbatts/tar-split/tar/storage"
	drivers "go.podman.io/storage/drivers"
	"go.podman.io/storage/pkg/archive"
	"go.podman.io/storage/pkg/tarlog"
	"go.podman.io/storage/pkg/unshare"
	"golang.org/x/sys/unix"
)

// layerUnpacker unpacks a layer blob into the staging directory storage
// gives it, inside this process: go.podman.io/storage's PutLayer re-executes
// the binary for every layer to unpack under chroot, which costs more than
// the unpacking of a typical layer. The unpacker gets the same confinement
// from a thread of its own with a private root (see unpackConfined).
type layerUnpacker struct {
	blob io.Reader // the compressed layer
}

// ApplyDiff implements drivers.Differ for the overlay driver's plain
// directory layout.
func (u *layerUnpacker) ApplyDiff(dest string, options *archive.TarOptions, differOpts *drivers.DifferOptions) (drivers.DriverWithDifferOutput, error) {
	if differOpts != nil && differOpts.Format != drivers.DifferOutputFormatDir {
		return drivers.DriverWithDifferOutput{}, errors.New("storage asks for a composefs layout, which crisp does not unpack")
	}
	decompressed, err := archive.DecompressStream(u.blob)
	if err != nil {
		return drivers.DriverWithDifferOutput{}, err
	}
	defer decompressed.Close()

	uids, gids := map[uint32]struct{}{}, map[uint32]struct{}{}
	owners, err := tarlog.NewLogger(func(h *tar.Header) {
		if !strings.HasPrefix(path.Base(h.Name), archive.WhiteoutPrefix) {
			uids[uint32(h.Uid)] = struct{}{}
			gids[uint32(h.Gid)] = struct{}{}
		}
	})
	if err != nil {
		return drivers.DriverWithDifferOutput{}, err
	}
	// The tar-split metadata lets storage rebuild the exact layer tarball
	// from the unpacked files, as its own unpacking records it.
	scratch := dest
	if differOpts != nil && differOpts.StagingDirectory != "" {
		scratch = differOpts.StagingDirectory
	}
	tarSplit, err := os.CreateTemp(scratch, "tar-split-")
	if err != nil {
		return drivers.DriverWithDifferOutput{}, err
	}
	os.Remove(tarSplit.Name()) // storage reads it through the descriptor
	packed := bufio.NewWriterSize(tarSplit, 32<<10)
	digester := digest.Canonical.Digester()
	var size countWriter
	tee := io.TeeReader(decompressed, io.MultiWriter(digester.Hash(), &size, owners))
	stream, disassembled, err := asm.NewInputTarStreamWithDone(tee, tarsplitstorage.NewJSONPacker(packed), tarsplitstorage.NewDiscardFilePutter())
	if err == nil {
		err = unpackConfined(dest, stream, options)
		if err == nil {
			// The tar stream may end before its padding does.
			_, err = io.Copy(io.Discard, stream)
		}
		// Closing ends the disassembler on a failure; its result says
		// when the tar-split metadata is complete.
		stream.Close()
		if perr := <-disassembled; err == nil {
			err = perr
		}
	}
	if cerr := owners.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = packed.Flush()
	}
	if err != nil {
		tarSplit.Close()
		return drivers.DriverWithDifferOutput{}, err
	}
	return drivers.DriverWithDifferOutput{
		Target:             dest,
		Size:               int64(size),
		UncompressedDigest: digester.Digest(),
		UIDs:               sortedIDs(uids),
		GIDs:               sortedIDs(gids),
		TarSplit:           tarSplit,
	}, nil
}

// Close implements drivers.Differ.
func (u *layerUnpacker) Close() error { return nil }

// unpackConfined unpacks the tar stream r into dest from a dedicated OS
// thread whose root directory is dest, so that no entry of the archive,
// symlinks included, can resolve outside it. The thread is never handed
// back to the Go scheduler: it exits with its goroutine.
func unpackConfined(dest string, r io.Reader, options *archive.TarOptions) error {
	// Resolve and cache process facts that need the real root first.
	_ = unshare.IsRootless()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			done <- fmt.Errorf("unshare filesystem attributes: %w", err)
			return
		}
		if err := unix.Chroot(dest); err != nil {
			done <- fmt.Errorf("chroot %s: %w", dest, err)
			return
		}
		if err := unix.Chdir("/"); err != nil {
			done <- fmt.Errorf("chdir into %s: %w", dest, err)
			return
		}
		done <- archive.Unpack(r, "/", options)
	}()
	return <-done
}

func sortedIDs(set map[uint32]struct{}) []uint32 {
	out := make([]uint32, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(b []byte) (int, error) {
	*c += countWriter(len(b))
	return len(b), nil
}
