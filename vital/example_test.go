package vital_test

import (
	"fmt"

	"github.com/vitalchain/vitalchain/vital"
)

func Example() {
	k, err := vital.ParseKind("8310-5") // LOINC: body temperature
	if err != nil {
		panic(err)
	}
	q, err := vital.ParseQuantity("37.25")
	if err != nil {
		panic(err)
	}
	info := k.Info()
	fmt.Println(k, int64(q), q, info.Unit, k.Plausible(q))
	fmt.Println(k.Plausible(60 * vital.Unit))
	// Output:
	// body_temperature 37250 37.25 Cel true
	// false
}
