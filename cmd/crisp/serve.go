package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/daemon"
)

// serveOptions are the daemon's flags. Each overrides its key in the
// configuration file only when given on the command line.
type serveOptions struct {
	configPath      string
	root            string
	state           string
	address         string
	socketGroup     string
	cgroupDriver    string
	cniConfDir      string
	cniBinDirs      []string
	shutdownTimeout time.Duration
}

func (o *serveOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", config.DefaultPath, "configuration file (optional; embedded defaults apply without it)")
	f.StringVar(&o.root, "root", "", "persistent data directory (config: root)")
	f.StringVar(&o.state, "state", "", "runtime state directory (config: state)")
	f.StringVar(&o.address, "listen", "", "CRI endpoint, unix:///path (config: grpc.address)")
	f.StringVar(&o.socketGroup, "socket-group", "", "group owning the CRI socket (config: grpc.socket_group)")
	f.StringVar(&o.cgroupDriver, "cgroup-driver", "", "auto, systemd or cgroupfs (config: cgroup.driver)")
	f.StringVar(&o.cniConfDir, "cni-conf-dir", "", "CNI configuration directory (config: cni.conf_dir)")
	f.StringSliceVar(&o.cniBinDirs, "cni-bin-dir", nil, "CNI plugin directories (config: cni.bin_dirs)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 0, "graceful stop timeout (config: grpc.shutdown_timeout)")
}

// load reads the configuration file and applies the flags that were set.
func (o *serveOptions) load(flags *pflag.FlagSet) (*config.Config, error) {
	// The default path may be absent; a path given explicitly must exist.
	cfg, err := config.Load(o.configPath, !flags.Changed("config"))
	if err != nil {
		return nil, err
	}
	set := func(name string, apply func()) {
		if flags.Changed(name) {
			apply()
		}
	}
	set("root", func() { cfg.Root = o.root })
	set("state", func() { cfg.State = o.state })
	set("listen", func() { cfg.GRPC.Address = o.address })
	set("socket-group", func() { cfg.GRPC.SocketGroup = o.socketGroup })
	set("cgroup-driver", func() { cfg.Cgroup.Driver = o.cgroupDriver })
	set("cni-conf-dir", func() { cfg.CNI.ConfDir = o.cniConfDir })
	set("cni-bin-dir", func() { cfg.CNI.BinDirs = o.cniBinDirs })
	set("shutdown-timeout", func() { cfg.GRPC.ShutdownTimeout.Duration = o.shutdownTimeout })
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newServeCommand() *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve CRI on the configured socket (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, opts)
		},
	}
	opts.addFlags(cmd)
	return cmd
}

func runServe(cmd *cobra.Command, opts *serveOptions) error {
	cfg, err := opts.load(cmd.Flags())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// A second signal during the graceful stop exits at once.
	go func() {
		<-ctx.Done()
		stop()
		again := make(chan os.Signal, 1)
		signal.Notify(again, syscall.SIGTERM, syscall.SIGINT)
		<-again
		os.Exit(1)
	}()
	return daemon.Run(ctx, cfg)
}
