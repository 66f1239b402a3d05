package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/lifecycle"
)

// runProviderAlertChange is `provider alerts ack|resolve|snooze`.
func runProviderAlertChange(verb string, args []string, stdout, stderr io.Writer) error {
	usage := "provider alerts " + verb + " --key FILE --cloud URL --ledger URL ALERT_ID"
	if verb == "snooze" {
		usage = "provider alerts snooze --for D --key FILE --cloud URL --ledger URL ALERT_ID"
	}
	fs := cli.NewFlags("vitalchain", "provider alerts "+verb, usage, stderr)
	pf := addProviderFlags(fs)
	var snooze *time.Duration
	if verb == "snooze" {
		snooze = fs.Duration("for", 30*time.Minute, "how long to snooze the alert (1m to 24h)")
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: provider alerts %s takes one alert ID", cli.ErrUsage, verb)
	}
	id, err := providerParseID("alert ID", fs.Arg(0))
	if err != nil {
		return err
	}
	action := map[string]lifecycle.Action{"ack": lifecycle.Ack, "resolve": lifecycle.Resolve, "snooze": lifecycle.Snooze}[verb]
	var until time.Time
	if snooze != nil {
		if *snooze < time.Minute || *snooze > lifecycle.MaxSnooze {
			return fmt.Errorf("%w: --for is from 1m to %s", cli.ErrUsage, lifecycle.MaxSnooze)
		}
		until = time.Now().Add(*snooze)
	}
	p, ctx, done, err := pf.open(stderr, time.Minute)
	if err != nil {
		return err
	}
	defer done()
	st, err := p.ChangeAlert(ctx, id, action, until)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, providerStateLine(*st))
	return nil
}

// runProviderAlertStates is `provider alerts states`.
func runProviderAlertStates(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider alerts states", "provider alerts states --key FILE --cloud URL --ledger URL [--open]", stderr)
	pf := addProviderFlags(fs)
	open := fs.Bool("open", false, "only the alerts still open (raised or acknowledged)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: provider alerts states takes no arguments", cli.ErrUsage)
	}
	p, ctx, done, err := pf.open(stderr, time.Minute)
	if err != nil {
		return err
	}
	defer done()
	states, _, err := p.AlertStates(ctx, 0)
	if err != nil {
		return err
	}
	slices.SortFunc(states, func(a, b lifecycle.Status) int { return int(a.Seq) - int(b.Seq) })
	n := 0
	for _, s := range states {
		if *open && !s.State.Open() {
			continue
		}
		fmt.Fprintln(stdout, providerStateLine(s))
		n++
	}
	if st := p.Stats(); st.StatesForged > 0 {
		fmt.Fprintf(stderr, "warning: %d alerts' states failed verification and were left out\n", st.StatesForged)
	}
	fmt.Fprintf(stderr, "%d alerts\n", n)
	return nil
}

// providerStateLine is one alert's state: its ID, patient, state, by whom
// and when, snooze, escalation, and for a no-data alert what went silent.
func providerStateLine(s lifecycle.Status) string {
	line := fmt.Sprintf("alert %x  patient %s  %s", s.Alert, s.Patient, s.State)
	if s.By != (identity.ID{}) {
		line += fmt.Sprintf(" by %s at %s", s.By, time.UnixMilli(s.At).UTC().Format(providerTimeFormat))
	}
	if s.Snoozed > time.Now().UnixMilli() && s.State.Open() {
		line += " snoozed until " + time.UnixMilli(s.Snoozed).UTC().Format(providerTimeFormat)
	}
	if s.Level > 0 {
		line += fmt.Sprintf("  escalated (level %d) to %s", s.Level, s.Assigned)
	}
	if s.NoData {
		what := "the gateway"
		if s.Device != (identity.ID{}) {
			what = "device " + s.Device.String()
		}
		line += fmt.Sprintf("  no data from %s since %s", what, time.UnixMilli(s.Since).UTC().Format(providerTimeFormat))
	}
	return line
}
