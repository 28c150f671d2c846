package push

import (
	"context"
	"net/http"
)

// SendRaw posts an empty request to endpoint with s's HTTP client, below
// the endpoint rules: what the dialer alone lets through.
func SendRaw(ctx context.Context, s *Service, endpoint string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, err
	}
	return s.client.Do(req)
}
