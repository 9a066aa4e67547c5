package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/loadgen"
)

func capacityCmd() *cobra.Command {
	var (
		tf        targetFlags
		workloads []string
		ramp      string
		out       string
		slo       = loadgen.DefaultSLO
		warmup    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "Ramp each workload until the service level breaks; write an HTML report and a text summary",
		Long: `capacity runs a ramp per workload against --target (or, without it, an
embedded node started in this process), finds the highest rate whose step
held the service level, names the first bottleneck from the nodes' /metrics
and suggests what to change first. It writes --out (HTML with inline SVG
charts) and the same summary as text next to it (.txt).`,
		Example: `  herald capacity --out capacity.html
  herald capacity --target http://127.0.0.1:8080 --workloads browse,burst --ramp 20:400:20:15s --out capacity.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stopSig := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stopSig()
			r, err := loadgen.ParseRamp(ramp)
			if err != nil {
				return fail(cmd, err)
			}
			tgt, stop, err := tf.connect(ctx, cmd, true)
			if err != nil {
				return fail(cmd, err)
			}
			defer stop()
			rep, err := tgt.Capacity(ctx, loadgen.CapacityOptions{Workloads: workloads, Ramp: r, SLO: slo, Cores: tf.cores, Warmup: warmup, Progress: cmd.ErrOrStderr()})
			if err != nil {
				return fail(cmd, err)
			}
			if err := writeReport(out, rep); err != nil {
				return fail(cmd, err)
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.Text())
			fmt.Fprintf(cmd.OutOrStdout(), "\nreport: %s and %s\n", out, textPath(out))
			return nil
		},
	}
	tf.add(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&workloads, "workloads", []string{"browse", "compose", "burst", "webhooks"}, "workloads to ramp, in order")
	f.StringVar(&ramp, "ramp", "10:200:10:10s", "from:to:step:duration per workload")
	f.StringVar(&out, "out", "capacity.html", "HTML report to write (the text summary goes beside it as .txt)")
	f.DurationVar(&warmup, "warmup", 2*time.Second, "unrecorded run at the ramp's first rate before each workload (0: none)")
	f.DurationVar(&slo.APIP99, "slo-api-p99", slo.APIP99, "API p99 latency a step must stay within")
	f.DurationVar(&slo.LatenessP99, "slo-lateness-p99", slo.LatenessP99, "fire lateness / webhook delivery p99 a step must stay within")
	f.IntVar(&slo.MaxErrors, "slo-max-errors", 0, "errors (non-2xx but 503, transport errors) a step may have")
	f.IntVar(&slo.MaxShed, "slo-max-shed", 0, "503 answers a step may have")
	return cmd
}

func textPath(html string) string {
	return strings.TrimSuffix(html, filepath.Ext(html)) + ".txt"
}

func writeReport(path string, rep loadgen.CapacityReport) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.HTML(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(textPath(path), []byte(rep.Text()), 0o644)
}
