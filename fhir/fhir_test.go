package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

func TestEveryKindIsValid(t *testing.T) {
	for _, k := range vital.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			r := reading.New(patientA, watch, 1, t0, k, k.Info().Min)
			b, err := Bundle([]reading.Reading{r})
			if err != nil {
				t.Fatal(err)
			}
			res := checkBundle(t, b)
			if len(res) != 1 {
				t.Fatalf("%d observations, want 1", len(res))
			}
			coding := res[0]["code"].(jsonObject)["coding"].([]any)[0].(jsonObject)
			info := k.Info()
			if coding["code"] != info.LOINC || coding["display"] != info.Display {
				t.Errorf("code %v %v, want %s %s", coding["code"], coding["display"], info.LOINC, info.Display)
			}
			q := res[0]["valueQuantity"].(jsonObject)
			if q["code"] != info.Unit || q["unit"] != info.Unit {
				t.Errorf("unit %v code %v, want %s", q["unit"], q["code"], info.Unit)
			}
		})
	}
}

// TestValueRoundTrip checks that the JSON number is exactly the
// fixed-point value: its text parses back to the same vital.Quantity, with
// no float rounding on the way.
func TestValueRoundTrip(t *testing.T) {
	tests := []struct {
		kind vital.Kind
		text string // as written and as expected in the JSON
	}{
		{vital.BodyTemperature, "37.25"},
		{vital.Glucose, "212.5"},
		{vital.SpO2, "98"},
		{vital.SpO2, "97.1"},
		{vital.Glucose, "0.001"},
		{vital.Glucose, "1999.999"},
		{vital.Glucose, "0.3"}, // 0.1+0.2 territory in float64
		{vital.BodyTemperature, "36.6"},
		{vital.Steps, "0"},
		{vital.Steps, "500000"},
		{vital.HeartRate, "72.125"},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String()+"/"+tc.text, func(t *testing.T) {
			r := rd(watch, 1, t0, tc.kind, tc.text)
			var nd bytes.Buffer
			if err := NDJSON(&nd, []reading.Reading{r}); err != nil {
				t.Fatal(err)
			}
			if want := `"valueQuantity":{"value":` + tc.text + `,`; !strings.Contains(nd.String(), want) {
				t.Fatalf("output lacks %s:\n%s", want, nd.Bytes())
			}
			o := decodeJSON(t, nd.Bytes())
			n := o["valueQuantity"].(jsonObject)["value"].(json.Number)
			q, err := vital.ParseQuantity(string(n))
			if err != nil || q != r.Value {
				t.Errorf("value %s parses to %d, %v; want %d", n, q, err, r.Value)
			}
		})
	}
}

func TestEffectiveDateTime(t *testing.T) {
	tests := []struct {
		ms   int64
		want string
	}{
		{1, "1970-01-01T00:00:00.001Z"},
		{1741944413589, "2025-03-14T09:26:53.589Z"},
		{1741944413000, "2025-03-14T09:26:53.000Z"},
		{maxTime, "9999-12-31T23:59:59.999Z"},
	}
	for _, tc := range tests {
		if got := dateTime(tc.ms); got != tc.want || !reDateTime.MatchString(got) {
			t.Errorf("dateTime(%d) = %q, want %q", tc.ms, got, tc.want)
		}
	}
	// A local time zone must not leak into the output.
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	r := rd(watch, 1, t0.In(loc), vital.HeartRate, "60")
	b, err := Bundle([]reading.Reading{r})
	if err != nil {
		t.Fatal(err)
	}
	if got := checkBundle(t, b)[0]["effectiveDateTime"]; got != "2025-03-14T09:26:53.589Z" {
		t.Errorf("effectiveDateTime %v", got)
	}
}

// TestDeterministic exports the same set of readings in many orders.
func TestDeterministic(t *testing.T) {
	want, err := Bundle(goldenReadings())
	if err != nil {
		t.Fatal(err)
	}
	var wantND bytes.Buffer
	if err := NDJSON(&wantND, goldenReadings()); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rs := goldenReadings()
		rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		got, err := Bundle(rs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("bundle depends on the order of the input")
		}
		var nd bytes.Buffer
		if err := NDJSON(&nd, rs); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(nd.Bytes(), wantND.Bytes()) {
			t.Fatal("NDJSON depends on the order of the input")
		}
	}
}

