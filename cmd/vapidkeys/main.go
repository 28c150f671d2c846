// Command vapidkeys makes a VAPID key pair for Web Push (docs/SPEC.md).
// Without flags it prints both keys as environment settings. With
// -private - it writes the private key alone to stdout, for a pipe into
// Secret Manager, and the public key's setting to stderr, so that the
// private key never shows on a terminal; -private FILE writes it to FILE
// (mode 0600).
package main

import (
	"flag"
	"fmt"
	"os"

	webpush "github.com/SherClockHolmes/webpush-go"
)

func main() {
	out := flag.String("private", "", `where the private key goes alone: "-" for stdout, or a file; empty: both keys on stdout`)
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "vapidkeys:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		return err
	}
	switch out {
	case "":
		fmt.Println("VAPID_PUBLIC_KEY=" + pub)
		fmt.Println("VAPID_PRIVATE_KEY=" + priv)
		return nil
	case "-":
		fmt.Fprintln(os.Stderr, "VAPID_PUBLIC_KEY="+pub)
		_, err := fmt.Print(priv)
		return err
	default:
		fmt.Println("VAPID_PUBLIC_KEY=" + pub)
		return os.WriteFile(out, []byte(priv), 0o600)
	}
}
