package client_test

import (
	"fmt"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/ledger"
)

// A provider follows the alerts that name it: Type builds the filter that
// Subscribe takes.
func ExampleType() {
	mine := client.Type("alert", "provider", "ab12")
	alert := client.Event{Event: ledger.Event{Type: "alert", Attrs: []ledger.Attr{
		{Key: "patient", Value: "77aa"}, {Key: "provider", Value: "cd34"}, {Key: "provider", Value: "ab12"},
	}}}
	grant := client.Event{Event: ledger.Event{Type: "grant", Attrs: []ledger.Attr{{Key: "provider", Value: "ab12"}}}}
	fmt.Println(mine(alert), mine(grant), alert.Attr("patient"))
	// Output: true false 77aa
}
