package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Secured is a redis-server reachable only over TLS and with a password, as
// Memorystore is with in-transit encryption and AUTH.
type Secured struct {
	*Server
	Password string
	CAFile   string // PEM of the CA that signed the server's certificate
}

// StartSecured runs a redis-server that speaks only TLS, with a certificate
// for 127.0.0.1 from a CA of the test's own, and requires Password. With
// cluster set, it is a one-node cluster serving every slot, its cluster bus
// on TLS too.
func StartSecured(t testing.TB, cluster bool) *Secured {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCerts(t, dir)
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	sec := &Secured{Password: "test-password", CAFile: caFile}
	client := &redis.Options{Password: sec.Password, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	var err error
	for range 5 {
		var ports []string
		if ports, err = freePorts(2); err != nil {
			continue
		}
		s := &Server{t: t, dir: t.TempDir(), Addr: "127.0.0.1:" + ports[0], client: client, args: []string{
			"--tls-port", ports[0], "--port", "0",
			"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
			"--tls-auth-clients", "no", "--requirepass", sec.Password,
			"--save", "", "--appendonly", "no",
		}}
		if cluster {
			s.args = append(s.args, "--cluster-enabled", "yes", "--cluster-port", ports[1],
				"--cluster-config-file", "nodes.conf", "--tls-cluster", "yes",
				// Alone, a node does not learn its own address from peers and
				// names none in CLUSTER SLOTS; TLS needs one to check.
				"--cluster-announce-ip", "127.0.0.1")
		}
		// start passes --port first: the later --port 0 overrides it.
		if err = s.start(); err == nil {
			t.Cleanup(s.Stop)
			sec.Server = s
			break
		}
	}
	if err != nil {
		t.Fatalf("start redis-server with TLS: %v", err)
	}
	if cluster {
		rc := redis.NewClient(&redis.Options{Addr: sec.Addr, Password: client.Password, TLSConfig: client.TLSConfig})
		defer rc.Close()
		serveAllSlots(t, rc)
	}
	return sec
}

// writeCerts writes a CA and a server certificate for 127.0.0.1 it signed.
func writeCerts(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		// The cluster bus is mutual TLS between nodes.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}
