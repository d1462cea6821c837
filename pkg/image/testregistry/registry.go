// Package testregistry owns the OCI registry crisp's tests and benchmarks
// pull from: go-containerregistry's in-memory registry served on 127.0.0.1,
// with optional basic or token authentication, per-blob download counts and
// injected faults (corrupted or stalled blobs), plus builders for the images
// and archives the tests push and load. It never listens beyond loopback.
package testregistry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Credentials are a username and password for basic authentication.
type Credentials struct {
	Username string
	Password string
}

// TokenAuth makes the registry demand bearer tokens (the Docker token flow).
type TokenAuth struct {
	// IdentityToken is the OAuth2 refresh token the token endpoint exchanges
	// for an access token.
	IdentityToken string
	// RegistryToken is a bearer token the registry accepts as it is.
	RegistryToken string
}

// Options configure a Registry. With neither BasicAuth nor Token set, it
// serves anyone.
type Options struct {
	BasicAuth *Credentials
	Token     *TokenAuth
}

// Registry is a running loopback registry.
type Registry struct {
	opts  Options
	inner http.Handler
	srv   *http.Server
	addr  string

	mu       sync.Mutex
	blobGets map[string]int
	corrupt  map[string]bool
	stalled  map[string]bool
	tokens   map[string]bool // access tokens issued by /token
	secret   string          // in adminHeader of the registry's own pushes
}

var blobPath = regexp.MustCompile(`^/v2/.+/blobs/(sha256:[a-f0-9]{64})$`)

// Start serves a new empty registry on 127.0.0.1 at a free port.
func Start(opts Options) (*Registry, error) {
	return StartAt("127.0.0.1:0", opts)
}

// StartAt serves a new empty registry at addr, which must be a loopback
// address.
func StartAt(addr string, opts Options) (*Registry, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("registry address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("registry address %q: only loopback addresses are allowed", addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return Serve(lis, opts), nil
}

// Serve serves a new empty registry on lis, which the caller chose: a
// loopback address, or one inside a network namespace of its own making.
func Serve(lis net.Listener, opts Options) *Registry {
	r := &Registry{
		opts:     opts,
		inner:    ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))),
		addr:     lis.Addr().String(),
		blobGets: make(map[string]int),
		corrupt:  make(map[string]bool),
		stalled:  make(map[string]bool),
		tokens:   make(map[string]bool),
	}
	b := make([]byte, 16)
	rand.Read(b)
	r.secret = hex.EncodeToString(b)
	r.srv = &http.Server{Handler: r}
	go r.srv.Serve(lis)
	return r
}

// Addr returns host:port, the registry part of image references.
func (r *Registry) Addr() string { return r.addr }

// Close stops the registry.
func (r *Registry) Close() error { return r.srv.Close() }

// BlobGets returns how often the blob with digest was downloaded.
func (r *Registry) BlobGets(digest string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobGets[digest]
}

// Corrupt makes the registry serve the blob with digest with one byte
// flipped in its middle.
func (r *Registry) Corrupt(digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.corrupt[digest] = true
}

// Stall makes the registry send the first half of the blob with digest and
// then hold the connection until the client goes away.
func (r *Registry) Stall(digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stalled[digest] = true
}

// ServeHTTP serves the registry API behind the configured authentication.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if secret := req.Header.Get(adminHeader); secret != "" && secret == r.secret {
		r.inner.ServeHTTP(w, req)
		return
	}
	if req.URL.Path == "/token" && r.opts.Token != nil {
		r.serveToken(w, req)
		return
	}
	if !r.authorized(req) {
		r.challenge(w, req)
		return
	}
	m := blobPath.FindStringSubmatch(req.URL.Path)
	if m == nil || req.Method != http.MethodGet {
		r.inner.ServeHTTP(w, req)
		return
	}
	digest := m[1]
	r.mu.Lock()
	r.blobGets[digest]++
	corrupt, stalled := r.corrupt[digest], r.stalled[digest]
	r.mu.Unlock()
	switch {
	case stalled:
		rec := httptest.NewRecorder()
		r.inner.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		copyHeader(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-req.Context().Done()
	case corrupt:
		rec := httptest.NewRecorder()
		r.inner.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		copyHeader(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(body)
	default:
		r.inner.ServeHTTP(w, req)
	}
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// authorized checks the request's credentials against the options.
func (r *Registry) authorized(req *http.Request) bool {
	switch {
	case r.opts.BasicAuth != nil:
		user, pass, ok := req.BasicAuth()
		return ok && user == r.opts.BasicAuth.Username && pass == r.opts.BasicAuth.Password
	case r.opts.Token != nil:
		token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return false
		}
		if r.opts.Token.RegistryToken != "" && token == r.opts.Token.RegistryToken {
			return true
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.tokens[token]
	}
	return true
}

// challenge answers 401 with the scheme the client must use.
func (r *Registry) challenge(w http.ResponseWriter, req *http.Request) {
	if r.opts.Token != nil {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="testregistry"`, r.addr))
	} else {
		w.Header().Set("WWW-Authenticate", `Basic realm="testregistry"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
}

// serveToken exchanges the identity (refresh) token for an access token.
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	if err := req.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.Method != http.MethodPost || req.PostForm.Get("grant_type") != "refresh_token" ||
		req.PostForm.Get("refresh_token") != r.opts.Token.IdentityToken || r.opts.Token.IdentityToken == "" {
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"invalid refresh token"}]}`, http.StatusUnauthorized)
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	token := "access-" + hex.EncodeToString(b)
	r.mu.Lock()
	r.tokens[token] = true
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token": token, "expires_in": 300})
}

// adminHeader marks the registry's own pushes, which bypass authentication
// and are not counted.
const adminHeader = "X-Testregistry-Admin"

// adminTransport adds the registry's admin secret to every request.
type adminTransport struct{ secret string }

func (t adminTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(adminHeader, t.secret)
	return http.DefaultTransport.RoundTrip(req)
}

func (r *Registry) reference(ref string) (name.Reference, error) {
	if !strings.HasPrefix(ref, r.addr+"/") {
		ref = r.addr + "/" + ref
	}
	return name.ParseReference(ref, name.Insecure)
}

// Push stores img as ref ("repo:tag", or with the registry address in
// front) and returns the full reference and the manifest digest.
func (r *Registry) Push(ctx context.Context, ref string, img v1.Image) (string, string, error) {
	nref, err := r.reference(ref)
	if err != nil {
		return "", "", err
	}
	if err := remote.Write(nref, img, remote.WithContext(ctx), remote.WithTransport(adminTransport{r.secret})); err != nil {
		return "", "", fmt.Errorf("push %s: %w", nref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", "", err
	}
	return nref.String(), d.String(), nil
}

// PushIndex stores a multi-platform index as ref and returns the full
// reference and the index digest.
func (r *Registry) PushIndex(ctx context.Context, ref string, idx v1.ImageIndex) (string, string, error) {
	nref, err := r.reference(ref)
	if err != nil {
		return "", "", err
	}
	if err := remote.WriteIndex(nref, idx, remote.WithContext(ctx), remote.WithTransport(adminTransport{r.secret})); err != nil {
		return "", "", fmt.Errorf("push %s: %w", nref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", "", err
	}
	return nref.String(), d.String(), nil
}

// errNoBusybox reports a host without Debian's busybox-static.
var errNoBusybox = errors.New("/bin/busybox (Debian package busybox-static) is missing")