// TestOrder checks the order by time, then device, then seq.
func TestOrder(t *testing.T) {
	rs := []reading.Reading{
		rd(watch, 5, t0.Add(time.Millisecond), vital.HeartRate, "60"),
		rd(watch, 4, t0, vital.HeartRate, "61"),
		rd(cuff, 9, t0, vital.HeartRate, "62"), // cuff d0.. sorts after watch 10..
		rd(watch, 3, t0, vital.SpO2, "99"),
		rd(meter, 1, t0.Add(-time.Millisecond), vital.Glucose, "90"),
	}
	want := []string{
		meter.Hex() + "/1",
		watch.Hex() + "/3",
		watch.Hex() + "/4",
		cuff.Hex() + "/9",
		watch.Hex() + "/5",
	}
	b, err := Bundle(rs)
	if err != nil {
		t.Fatal(err)
	}
	res := checkBundle(t, b)
	for i, o := range res {
		got := o["identifier"].([]any)[0].(jsonObject)["value"]
		if got != want[i] {
			t.Errorf("entry %d is %v, want %s", i, got, want[i])
		}
	}
}

// TestNDJSONMatchesBundle checks that each line is the compact form of the
// Bundle's entry, in the same order.
func TestNDJSONMatchesBundle(t *testing.T) {
	b, err := Bundle(goldenReadings())
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Entry []struct{ Resource json.RawMessage }
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	var nd bytes.Buffer
	if err := NDJSON(&nd, goldenReadings()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(nd.String(), "\n"), "\n")
	if len(lines) != len(bundle.Entry) {
		t.Fatalf("%d lines, %d bundle entries", len(lines), len(bundle.Entry))
	}
	for i, line := range lines {
		var compact bytes.Buffer
		if err := json.Compact(&compact, bundle.Entry[i].Resource); err != nil {
			t.Fatal(err)
		}
		if line != compact.String() {
			t.Errorf("line %d differs from bundle entry:\n%s\n%s", i, line, compact.Bytes())
		}
		if errs := checkObservation(decodeJSON(t, []byte(line))); len(errs) > 0 {
			t.Errorf("line %d: %v", i, errs)
		}
	}
}

