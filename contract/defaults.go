package contract

import "github.com/vitalchain/vitalchain/vital"

// Default cool-downs, in seconds.
const (
	cooldownCritical = 5 * 60
	cooldownWarning  = 15 * 60
	cooldownDaily    = 24 * 60 * 60
)

// DefaultRules returns one rule per vital sign, in vital.Kinds order, with
// common clinical alert thresholds for an adult. They are a starting point
// for a contract, not medical advice: the patient and providers tailor them.
//
// Where the numbers come from:
//   - glucose above 180 or below 70 mg/dL: the bounds of the ADA Standards of
//     Care target range ("time in range" 70–180 mg/dL); below 70 is level 1
//     hypoglycaemia.
//   - heart rate above 120 or below 40 /min, respiratory rate above 30 or
//     below 8 /min, SpO2 below 90 %, systolic below 90 mm[Hg], body
//     temperature above 39.0 or below 35.0 Cel: the ranges of common
//     early-warning and rapid-response calling criteria (such as NEWS2 and
//     medical emergency team criteria), where these values score high.
//   - systolic above 180 or diastolic above 120 mm[Hg]: the ACC/AHA 2017
//     threshold of a hypertensive crisis; diastolic below 50 mm[Hg]: a common
//     hypotension alert threshold.
//   - fewer than 500 steps in 24 hours: far below the 5,000 steps/day that
//     usually marks a sedentary adult, it suggests the patient is immobile
//     or not wearing the device; informational, at most once a day.
//
// SpO2 is Critical, steps Info, the rest Warning.
func DefaultRules() []Rule {
	return []Rule{
		{Kind: vital.Glucose, Expr: "value > 180.0 || value < 70.0", Severity: Warning, Cooldown: cooldownWarning},
		{Kind: vital.HeartRate, Expr: "value > 120.0 || value < 40.0", Severity: Warning, Cooldown: cooldownWarning},
		{Kind: vital.SpO2, Expr: "value < 90.0", Severity: Critical, Cooldown: cooldownCritical},
		{Kind: vital.Systolic, Expr: "value > 180.0 || value < 90.0", Severity: Warning, Cooldown: cooldownWarning},
		{Kind: vital.Diastolic, Expr: "value > 120.0 || value < 50.0", Severity: Warning, Cooldown: cooldownWarning},
		{Kind: vital.RespiratoryRate, Expr: "value > 30.0 || value < 8.0", Severity: Warning, Cooldown: cooldownWarning},
		{Kind: vital.BodyTemperature, Expr: "value > 39.0 || value < 35.0", Severity: Warning, Cooldown: cooldownWarning},
		{Kind: vital.Steps, Expr: "value < 500.0", Severity: Info, Cooldown: cooldownDaily},
	}
}
