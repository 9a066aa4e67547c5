package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/node"
	"github.com/heraldhq/herald/portal"
)

func adminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Administrative tasks"}
	var in portal.AgencyInput
	var passwordStdin bool
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create an agency and its owner",
		Example: `  herald admin create --agency "Acme Social" --name "Ada Owner" --email ada@example.com --password-stdin <<<'a long secret'`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if passwordStdin {
				line, err := bufio.NewReader(os.Stdin).ReadString('\n')
				if err != nil && line == "" {
					return fail(cmd, fmt.Errorf("reading the password from standard input: %w", err))
				}
				in.Password = strings.TrimRight(line, "\r\n")
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return fail(cmd, err)
			}
			cfg.Services.Run = []string{config.Portal, config.Trigger, config.Publisher, config.Notification}
			ctx := context.Background()
			n, err := node.New(ctx, cfg, newLogger(cfg))
			if err != nil {
				return fail(cmd, err)
			}
			defer n.Stop(ctx)
			if err := n.Portal.Migrate(ctx); err != nil {
				return fail(cmd, err)
			}
			agencyID, userID, err := n.Portal.CreateAgency(ctx, in)
			if err != nil {
				return fail(cmd, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created agency %s and owner %s (%s)\n", agencyID, userID, in.Email)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&in.AgencyName, "agency", "", "agency name")
	f.StringVar(&in.Name, "name", "", "owner's name")
	f.StringVar(&in.Email, "email", "", "owner's email (their login)")
	f.StringVar(&in.Password, "password", "", "owner's password (prefer --password-stdin)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	config.Flags(f)
	cmd.AddCommand(create)
	return cmd
}
