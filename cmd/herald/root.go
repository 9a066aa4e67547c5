package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/telemetry"
)

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Herald schedules, approves and publishes social media posts for agencies",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), configCmd(), adminCmd(), simnetCmd(), loadCmd(), loadtestCmd(), capacityCmd(), migrateCmd(), topologyCmd())
	root.SetErr(os.Stderr)
	cobra.OnFinalize()
	return root
}

// loadConfig reads the configuration for a command that took config.Flags.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	return config.Load(cmd.Flags(), os.Environ())
}

// fail prints err the way an operator should see it and returns it so the
// command exits non-zero.
func fail(cmd *cobra.Command, err error) error {
	fmt.Fprintln(cmd.ErrOrStderr(), "herald:", err)
	return err
}

func newLogger(c config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	// Records logged with a context inside a span name its trace_id and
	// span_id, so one post's lines can be found across nodes.
	if c.Log.Format == "json" {
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewTextHandler(os.Stderr, opts)))
}
