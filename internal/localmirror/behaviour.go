package localmirror

// Behaviour is how a local mirror (mis)behaves. Behaviours that concern
// the content (Stale, Partial, WrongMetadata) apply to every protocol the
// mirror serves; the others concern HTTP(S), the network or TLS.
type Behaviour string

// The behaviours. Each is something real mirrors do.
const (
	// Healthy serves the origin's tree as of its last Sync.
	Healthy Behaviour = "healthy"
	// Stale serves an old tree: its stamp and metadata are StaleBy older
	// than the origin's, and its metadata is no version the origin had
	// recently.
	Stale Behaviour = "stale"
	// Partial serves the origin's tree without one repository (PartialRepo,
	// by default the deb archive).
	Partial Behaviour = "partial"
	// WrongMetadata has the origin's stamp but different metadata bytes.
	WrongMetadata Behaviour = "wrong-metadata"
	// NotFound answers every request 404.
	NotFound Behaviour = "404"
	// ServerError answers every request 500.
	ServerError Behaviour = "500"
	// Reset accepts the connection, reads the request and resets (RST).
	Reset Behaviour = "reset"
	// Hang accepts the connection and never answers.
	Hang Behaviour = "hang"
	// SlowBody sends the headers at once and then one byte every Delay
	// (default 100ms).
	SlowBody Behaviour = "slow-body"
	// HugeBody answers every request with an endless body.
	HugeBody Behaviour = "huge-body"
	// RedirectLoop redirects every request to itself, forever.
	RedirectLoop Behaviour = "redirect-loop"
	// RedirectPrivate redirects every request to a private address
	// (10.255.255.1), which a probe must not follow.
	RedirectPrivate Behaviour = "redirect-private"
	// RedirectMetadata redirects every request to the cloud metadata
	// address 169.254.169.254.
	RedirectMetadata Behaviour = "redirect-metadata"
	// RedirectOrigin redirects every request to the same path at the
	// origin: it carries nothing itself.
	RedirectOrigin Behaviour = "redirect-origin"
	// BadCert serves https with a certificate no trusted CA signed.
	BadCert Behaviour = "bad-cert"
	// ExpiringCert serves https with a valid certificate that expires in
	// three days.
	ExpiringCert Behaviour = "expiring-cert"
	// IPv6Down has an IPv6 address in DNS (::1) but nothing listens there.
	IPv6Down Behaviour = "ipv6-down"
	// Down has nothing listening at all: connections are refused.
	Down Behaviour = "down"
	// NoDNS is a mirror whose host name does not resolve.
	NoDNS Behaviour = "no-dns"
	// Ahead serves the origin's tree under a stamp AheadBy (default a
	// year) later than the origin's: a mirror claiming to be newer than
	// the origin, to look fresh.
	Ahead Behaviour = "ahead"
	// SlowAnswer answers every HTTP request after Delay (default 1s):
	// each answer just under a prober's per-request timeout, so that they
	// add up.
	SlowAnswer Behaviour = "slow-answer"
	// EndlessMetadata serves the stamp, and an endless body for every
	// other file: an endless repomd.xml.
	EndlessMetadata Behaviour = "endless-metadata"

	// The Leak behaviours put [Secret] where a careless prober copies an
	// answer into its report: a stand-in for what a metadata service or
	// an internal server would answer.

	// LeakStamp serves Secret as its stamp file, which is not a time.
	LeakStamp Behaviour = "leak-stamp"
	// LeakStatus serves the stamp, and answers every other HTTP request
	// 403 with Secret as the reason phrase, in a header and in the body.
	LeakStatus Behaviour = "leak-status"
	// LeakGarbage answers every connection, HTTP, FTP or rsync, with a
	// line holding Secret that is no valid answer of the protocol.
	LeakGarbage Behaviour = "leak-garbage"
	// LeakRedirect redirects every HTTP request to a Location that is not
	// a URL and holds Secret.
	LeakRedirect Behaviour = "leak-redirect"
	// LeakCert serves https with a certificate signed by the network's CA
	// for the name Secret + ".invalid" only.
	LeakCert Behaviour = "leak-cert"
)

// Secret is what the Leak behaviours answer. It must never appear in a
// prober's output. It is a valid DNS label, for LeakCert.
const Secret = "aws-secret-key-7f1c2a9e-never-publish"

// Behaviours lists every behaviour, for tests that must cover them all.
var Behaviours = []Behaviour{Healthy, Stale, Partial, WrongMetadata, NotFound, ServerError, Reset, Hang, SlowBody,
	HugeBody, RedirectLoop, RedirectPrivate, RedirectMetadata, RedirectOrigin, BadCert, ExpiringCert, IPv6Down, Down, NoDNS,
	Ahead, SlowAnswer, EndlessMetadata, LeakStamp, LeakStatus, LeakGarbage, LeakRedirect, LeakCert}
