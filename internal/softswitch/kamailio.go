package softswitch

import (
	"bytes"
	_ "embed"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed kamailio.cfg.tmpl
var kamailioTemplate string

// DefaultCacheTTL is how long the reference Kamailio configuration keeps a
// lookup answer unless told otherwise: a registration burst (challenge,
// then the authenticated retry, then re-registrations of many phones) is
// served from the cache, and a deleted or changed user is refused or
// followed at most this long after the table changed.
const DefaultCacheTTL = 30 * time.Second

// KamailioConfig is what the reference Kamailio configuration needs.
type KamailioConfig struct {
	// Address is the IP Kamailio listens on (e.g. 127.0.0.1 or the host's
	// public address).
	Address string
	// Port takes phones' requests, on each of Transports (udp, tcp).
	Port       int
	Transports []string
	// TrunkPort takes carriers' INVITEs to DIDs (UDP), unauthenticated:
	// restrict it to the carriers' addresses.
	TrunkPort int
	// LookupURL is the SIP lookup API's base URL.
	LookupURL string
	// Token is the bearer token the API accepts.
	Token string
	// CacheTTL bounds how long Kamailio keeps a lookup answer: the time a
	// deleted or changed user may still be served the old answer.
	CacheTTL time.Duration
	// ModulesDir is Kamailio's module directory; "" uses its built-in path.
	ModulesDir string
	// Debug is Kamailio's log level (0-3); 2 is informational.
	Debug int
}

// Validate checks the values before they go into the file.
func (c KamailioConfig) Validate() error {
	if net.ParseIP(c.Address) == nil {
		return fmt.Errorf("kamailio config: address %q is not an IP address", c.Address)
	}
	for _, p := range []int{c.Port, c.TrunkPort} {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("kamailio config: port %d out of range", p)
		}
	}
	if c.Port == c.TrunkPort {
		return fmt.Errorf("kamailio config: phone and trunk ports must differ")
	}
	if len(c.Transports) == 0 {
		return fmt.Errorf("kamailio config: no transport")
	}
	for _, t := range c.Transports {
		if t != "udp" && t != "tcp" {
			return fmt.Errorf("kamailio config: transport %q (udp or tcp; put TLS in front with your certificates)", t)
		}
	}
	if !lookupURLRE.MatchString(c.LookupURL) {
		return fmt.Errorf("kamailio config: lookup URL %q must be http(s)://host[:port][/path] (no query, no quotes, no $)", c.LookupURL)
	}
	if !ValidToken(c.Token) {
		return fmt.Errorf("kamailio config: the token must be %d-%d URL-safe characters", minTokenLen, maxTokenLen)
	}
	if c.CacheTTL < time.Second {
		return fmt.Errorf("kamailio config: cache TTL %s below 1s", c.CacheTTL)
	}
	if strings.ContainsAny(c.ModulesDir, "\"\n\r") {
		return fmt.Errorf("kamailio config: modules dir %q", c.ModulesDir)
	}
	return nil
}

// lookupURLRE: the URL goes into a Kamailio string, where '"' ends it and
// '$' starts a pseudo-variable.
var lookupURLRE = regexp.MustCompile(`^https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/%-]*)?$`)

// RenderKamailio returns the Kamailio configuration file for c. A trailing
// slash of LookupURL (as the stack's SipLookupUrl output has) is dropped.
func RenderKamailio(c KamailioConfig) ([]byte, error) {
	c.LookupURL = strings.TrimRight(c.LookupURL, "/")
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t, err := template.New("kamailio.cfg").Option("missingkey=error").Parse(kamailioTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse kamailio template: %w", err)
	}
	var listen []string
	for _, tr := range c.Transports {
		listen = append(listen, tr+":"+net.JoinHostPort(c.Address, strconv.Itoa(c.Port)))
	}
	debug := c.Debug
	if debug < 0 || debug > 3 {
		debug = 2
	}
	var b bytes.Buffer
	err = t.Execute(&b, map[string]any{
		"PhoneListen": listen,
		"TrunkListen": "udp:" + net.JoinHostPort(c.Address, strconv.Itoa(c.TrunkPort)),
		"TrunkPort":   c.TrunkPort,
		"LookupURL":   c.LookupURL,
		"Token":       c.Token,
		"CacheTTL":    int(c.CacheTTL / time.Second),
		"ModulesDir":  c.ModulesDir,
		"Debug":       debug,
	})
	if err != nil {
		return nil, fmt.Errorf("render kamailio config: %w", err)
	}
	return b.Bytes(), nil
}
