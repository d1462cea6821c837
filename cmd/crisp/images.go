package main

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"go.podman.io/image/v5/docker/reference"

	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image"
)

// imagesOptions locate the storage the daemon uses: the same configuration
// file and the same root and state overrides.
type imagesOptions struct {
	configPath string
	root       string
	state      string
}

func newImagesCommand() *cobra.Command {
	opts := &imagesOptions{}
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Manage images offline: load archives, list and remove images",
		Long: `Manage the images in crisp's storage without the daemon, for air-gapped
nodes. The commands use the daemon's configuration and storage and may run
while the daemon does.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&opts.configPath, "config", config.DefaultPath, "configuration file (optional; embedded defaults apply without it)")
	f.StringVar(&opts.root, "root", "", "persistent data directory (config: root)")
	f.StringVar(&opts.state, "state", "", "runtime state directory (config: state)")
	cmd.AddCommand(
		newImagesLoadCommand(opts),
		newImagesListCommand(opts),
		newImagesRemoveCommand(opts),
	)
	return cmd
}

// open loads the configuration and opens the image storage; the caller
// closes it.
func (o *imagesOptions) open(cmd *cobra.Command) (*image.Store, error) {
	flags := cmd.Flags()
	cfg, err := config.Load(o.configPath, !flags.Changed("config"))
	if err != nil {
		return nil, err
	}
	if flags.Changed("root") {
		cfg.Root = o.root
	}
	if flags.Changed("state") {
		cfg.State = o.state
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := image.OptionsFromConfig(cfg)
	// Loads run in crisp-image; the other commands never reach it.
	opts.Copier, _ = image.HelperBeside()
	return image.Open(cmd.Context(), opts)
}

// withStore runs fn on the storage, cancelled by SIGINT or SIGTERM.
func (o *imagesOptions) withStore(cmd *cobra.Command, fn func(context.Context, *image.Store) error) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cmd.SetContext(ctx)
	s, err := o.open(cmd)
	if err != nil {
		return err
	}
	return errors.Join(fn(ctx, s), s.Close())
}

func newImagesLoadCommand(opts *imagesOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "load FILE...",
		Short: "Load images from docker-archive or oci-archive files (gzip or not)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return opts.withStore(cmd, func(ctx context.Context, s *image.Store) error {
				for _, file := range args {
					imgs, err := s.Load(ctx, file)
					if err != nil {
						return err
					}
					for _, img := range imgs {
						fmt.Fprintf(cmd.OutOrStdout(), "Loaded image %s %v\n", img.ID, img.RepoTags)
					}
				}
				return nil
			})
		},
	}
}

func newImagesListCommand(opts *imagesOptions) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list [REFERENCE]",
		Aliases: []string{"ls"},
		Short:   "List stored images, or the one REFERENCE names",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := ""
			if len(args) == 1 {
				filter = args[0]
			}
			return opts.withStore(cmd, func(ctx context.Context, s *image.Store) error {
				imgs, err := s.List(ctx, filter)
				if err != nil {
					return err
				}
				if quiet {
					for _, img := range imgs {
						fmt.Fprintln(cmd.OutOrStdout(), img.ID)
					}
					return nil
				}
				return printImages(cmd, imgs)
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print image IDs only")
	return cmd
}

// printImages writes one line per tag (or one untagged line) per image.
func printImages(cmd *cobra.Command, imgs []*image.Image) error {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "IMAGE\tTAG\tIMAGE ID\tSIZE")
	for _, img := range imgs {
		size := units.HumanSizeWithPrecision(float64(img.Size), 3)
		if len(img.RepoTags) == 0 {
			repo := "<none>"
			if len(img.RepoDigests) > 0 {
				if named, err := reference.ParseNormalizedNamed(img.RepoDigests[0]); err == nil {
					repo = named.Name()
				}
			}
			fmt.Fprintf(w, "%s\t<none>\t%.13s\t%s\n", repo, img.ID, size)
		}
		for _, t := range img.RepoTags {
			repo, tag := t, "<none>"
			if named, err := reference.ParseNormalizedNamed(t); err == nil {
				repo = named.Name()
				if tagged, ok := named.(reference.Tagged); ok {
					tag = tagged.Tag()
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%.13s\t%s\n", repo, tag, img.ID, size)
		}
	}
	return w.Flush()
}

func newImagesRemoveCommand(opts *imagesOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "rm REFERENCE...",
		Aliases: []string{"remove", "rmi"},
		Short:   "Remove images (by ID, tag or digest) with all their tags",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return opts.withStore(cmd, func(ctx context.Context, s *image.Store) error {
				var errs []error
				for _, ref := range args {
					img, err := s.Get(ctx, ref)
					if errors.Is(err, errdefs.ErrNotFound) {
						errs = append(errs, fmt.Errorf("image %s: not found", ref))
						continue
					}
					if err == nil {
						err = s.Remove(ctx, img.ID)
					}
					if err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s\n", img.ID)
				}
				return errors.Join(errs...)
			})
		},
	}
}
