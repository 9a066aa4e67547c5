package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/loadgen"
)

func loadCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "load", Short: "Measure Herald under load (runs its own node and simulated network)"}
	var (
		o          loadgen.ScheduleOptions
		cpuProfile string
	)
	schedule := &cobra.Command{
		Use:   "schedule",
		Short: "Schedule a burst of one-shot posts through the API and report how late they fire and publish",
		Example: `  herald load schedule --posts 10000 --window 10s
  herald load schedule --posts 20000 --window 1s --latency 50ms
  herald load schedule --posts 20000 --window 1s --latency 50ms --backlog 1000000 --data-dir backlog-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			o.Log = cmd.ErrOrStderr()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fail(cmd, err)
				}
				defer f.Close()
				o.CPUProfile = f
			}
			rep, err := loadgen.Schedule(ctx, o)
			if err != nil {
				return fail(cmd, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := schedule.Flags()
	f.IntVar(&o.Posts, "posts", 10000, "posts to schedule")
	f.DurationVar(&o.Window, "window", 10*time.Second, "span the due times are spread over")
	f.DurationVar(&o.Lead, "lead", 90*time.Second, "time from now to the first due time (creating the posts must fit in it)")
	f.IntVar(&o.Creators, "creators", 8, "clients creating posts at once")
	f.DurationVar(&o.Latency, "latency", 0, "delay the simulated network adds to every request (e.g. 50ms)")
	f.IntVar(&o.Backlog, "backlog", 0, "future posts (due days ahead) to keep stored during the run; with --data-dir, made once and reused")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the publishing (from the end of the creation to the last post published) to this file")
	f.StringVar(&o.DataDir, "data-dir", "", "data directory of the measured node (default: a temporary one)")
	cmd.AddCommand(schedule)
	return cmd
}
