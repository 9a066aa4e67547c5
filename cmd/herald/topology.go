package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/bind"
	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/node"
)

func topologyCmd() *cobra.Command {
	var target, token string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Show the nodes of a running installation: services, links, health, backlog, cache",
		Long: `topology asks a running node for the installation's topology: every node the
coordination registry knows, each described by itself. It authenticates with the
internal token (--token, or internal_token from the configuration).`,
		Example: `  herald topology --url http://10.0.0.5:8080 --config cluster.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				cfg, err := loadConfig(cmd)
				if err != nil {
					return fail(cmd, err)
				}
				token = cfg.InternalToken
			}
			if token == "" {
				return fail(cmd, fmt.Errorf("the internal token is needed: --token, internal_token or HERALD_INTERNAL_TOKEN"))
			}
			top, raw, err := fetchTopology(cmd.Context(), target, token)
			if err != nil {
				return fail(cmd, err)
			}
			if asJSON {
				_, err = cmd.OutOrStdout().Write(raw)
				return err
			}
			printTopology(cmd.OutOrStdout(), top)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "url", "http://localhost:8080", "base URL of a running node")
	f.StringVar(&token, "token", "", "internal token (default: internal_token of the configuration)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	config.Flags(f)
	return cmd
}

func fetchTopology(ctx context.Context, base, token string) (node.Topology, []byte, error) {
	var top node.Topology
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+node.TopologyPath, nil)
	if err != nil {
		return top, nil, fmt.Errorf("--url: %w", err)
	}
	req.Header.Set(bind.TokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return top, nil, fmt.Errorf("asking %s: %w", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return top, nil, fmt.Errorf("reading %s's answer: %w", base, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return top, nil, fmt.Errorf("%s refused the internal token (is it the installation's internal_token?)", base)
	default:
		return top, nil, fmt.Errorf("%s answered %s", base, resp.Status)
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return top, nil, fmt.Errorf("%s's answer is not a topology: %w", base, err)
	}
	return top, raw, nil
}

// printTopology writes one line per node, then each node's links, checks
// that failed and outbox backlog.
func printTopology(w io.Writer, top node.Topology) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tURL\tREADY\tSERVICES\tCACHE HITS")
	for _, n := range top.Nodes {
		ready := "yes"
		switch {
		case n.Error != "":
			ready = "unknown"
		case !n.Ready:
			ready = "no"
		}
		hits := "-"
		if r := n.CacheHitRatio(); r >= 0 {
			hits = fmt.Sprintf("%.1f%% of %d", r*100, n.CacheHits+n.CacheMisses)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.ID, or(n.URL, "(not advertised)"), ready, or(strings.Join(n.Services, ","), "-"), hits)
	}
	_ = tw.Flush()
	for _, n := range top.Nodes {
		fmt.Fprintf(w, "\n%s\n", n.ID)
		if n.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", n.Error)
			continue
		}
		for _, l := range n.Links {
			via := l.Transport
			if l.Discover {
				via += " (registry)"
			}
			line := fmt.Sprintf("  %-13s %-17s %s", l.Service, via, or(strings.Join(l.Nodes, ", "), "no node found"))
			if len(l.Down) > 0 {
				line += "  skipping: " + strings.Join(l.Down, ", ")
			}
			fmt.Fprintln(w, line)
		}
		for _, c := range n.Checks {
			if !strings.HasSuffix(c, ": ok") {
				fmt.Fprintf(w, "  not ready: %s\n", c)
			}
		}
		if len(n.Outbox) > 0 {
			var parts []string
			for _, s := range config.AllServices {
				if c, ok := n.Outbox[s]; ok {
					parts = append(parts, fmt.Sprintf("%s %d", s, c))
				}
			}
			fmt.Fprintf(w, "  outbox pending: %s\n", strings.Join(parts, ", "))
		}
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