func TestBloodPressurePairing(t *testing.T) {
	sys := func(seq uint64, at time.Time, v string) reading.Reading {
		return rd(cuff, seq, at, vital.Systolic, v)
	}
	dia := func(seq uint64, at time.Time, v string) reading.Reading {
		return rd(cuff, seq, at, vital.Diastolic, v)
	}
	otherPatient := dia(2, t0, "80")
	otherPatient.Patient = patientB
	otherDevice := rd(watch, 2, t0, vital.Diastolic, "80")

	// Each observation is written as its LOINC code and values.
	tests := []struct {
		name string
		in   []reading.Reading
		want []string
	}{
		{"pair", []reading.Reading{sys(1, t0, "120"), dia(2, t0, "80")},
			[]string{"85354-9 120/80"}},
		{"diastolic first", []reading.Reading{dia(1, t0, "80"), sys(2, t0, "120")},
			[]string{"85354-9 120/80"}},
		{"systolic alone", []reading.Reading{sys(1, t0, "120")},
			[]string{"8480-6 120"}},
		{"diastolic alone", []reading.Reading{dia(1, t0, "80")},
			[]string{"8462-4 80"}},
		{"different times", []reading.Reading{sys(1, t0, "120"), dia(2, t0.Add(time.Millisecond), "80")},
			[]string{"8480-6 120", "8462-4 80"}},
		{"different devices", []reading.Reading{sys(1, t0, "120"), otherDevice},
			[]string{"8462-4 80", "8480-6 120"}}, // watch 10.. sorts before cuff d0..
		{"different patients", []reading.Reading{sys(1, t0, "120"), otherPatient},
			[]string{"8480-6 120", "8462-4 80"}},
		{"two systolic one diastolic", []reading.Reading{sys(1, t0, "120"), sys(2, t0, "121"), dia(3, t0, "80")},
			[]string{"85354-9 120/80", "8480-6 121"}},
		{"two pairs", []reading.Reading{sys(1, t0, "120"), sys(2, t0, "121"), dia(3, t0, "80"), dia(4, t0, "81")},
			[]string{"85354-9 120/80", "85354-9 121/81"}},
		{"pair among others", []reading.Reading{sys(1, t0, "120"), rd(cuff, 2, t0, vital.HeartRate, "70"), dia(3, t0, "80")},
			[]string{"85354-9 120/80", "8867-4 70"}},
		{"duplicate systolic", []reading.Reading{sys(1, t0, "120"), sys(1, t0, "120"), dia(2, t0, "80")},
			[]string{"85354-9 120/80"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Bundle(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			res := checkBundle(t, b)
			var got []string
			for _, o := range res {
				code := o["code"].(jsonObject)["coding"].([]any)[0].(jsonObject)["code"].(string)
				if comps, ok := o["component"].([]any); ok {
					v := func(i int) string {
						return string(comps[i].(jsonObject)["valueQuantity"].(jsonObject)["value"].(json.Number))
					}
					got = append(got, code+" "+v(0)+"/"+v(1))
				} else {
					got = append(got, code+" "+string(o["valueQuantity"].(jsonObject)["value"].(json.Number)))
				}
			}
			if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPanelIdentifiers(t *testing.T) {
	s, d := rd(cuff, 7, t0, vital.Systolic, "120"), rd(cuff, 8, t0, vital.Diastolic, "80")
	b, err := Bundle([]reading.Reading{d, s})
	if err != nil {
		t.Fatal(err)
	}
	o := checkBundle(t, b)[0]
	ids := o["identifier"].([]any)
	if ids[0].(jsonObject)["value"] != cuff.Hex()+"/7" || ids[1].(jsonObject)["value"] != cuff.Hex()+"/8" {
		t.Errorf("identifiers %v", ids)
	}
	single := observationID(domainReading, cuff, 7, 0)
	if o["id"] == single || o["id"] == observationID(domainReading, cuff, 8, 0) {
		t.Error("panel id equals a single reading's id")
	}
}

// TestIDs checks that an id depends on the device and seq alone, so that a
// re-export updates rather than duplicates.
func TestIDs(t *testing.T) {
	base := rd(watch, 5, t0, vital.HeartRate, "60")
	id := func(r reading.Reading) string {
		b, err := Bundle([]reading.Reading{r})
		if err != nil {
			t.Fatal(err)
		}
		return checkBundle(t, b)[0]["id"].(string)
	}
	want := id(base)
	if want != id(base) {
		t.Fatal("id is not stable")
	}
	same := base
	same.Value = 61 * vital.Unit
	same.Time++
	if id(same) != want {
		t.Error("id depends on more than device and seq")
	}
	for name, r := range map[string]reading.Reading{
		"seq":    rd(watch, 6, t0, vital.HeartRate, "60"),
		"device": rd(cuff, 5, t0, vital.HeartRate, "60"),
	} {
		if id(r) == want {
			t.Errorf("another %s gives the same id", name)
		}
	}
}

func TestEmpty(t *testing.T) {
	for _, in := range [][]reading.Reading{nil, {}} {
		b, err := Bundle(in)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"resourceType":"Bundle","type":"collection"}` + "\n"; string(b) != want {
			t.Errorf("empty bundle %q, want %q", b, want)
		}
		var nd bytes.Buffer
		if err := NDJSON(&nd, in); err != nil || nd.Len() != 0 {
			t.Errorf("NDJSON of nothing: %q, %v", nd.Bytes(), err)
		}
	}
}

func TestInvalidReadings(t *testing.T) {
	good := rd(watch, 5, t0, vital.HeartRate, "60")
	mod := func(f func(*reading.Reading)) reading.Reading {
		r := good
		f(&r)
		return r
	}
	conflict := mod(func(r *reading.Reading) { r.Value++ })
	tests := []struct {
		name string
		in   []reading.Reading
		want error
	}{
		{"unknown version", []reading.Reading{mod(func(r *reading.Reading) { r.Version = 2 })}, codec.ErrUnknownVersion},
		{"no patient", []reading.Reading{mod(func(r *reading.Reading) { r.Patient = [32]byte{} })}, codec.ErrMissingField},
		{"no device", []reading.Reading{mod(func(r *reading.Reading) { r.Device = [32]byte{} })}, codec.ErrMissingField},
		{"seq 0", []reading.Reading{mod(func(r *reading.Reading) { r.Seq = 0 })}, codec.ErrMissingField},
		{"no time", []reading.Reading{mod(func(r *reading.Reading) { r.Time = 0 })}, codec.ErrMissingField},
		{"no code", []reading.Reading{mod(func(r *reading.Reading) { r.Code = "" })}, codec.ErrMissingField},
		{"unknown code", []reading.Reading{mod(func(r *reading.Reading) { r.Code = "1234-5" })}, vital.ErrUnknownKind},
		{"short name as code", []reading.Reading{mod(func(r *reading.Reading) { r.Code = "heart_rate" })}, vital.ErrUnknownKind},
		{"wrong unit", []reading.Reading{mod(func(r *reading.Reading) { r.Unit = "/s" })}, reading.ErrWrongUnit},
		{"implausible value", []reading.Reading{mod(func(r *reading.Reading) { r.Value = 401 * vital.Unit })}, reading.ErrImplausible},
		{"negative value", []reading.Reading{mod(func(r *reading.Reading) { r.Value = -1 })}, reading.ErrImplausible},
		{"time before 1970", []reading.Reading{mod(func(r *reading.Reading) { r.Time = -1 })}, reading.ErrImplausible},
		{"time after 9999", []reading.Reading{mod(func(r *reading.Reading) { r.Time = maxTime + 1 })}, reading.ErrImplausible},
		{"conflicting duplicate", []reading.Reading{good, conflict}, ErrConflict},
		{"bad reading after good ones", []reading.Reading{good, rd(cuff, 1, t0, vital.Systolic, "120"), mod(func(r *reading.Reading) { r.Seq = 0 })}, codec.ErrMissingField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Bundle(tc.in)
			if !errors.Is(err, tc.want) || b != nil {
				t.Errorf("Bundle: %v, %d bytes; want %v", err, len(b), tc.want)
			}
			var nd bytes.Buffer
			err = NDJSON(&nd, tc.in)
			if !errors.Is(err, tc.want) {
				t.Errorf("NDJSON: %v, want %v", err, tc.want)
			}
			if nd.Len() != 0 {
				t.Errorf("NDJSON wrote %d bytes before failing", nd.Len())
			}
		})
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		n := w.after
		w.after = 0
		return n, errDiskFull
	}
	w.after -= len(p)
	return len(p), nil
}

func TestNDJSONWriteError(t *testing.T) {
	many := make([]reading.Reading, 0, 200)
	for i := range 200 {
		many = append(many, rd(watch, uint64(i+1), t0.Add(time.Duration(i)*time.Second), vital.HeartRate, "60"))
	}
	for _, after := range []int{0, 100, 70_000} { // first write, a partial one, the final flush
		err := NDJSON(&failingWriter{after: after}, many)
		if !errors.Is(err, errDiskFull) {
			t.Errorf("failing after %d bytes: %v, want %v", after, err, errDiskFull)
		}
	}
}

func TestObservationIDIsUUIDv8(t *testing.T) {
	if len(domainReading) != 24 || len(domainPanel) != 24 {
		t.Fatal("observationID domains must be 24 bytes")
	}
	for seq := range uint64(200) {
		id := observationID(domainReading, watch, seq, 0)
		if !reUUID.MatchString(id) || !reID.MatchString(id) {
			t.Fatalf("id %q is not a lower-case version 8 UUID", id)
		}
	}
}
