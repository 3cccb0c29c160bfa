package entrasim

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint (RFC 7515)
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// newTLSMaterial makes a throw-away CA and a leaf for 127.0.0.1/::1/localhost.
func newTLSMaterial() (tls.Certificate, []byte, *x509.CertPool, error) {
	fail := func(err error) (tls.Certificate, []byte, *x509.CertPool, error) {
		return tls.Certificate{}, nil, nil, fmt.Errorf("sandbox: make TLS certificate: %w", err)
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "CVI onboarding SANDBOX local CA (not Microsoft)", Organization: []string{"SANDBOX"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fail(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "127.0.0.1", Organization: []string{"SANDBOX"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}, caPEM, pool, nil
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// signer signs RS256 JWTs with one key made at start, as Entra does with its
// rotating keys: kid (= x5t) names the key in the JWKS.
type signer struct {
	key       *rsa.PrivateKey
	kid       string
	certDER   []byte
	headerB64 string // constant JOSE header, encoded once
}

func newSigner(bits int) (*signer, error) {
	if bits == 0 {
		bits = 2048
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generate signing key: %w", err)
	}
	// Entra publishes each signing key with a self-signed certificate (x5c).
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "sandbox.accesscontrol.invalid"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sandbox: signing certificate: %w", err)
	}
	thumb := sha1.Sum(der) //nolint:gosec // thumbprint, not a security boundary
	kid := base64.RawURLEncoding.EncodeToString(thumb[:])
	header, err := json.Marshal(struct {
		Typ string `json:"typ"`
		Alg string `json:"alg"`
		X5t string `json:"x5t"`
		Kid string `json:"kid"`
	}{"JWT", "RS256", kid, kid})
	if err != nil {
		return nil, fmt.Errorf("sandbox: JOSE header: %w", err)
	}
	return &signer{key: key, kid: kid, certDER: der, headerB64: base64.RawURLEncoding.EncodeToString(header)}, nil
}

func (sg *signer) sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sandbox: encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	n := len(sg.headerB64) + 1 + enc.EncodedLen(len(payload))
	sigLen := enc.EncodedLen(sg.key.Size())
	buf := make([]byte, 0, n+1+sigLen)
	buf = append(buf, sg.headerB64...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(nil, sg.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sandbox: sign token: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

var errTokenMalformed = errors.New("JWT is not well formed")

// verify checks that token was signed by this sandbox and decodes its claims.
func (sg *signer) verify(token string, claims any) error {
	header, rest, ok := strings.Cut(token, ".")
	if !ok {
		return errTokenMalformed
	}
	payload, sigB64, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sigB64, ".") {
		return errTokenMalformed
	}
	if header != sg.headerB64 {
		return errors.New("signature key or algorithm is not the sandbox's")
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigB64)
	if err != nil {
		return errTokenMalformed
	}
	digest := sha256.Sum256([]byte(token[:len(header)+1+len(payload)]))
	if err := rsa.VerifyPKCS1v15(&sg.key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		return errors.New("signature validation failed")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return errTokenMalformed
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(claims); err != nil {
		return errTokenMalformed
	}
	return nil
}

// jwk is one entry of the JWKS, in Entra's v2.0 shape.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer"`
}

func (sg *signer) jwk(issuer string) jwk {
	pub := sg.key.PublicKey
	return jwk{
		Kty:    "RSA",
		Use:    "sig",
		Kid:    sg.kid,
		X5t:    sg.kid,
		N:      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(sg.certDER)},
		Issuer: issuer,
	}
}
