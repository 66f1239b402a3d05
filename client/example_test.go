package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// Submit returns either the commit of a successful transaction or an
// error; a refusal by the ledger names its code, and a refusal in a block
// that block's height.
func ExampleClient_Submit() {
	c, err := client.Dial("http://localhost:26657", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tx []byte // signed by a Signer
	cm, err := c.Submit(ctx, tx)
	var refused *client.RejectedError
	switch {
	case errors.Is(err, ledger.Rejected(ledger.CodeReplay)):
		fmt.Println("sequence number used already:", err)
	case errors.As(err, &refused):
		fmt.Println("refused in block", refused.Height, "with code", refused.Err.Code)
	case err != nil:
		fmt.Println("not committed:", err)
	default:
		fmt.Println("committed at height", cm.Height)
	}
}
