package portal

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// TestOpenAPIDocument checks the served document against the OpenAPI 3.1
// schema and that its paths and methods are exactly the router's /api/v1
// routes, both ways: a route added without documenting it, or documented
// and then removed, fails here.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)
	res := c.must(http.StatusOK, c.do("GET", "/api/v1/openapi.json", nil))
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}

	if problems := openAPIProblems(res.Body); len(problems) > 0 {
		t.Fatalf("invalid document:\n%s", strings.Join(problems, "\n"))
	}

	var parsed struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(res.Body, &parsed); err != nil {
		t.Fatal(err)
	}
	var documented, routed []string
	for path, ops := range parsed.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range b.svc.registeredRoutes() {
		if strings.HasPrefix(r.Path, "/api/v1/") {
			routed = append(routed, r.Method+" "+r.Path)
		}
	}
	slices.Sort(documented)
	slices.Sort(routed)
	for _, r := range routed {
		if _, ok := slices.BinarySearch(documented, r); !ok {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if _, ok := slices.BinarySearch(routed, d); !ok {
			t.Errorf("openapi.json documents %s, which no route serves", d)
		}
	}
	for _, name := range []string{"Error", "Workspace", "Member", "Invite", "Account", "Media", "Post", "Role"} {
		if parsed.Components.Schemas[name] == nil {
			t.Errorf("no schema %s", name)
		}
	}
}

// TestOpenAPIErrorSchemaMatches checks that a real error body has the
// shape the document gives it.
func TestOpenAPIErrorSchemaMatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.firstAgency(t)
	res := a.owner.must(http.StatusUnprocessableEntity, a.owner.do("POST", "/api/v1/workspaces/"+a.workspace+"/invites",
		map[string]string{"email": "x@example.com", "role": "emperor"}))
	var body struct {
		Error struct {
			Kind    string            `json:"kind"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Kind == "" || body.Error.Message == "" || body.Error.Fields["role"] == "" {
		t.Fatalf("error body %s", res.Body)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Required   []string                   `json:"required"`
							Properties map[string]json.RawMessage `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	e := doc.Components.Schemas.Error.Properties.Error
	for _, f := range []string{"kind", "message", "fields"} {
		if e.Properties[f] == nil {
			t.Errorf("Error schema has no %s", f)
		}
	}
}

// openAPIProblems validates an OpenAPI 3.1 document against the
// specification's schema.
func openAPIProblems(js []byte) []string {
	doc, err := libopenapi.NewDocument(js)
	if err != nil {
		return []string{err.Error()}
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		return []string{"openapi version " + v + ", want 3.1.0"}
	}
	if _, err := doc.BuildV3Model(); err != nil {
		return []string{"building the model: " + err.Error()}
	}
	v, errList := validator.NewValidator(doc)
	var out []string
	for _, e := range errList {
		out = append(out, "validator: "+e.Error())
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			out = append(out, e.Message+": "+e.Reason)
			for _, se := range e.SchemaValidationErrors {
				out = append(out, "  at "+se.FieldPath+": "+se.Reason)
			}
		}
	}
	return out
}

// TestOpenAPIValidationCatchesMistakes makes sure the validation above
// can fail: a document with a malformed operation is refused.
func TestOpenAPIValidationCatchesMistakes(t *testing.T) {
	t.Parallel()
	bad := []byte(`{"openapi": "3.1.0", "info": {"title": "x", "version": "1"},
		"paths": {"/x": {"get": {"responses": {"200": {"content": "not an object"}}}}}}`)
	if len(openAPIProblems(bad)) == 0 {
		t.Fatal("a malformed document passed validation")
	}
	if p := openAPIProblems(openAPIDoc); len(p) > 0 {
		t.Fatalf("the embedded document is invalid: %v", p)
	}
}
