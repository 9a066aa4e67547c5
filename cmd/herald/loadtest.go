package main

import (
	"context"
	"fmt"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/loadgen"
)

// targetFlags are how loadtest and capacity reach a Herald.
type targetFlags struct {
	o     loadgen.TargetOptions
	cores int
}

func (t *targetFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&t.o.URL, "target", "", "URL of the running Herald to drive (node or load balancer)")
	f.StringVar(&t.o.Email, "email", "load@herald.test", "user to sign in as (on a Herald with no agency yet, /api/v1/setup creates it)")
	f.StringVar(&t.o.Password, "password", "load generator password", "that user's password")
	f.StringVar(&t.o.SimnetURL, "simnet", "", "a running `herald simnet` to publish to (default: one started in this process; the target must reach it)")
	f.StringSliceVar(&t.o.MetricsURLs, "metrics", nil, "nodes whose /metrics to scrape for evidence (default: the target)")
	f.IntVar(&t.cores, "cores", runtime.NumCPU(), "cores of the measured machine (for the CPU evidence)")
}

// connect signs in to the target, or starts an embedded node when embedded
// is allowed and no target was given.
func (t *targetFlags) connect(ctx context.Context, cmd *cobra.Command, embedded bool) (*loadgen.Target, func(), error) {
	stop := func() {}
	if t.o.URL == "" || t.o.URL == "embedded" {
		if !embedded {
			return nil, nil, fmt.Errorf("--target is required")
		}
		url, stopNode, err := loadgen.Embedded(ctx, cmd.ErrOrStderr())
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "embedded node at %s\n", url)
		t.o.URL, stop = url, stopNode
	}
	tgt, err := loadgen.Connect(ctx, t.o)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return tgt, func() { tgt.Close(); stop() }, nil
}

func loadtestCmd() *cobra.Command {
	var (
		tf       targetFlags
		workload string
		rate     int
		ramp     string
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Drive a running Herald with agency work at a rate (vegeta) and show live latency, errors and shed 503s",
		Long: `loadtest signs in to a running Herald (any topology), makes a workspace and a
simulated Mastodon account, and sends one workload at a constant --rate or
along a --ramp. Workloads: browse (calendars, accounts, notifications),
compose (posts scheduled a day ahead), burst (posts all due at one instant
after the step; fire lateness and publish completion at simnet), webhooks
(publish_now posts; delivery latency at a local receiver), mixed.
503 answers count as shed (admission control), not as errors.`,
		Example: `  herald loadtest --target http://127.0.0.1:8080 --workload browse --rate 100 --duration 30s
  herald loadtest --target http://127.0.0.1:8080 --workload burst --ramp 50:500:50:10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stopSig := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stopSig()
			rates := []int{rate}
			hold := duration
			if ramp != "" {
				r, err := loadgen.ParseRamp(ramp)
				if err != nil {
					return fail(cmd, err)
				}
				rates, hold = r.Rates(), r.Hold
			}
			tgt, stop, err := tf.connect(ctx, cmd, false)
			if err != nil {
				return fail(cmd, err)
			}
			defer stop()
			for _, r := range rates {
				res, err := tgt.RunStep(ctx, loadgen.StepOptions{Workload: workload, Rate: r, Duration: hold, Cores: tf.cores, Progress: cmd.ErrOrStderr()})
				if err != nil {
					return fail(cmd, err)
				}
				if v := loadgen.DefaultSLO.Judge(res); v != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "%d/s missed the service level: %s\n", r, v)
					if ramp != "" {
						return nil
					}
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%d/s held (p99 %s, lateness %s, cpu %.2f cores)\n", r, res.P99, res.Lateness, res.Evidence.CPU)
				}
			}
			return nil
		},
	}
	tf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&workload, "workload", "browse", "browse, compose, burst, webhooks or mixed")
	f.IntVar(&rate, "rate", 50, "requests per second")
	f.StringVar(&ramp, "ramp", "", "from:to:step:duration, e.g. 10:200:10:30s (stops at the first step that misses the service level)")
	f.DurationVar(&duration, "duration", 30*time.Second, "how long to hold --rate")
	return cmd
}
