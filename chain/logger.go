package chain

import (
	"context"
	"fmt"
	"log/slog"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// cmtLogger routes CometBFT's logs into slog. CometBFT is loud: its Info
// becomes Debug, its Error becomes Info (most are peers coming and going),
// and its Debug is dropped.
type cmtLogger struct{ l *slog.Logger }

var _ cmtlog.Logger = cmtLogger{}

func (c cmtLogger) Debug(string, ...any) {}

func (c cmtLogger) Info(msg string, kv ...any) { c.log(slog.LevelDebug, msg, kv) }

func (c cmtLogger) Error(msg string, kv ...any) { c.log(slog.LevelInfo, msg, kv) }

func (c cmtLogger) With(kv ...any) cmtlog.Logger { return cmtLogger{c.l.With(attrs(kv)...)} }

func (c cmtLogger) log(level slog.Level, msg string, kv []any) {
	if !c.l.Enabled(context.Background(), level) {
		return
	}
	c.l.Log(context.Background(), level, msg, attrs(kv)...)
}

// attrs turns CometBFT's key-value pairs into slog attributes, formatting
// values eagerly (some are stringers over live state).
func attrs(kv []any) []any {
	out := make([]any, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.String(fmt.Sprint(kv[i]), fmt.Sprint(kv[i+1])))
	}
	return out
}
