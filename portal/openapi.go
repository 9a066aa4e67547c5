package portal

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes the JSON API under /api/v1/. It is written by hand;
// TestOpenAPIMatchesRoutes keeps its paths equal to the router's.
//
//go:embed openapi.json
var openAPIDoc []byte

// GET /api/v1/openapi.json -> the OpenAPI 3.1 document of this API.
func (s *Service) apiOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(openAPIDoc)
	return err
}
