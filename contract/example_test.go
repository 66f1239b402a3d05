package contract_test

import (
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/vital"
)

// A gateway compiles a contract's rules once and passes every reading
// through a Monitor: abnormal readings are stored, and alerts are rate
// limited by the rules' cool-downs.
func Example() {
	rules := []contract.Rule{
		{Kind: vital.Glucose, Expr: "value < 54.0", Severity: contract.Critical, Cooldown: 5 * 60},
		{Kind: vital.Glucose, Expr: "value > 180.0 || value < 70.0", Severity: contract.Warning, Cooldown: 15 * 60},
	}
	p, err := contract.Compile(rules)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := contract.NewMonitor(p)
	const minute = 60 * 1000 // reading times are Unix milliseconds
	for i, mgdl := range []string{"110", "195", "201.5", "48", "190"} {
		v, _ := vital.ParseQuantity(mgdl)
		at := int64(1735689600000 + i*2*minute)
		verdict, err := m.Observe(at, vital.Glucose, v)
		if err != nil {
			fmt.Println(err)
			return
		}
		switch {
		case verdict.Alert:
			fmt.Printf("%s mg/dL: alert, %s (rule %d)\n", mgdl, verdict.Severity, verdict.Rule)
		case verdict.Abnormal:
			fmt.Printf("%s mg/dL: abnormal, stored; no alert during the cool-down\n", mgdl)
		default:
			fmt.Printf("%s mg/dL: normal\n", mgdl)
		}
	}
	// Output:
	// 110 mg/dL: normal
	// 195 mg/dL: alert, warning (rule 1)
	// 201.5 mg/dL: abnormal, stored; no alert during the cool-down
	// 48 mg/dL: alert, critical (rule 0)
	// 190 mg/dL: abnormal, stored; no alert during the cool-down
}

// The ledger compiles a contract's rules before it stores the contract; a
// rule that is not a bool-valued expression over value and kind is refused
// with a specific error.
func ExampleCompile() {
	_, err := contract.Compile([]contract.Rule{
		{Kind: vital.HeartRate, Expr: "value > 120.0 || value < 40.0", Severity: contract.Warning},
		{Kind: vital.SpO2, Expr: "value < 90", Severity: contract.Critical},
		{Kind: vital.BodyTemperature, Expr: "value - 37.0", Severity: contract.Warning},
	})
	fmt.Println(errors.Is(err, contract.ErrNotBool))
	fmt.Println(err)
	// Output:
	// true
	// contract: rule 2 (body_temperature): rule does not return bool: it returns double
}

func ExampleProgram_Eval() {
	p, err := contract.Compile(contract.DefaultRules())
	if err != nil {
		fmt.Println(err)
		return
	}
	rule, abnormal, err := p.Eval(vital.SpO2, 88*vital.Unit)
	fmt.Println(abnormal, rule.Severity, rule.Expr, err)
	// Output:
	// true critical value < 90.0 <nil>
}
