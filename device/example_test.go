package device_test

import (
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/device"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// A demo runs a kit on a simulated clock and publishes what it measures;
// the gateway verifies each reading with the device's registered key.
func Example() {
	var patientID identity.ID // the patient's actor ID
	patientID[0] = 1
	kit, err := device.DefaultKit(patientID, 42)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	for now := start; now.Before(start.Add(10 * time.Minute)); now = kit.Next() {
		samples, err := kit.Measure(now)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, s := range samples { // the transport publishes s.Msg, addressed to s.Device, here
			r, err := reading.Verify(s.Msg, kit.Lookup) // what the gateway does
			if err != nil {
				fmt.Println(err)
				return
			}
			if k, _ := r.Kind(); r.Time == start.UnixMilli() || k == vital.Glucose {
				fmt.Printf("%s seq %d: %s %s %s\n", r.Timestamp().UTC().Format("15:04"), r.Seq, k, r.Value, r.Unit)
			}
		}
	}
	// Output:
	// 08:00 seq 1: glucose 108 mg/dL
	// 08:00 seq 1: heart_rate 77 /min
	// 08:00 seq 2: spo2 96 %
	// 08:00 seq 1: systolic 114 mm[Hg]
	// 08:00 seq 2: diastolic 74 mm[Hg]
	// 08:00 seq 1: body_temperature 36.2 Cel
	// 08:00 seq 1: steps 8785 /(24.h)
	// 08:00 seq 2: heart_rate 77 /min
	// 08:00 seq 1: respiratory_rate 16 /min
	// 08:05 seq 2: glucose 113 mg/dL
}

// For load tests: a patient whose readings are about 5 % abnormal.
func ExampleMixForAbnormalFraction() {
	mix, err := device.MixForAbnormalFraction(0.05)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := device.NewPatient(device.NewProfile(1), mix, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	eps := p.Episodes(start, start.Add(24*time.Hour))
	fmt.Printf("%.2f tachycardias an hour, each 5 to 10 minutes\n", mix[device.Tachycardia].PerHour)
	fmt.Println(len(eps) > 100, "episodes in a day")
	// Output:
	// 0.74 tachycardias an hour, each 5 to 10 minutes
	// true episodes in a day
}

// The demo shows which episodes are under way.
func ExamplePatient_Episodes() {
	p, err := device.NewPatient(device.NewProfile(1), device.DefaultMix(), 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range p.Episodes(start, start.Add(24*time.Hour)) {
		fmt.Println(e)
		mid := e.Onset.Add(e.Ramp + e.Plateau/2)
		fmt.Printf("  at %s (%s): glucose %s, heart rate %s\n", mid.Format("15:04"), e.Phase(mid),
			p.Value(vital.Glucose, mid), p.Value(vital.HeartRate, mid))
	}
	// Output:
	// hyperglycaemia from 2025-01-01T00:04:44Z for 1h21m34s (glucose 301)
	//   at 00:45 (plateau): glucose 300, heart rate 67
	// tachycardia from 2025-01-01T10:20:04Z for 36m2s (heart_rate 134, respiratory_rate 21)
	//   at 10:37 (plateau): glucose 103, heart rate 136
	// desaturation from 2025-01-01T13:46:28Z for 13m0s (spo2 84, heart_rate 90, respiratory_rate 24)
	//   at 13:52 (plateau): glucose 117, heart rate 90
}
