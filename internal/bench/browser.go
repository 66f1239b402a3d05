package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"time"
)

// WatchPortal logs in to a provider portal at base (with a one-time
// loginPath), follows its live stream as a browser's page does, and calls
// seen with each new alert's reading time and the time its event arrived:
// the latency from a reading to the clinician's screen. It returns when
// ctx ends or the stream breaks.
func WatchPortal(ctx context.Context, base, loginPath string, seen func(reading, arrived time.Time)) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	c := &http.Client{Jar: jar}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+loginPath, nil)
	if err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("portal login: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("portal login: %s", res.Status)
	}
	if req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil); err != nil {
		return err
	}
	if res, err = c.Do(req); err != nil {
		return fmt.Errorf("portal events: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("portal events: %s", res.Status)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			event = ""
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case event == "alerts" && strings.HasPrefix(line, "data: "):
			arrived := time.Now()
			f := strings.Fields(strings.TrimPrefix(line, "data: "))
			if len(f) != 2 {
				return fmt.Errorf("portal events: bad alert line %q", line)
			}
			ms, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return fmt.Errorf("portal events: bad alert line %q", line)
			}
			seen(time.UnixMilli(ms), arrived)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}
