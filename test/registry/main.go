// Command registry serves crisp's loopback test registry
// (pkg/image/testregistry) for scripts and manual tests: crictl pulls and
// the pull benchmark. It pushes the images asked for, prints "ready ADDR",
// and serves until interrupted. It listens on loopback only.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	user := flag.String("user", "", "require basic authentication as USER:PASSWORD")
	archives := flag.String("archives", "", "also write the busybox image to DIR as busybox.docker.tar and busybox.oci.tar.gz")
	var busybox, random, tree repeated
	flag.Var(&busybox, "busybox", "push the busybox image (from /bin/busybox) as REPO:TAG (repeatable)")
	flag.Var(&random, "random", "push an image of random data as REPO:TAG=MiB[xLAYERS] (repeatable)")
	flag.Var(&tree, "tree", "push an image of the files under DIR, in about 4 layers, as REPO:TAG=DIR (repeatable; images of different REPO:TAG share no layer)")
	flag.Parse()
	if err := run(*addr, *user, *archives, busybox, random, tree); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func run(addr, user, archives string, busybox, random, tree []string) error {
	var opts testregistry.Options
	if user != "" {
		name, pass, ok := strings.Cut(user, ":")
		if !ok {
			return fmt.Errorf("-user %q: want USER:PASSWORD", user)
		}
		opts.BasicAuth = &testregistry.Credentials{Username: name, Password: pass}
	}
	reg, err := testregistry.StartAt(addr, opts)
	if err != nil {
		return err
	}
	defer reg.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	for _, ref := range busybox {
		img, err := testregistry.Busybox(runtime.GOARCH)
		if err != nil {
			return err
		}
		if err := push(ctx, reg, ref, img); err != nil {
			return err
		}
	}
	for i, spec := range random {
		ref, size, ok := strings.Cut(spec, "=")
		if !ok {
			return fmt.Errorf("-random %q: want REPO:TAG=MiB[xLAYERS]", spec)
		}
		var mib, layers int
		if n, _ := fmt.Sscanf(size, "%dx%d", &mib, &layers); n < 1 || mib <= 0 {
			return fmt.Errorf("-random %q: want REPO:TAG=MiB[xLAYERS]", spec)
		}
		layers = max(layers, 1)
		img, err := testregistry.LayeredImage(runtime.GOARCH, uint64(1+i)<<32, layers, mib<<20/layers, testregistry.Gzip)
		if err != nil {
			return err
		}
		if err := push(ctx, reg, ref, img); err != nil {
			return err
		}
	}
	for _, spec := range tree {
		ref, dir, ok := strings.Cut(spec, "=")
		if !ok {
			return fmt.Errorf("-tree %q: want REPO:TAG=DIR", spec)
		}
		img, err := testregistry.TreeImage(runtime.GOARCH, dir, 4, ref)
		if err != nil {
			return err
		}
		if err := push(ctx, reg, ref, img); err != nil {
			return err
		}
	}
	if archives != "" {
		img, err := testregistry.Busybox(runtime.GOARCH)
		if err != nil {
			return err
		}
		docker := filepath.Join(archives, "busybox.docker.tar")
		if err := testregistry.WriteDockerArchive(docker, "airgap.example/tools/busybox:docker", img, false); err != nil {
			return err
		}
		oci := filepath.Join(archives, "busybox.oci.tar.gz")
		if err := testregistry.WriteOCIArchive(oci, "airgap.example/tools/busybox:oci", img, true); err != nil {
			return err
		}
		fmt.Println("wrote", docker, oci)
	}
	fmt.Println("ready", reg.Addr())
	<-ctx.Done()
	return nil
}

func push(ctx context.Context, reg *testregistry.Registry, ref string, img v1.Image) error {
	full, digest, err := reg.Push(ctx, ref, img)
	if err != nil {
		return err
	}
	fmt.Println("pushed", full, digest)
	return nil
}
