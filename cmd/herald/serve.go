package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/node"
	"github.com/heraldhq/herald/publisher"
)

func serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run Herald (all services, embedded defaults, unless configured otherwise)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			begin := time.Now()
			cfg, err := loadConfig(cmd)
			if err != nil {
				return fail(cmd, err)
			}
			log := newLogger(cfg)
			// Crash tests only (see publisher.FailpointEnv): never set in
			// production, and read by no other command.
			if spec := os.Getenv(publisher.FailpointEnv); spec != "" {
				if err := publisher.EnableFailpoints(spec); err != nil {
					return fail(cmd, err)
				}
				log.Warn("test failpoints armed: this process will kill itself on purpose", "failpoints", spec)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			n, err := node.New(ctx, cfg, log)
			if err != nil {
				return fail(cmd, err)
			}
			if err := n.Start(ctx); err != nil {
				_ = n.Stop(context.Background())
				return fail(cmd, err)
			}
			traces := "not exported"
			if u, err := url.Parse(cfg.Telemetry.OTLPEndpoint); err == nil && cfg.Telemetry.OTLPEndpoint != "" {
				traces = u.Redacted()
			}
			log.Info("herald started", "services", cfg.Services.Run, "listen", n.Addr(),
				"data_dir", cfg.DataDir, "startup", time.Since(begin).Round(time.Millisecond),
				"metrics", cfg.Metrics.Enabled, "traces", traces)
			fmt.Fprintf(cmd.OutOrStdout(), "Herald is running at %s\n", cfg.BaseURL)
			<-ctx.Done()
			log.Info("herald stopping")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			return n.Stop(sctx)
		},
	}
	config.Flags(cmd.Flags())
	return cmd
}
