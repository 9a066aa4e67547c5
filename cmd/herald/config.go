package main

import (
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/config"
)

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return fail(cmd, err)
			}
			out, err := cfg.Redacted().YAML()
			if err != nil {
				return fail(cmd, err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	config.Flags(print.Flags())
	cmd.AddCommand(print)
	return cmd
}
