// Command crowdgate is a Crowd-compatible directory server for Jira and Confluence whose users and
// groups come from Microsoft Entra ID. Run "crowdgate help" for its commands.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if err != errUsage { // usage problems are already explained on stderr
			fmt.Fprintln(os.Stderr, "crowdgate:", err)
		}
		os.Exit(exitCode(err))
	}
}
