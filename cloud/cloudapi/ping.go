package cloudapi

import (
	"context"
	"fmt"
	"net/http"
)

// Ping asks the cloud whether it lives (GET /livez, or /healthz of a cloud
// older than /livez): what a gateway's readiness checks.
func (c *Client) Ping(ctx context.Context) error {
	var last error
	for _, path := range []string{"/livez", "/healthz"} {
		status, _, _, err := c.route(ctx, http.MethodGet, path, nil, 1<<10)
		if err != nil {
			return fmt.Errorf("cloud: %w", err)
		}
		if status == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("cloud %s: %d %s", path, status, http.StatusText(status))
	}
	return last
}
