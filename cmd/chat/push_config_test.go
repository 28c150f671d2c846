package main

import (
	"strings"
	"testing"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// The VAPID settings come together or not at all, and are checked at
// start; PUSH_ALLOWED_HOSTS is a list of hosts.
func TestConfigPush(t *testing.T) {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	priv2, _, _ := webpush.GenerateVAPIDKeys()
	load := func(env map[string]string) (config, error) {
		return loadConfig([]string{"chat"}, func(k string) string { return env[k] })
	}
	cfg, err := load(nil)
	if err != nil || cfg.vapidPublic != "" {
		t.Fatalf("no settings: %v, %q", err, cfg.vapidPublic)
	}
	cfg, err = load(map[string]string{"VAPID_PUBLIC_KEY": pub, "VAPID_PRIVATE_KEY": priv, "VAPID_SUBJECT": "mailto:ops@example.com", "PUSH_ALLOWED_HOSTS": "127.0.0.1:9000, push.test"})
	if err != nil || cfg.vapidPublic != pub || len(cfg.pushAllowed) != 2 {
		t.Fatalf("good settings: %v, %+v", err, cfg.pushAllowed)
	}
	for name, env := range map[string]map[string]string{
		"VAPID_SUBJECT":       {"VAPID_PUBLIC_KEY": pub, "VAPID_PRIVATE_KEY": priv},
		"not the private key": {"VAPID_PUBLIC_KEY": pub, "VAPID_PRIVATE_KEY": priv2, "VAPID_SUBJECT": "mailto:ops@example.com"},
		"VAPID_SUBJECT=":      {"VAPID_PUBLIC_KEY": pub, "VAPID_PRIVATE_KEY": priv, "VAPID_SUBJECT": "ops@example.com"},
		"PUSH_ALLOWED_HOSTS":  {"PUSH_ALLOWED_HOSTS": "http://x/"},
	} {
		_, err := load(env)
		if err == nil || !strings.Contains(err.Error(), "VAPID_") && !strings.Contains(err.Error(), "PUSH_ALLOWED_HOSTS") {
			t.Errorf("%s: %v, want a start-up error", name, err)
		}
		if err != nil && strings.Contains(err.Error(), priv) {
			t.Errorf("%s: the error shows the private key", name)
		}
	}
}
