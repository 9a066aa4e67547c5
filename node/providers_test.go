package node

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/mediaurl"
)

// Only the networks whose app is configured get a connect flow, and
// networks.simnet_url sends their authorization to the simnet's prefixes,
// with Herald's callback under base_url.
func TestProvidersOAuthFlows(t *testing.T) {
	t.Parallel()
	_, flows := providers(http.DefaultClient, "https://herald.example", config.Networks{}, testSigner(t))
	if len(flows) != 0 {
		t.Fatalf("flows without apps: %v", flows)
	}
	cfg := config.Networks{
		SimnetURL: "http://127.0.0.1:9999/",
		X:         config.OAuthClient{ClientID: "xid"},
		LinkedIn:  config.OAuthClient{ClientID: "liid", ClientSecret: "lisecret"},
		Meta:      config.MetaApp{AppID: "1", AppSecret: "metasecret"},
		Threads:   config.MetaApp{AppID: "2", AppSecret: "thsecret"},
	}
	provs, flows := providers(http.DefaultClient, "https://herald.example/", cfg, testSigner(t))
	want := map[string]string{
		"x":         "http://127.0.0.1:9999/x/i/oauth2/authorize",
		"linkedin":  "http://127.0.0.1:9999/linkedin/oauth/v2/authorization",
		"facebook":  "http://127.0.0.1:9999/facebook/v24.0/dialog/oauth",
		"instagram": "http://127.0.0.1:9999/facebook/v24.0/dialog/oauth",
		"threads":   "http://127.0.0.1:9999/threads/oauth/authorize",
	}
	if len(flows) != len(want) {
		t.Fatalf("flows = %v", flows)
	}
	for network, prefix := range want {
		if provs[network] == nil {
			t.Errorf("no %s provider", network)
		}
		f := flows[network]
		if f == nil {
			t.Errorf("no %s flow", network)
			continue
		}
		raw, err := f.AuthorizeURL("st4te", strings.Repeat("v", 43))
		if err != nil {
			t.Errorf("%s: %v", network, err)
			continue
		}
		u, _ := url.Parse(raw)
		if !strings.HasPrefix(raw, prefix+"?") || u.Query().Get("redirect_uri") != "https://herald.example/oauth/"+network+"/callback" ||
			u.Query().Get("state") != "st4te" || strings.Contains(raw, "secret") {
			t.Errorf("%s authorize URL %s", network, raw)
		}
	}
}

func testSigner(t *testing.T) *mediaurl.Signer {
	t.Helper()
	s, err := mediaurl.New("https://herald.example", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
