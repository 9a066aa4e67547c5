package main

import (
	"fmt"
	"net"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/simnet"
)

func simnetCmd() *cobra.Command {
	var (
		addr      string
		rateLimit int
	)
	cmd := &cobra.Command{
		Use:   "simnet",
		Short: "Run a simulated Mastodon-compatible server for development and tests",
		Long: `simnet serves the parts of Mastodon's API Herald uses (statuses, media,
Idempotency-Key, rate-limit headers, OAuth app flow) from memory, with
injectable latency and errors (POST /_simnet/faults). Create an account and
its token with: curl -X POST <url>/_simnet/accounts -d '{"username":"demo"}'

It also plays a Bluesky PDS under /xrpc/ (app-password sessions, blobs,
posts), Telegram's Bot API (<url>/telegram), Discord and Slack webhooks
(<url>/discord, <url>/slack), receivers of Herald's signed webhook
(<url>/webhook), Facebook Pages and Instagram (<url>/graph/), Threads
(<url>/threads/), X (<url>/x/) and LinkedIn (<url>/linkedin/). Make an account of each with
POST <url>/_simnet/{bluesky,telegram,discord,slack,webhook,facebook,instagram,threads,x,linkedin}/accounts
(for Bluesky: -d '{"handle":"demo.test","password":"demo-pass"}'; X and
LinkedIn first need Herald's app: POST <url>/_simnet/x/clients
-d '{"client_id":"herald","client_secret":"s"}') and list
what was posted with GET <url>/_simnet/NAME/posts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fail(cmd, err)
			}
			s := simnet.New(simnet.Options{RateLimit: rateLimit})
			fmt.Fprintf(cmd.OutOrStdout(), "simnet (simulated Mastodon) is running at http://%s\n", ln.Addr())
			if err := s.Serve(ctx, ln); err != nil {
				return fail(cmd, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "listen", "127.0.0.1:8090", "address to listen on")
	cmd.Flags().IntVar(&rateLimit, "rate-limit", 0, "API requests per account per 5 minutes (0: Mastodon's 300; negative: unlimited)")
	return cmd
}
