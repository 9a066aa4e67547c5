package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	portalv1 "github.com/heraldhq/herald/gen/herald/portal/v1"
	"github.com/heraldhq/herald/store"
)

// Branding is how the emails sent on an agency's behalf look (white label).
type Branding struct {
	// Name is shown in the emails; empty: the agency's name.
	Name string
	// LogoURL is an https URL of the agency's logo; empty: no logo.
	LogoURL string
	// PrimaryColor is "#rrggbb"; empty: Herald's.
	PrimaryColor string
	// SenderName is the emails' sender; empty: Name.
	SenderName string
	// HidePoweredBy drops the "Powered by Herald" line.
	HidePoweredBy bool
	// AgencyName is the agency's own name, what an empty Name stands for.
	AgencyName string
	UpdatedAt  time.Time
}

var brandColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// validate checks every field and trims them; the error names each bad one.
func (b *Branding) validate() error {
	var v errs.Fields
	optional := func(field string, s *string, max int) {
		*s = strings.TrimSpace(*s)
		if *s != "" {
			*s = checkName(&v, field, *s, max)
		}
	}
	optional("name", &b.Name, 100)
	optional("sender_name", &b.SenderName, 100)
	if strings.ContainsAny(b.SenderName, `<>@"`) {
		v.Add("sender_name", "must be a plain name, without an email address or quotes")
	}
	b.LogoURL = strings.TrimSpace(b.LogoURL)
	if b.LogoURL != "" {
		u, err := url.Parse(b.LogoURL)
		switch {
		case len(b.LogoURL) > 2000:
			v.Add("logo_url", "must be at most 2000 characters")
		case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil:
			// Mail clients block plain http images, and a data: or
			// javascript: URL is no image.
			v.Add("logo_url", "must be an https:// address of an image")
		}
	}
	b.PrimaryColor = strings.TrimSpace(b.PrimaryColor)
	if b.PrimaryColor != "" && !brandColor.MatchString(b.PrimaryColor) {
		v.Add("primary_color", "must be a colour like #1a73e8")
	}
	return v.Err()
}

// GetBranding returns the agency's branding. Owners only.
func (s *Service) GetBranding(ctx context.Context, p *Principal) (Branding, error) {
	if !p.Owner {
		return Branding{}, errs.E(errs.Forbidden, "only the agency's owners manage its branding")
	}
	return s.branding(ctx, s.db, p.AgencyID)
}

func (s *Service) branding(ctx context.Context, q store.Querier, agencyID string) (Branding, error) {
	var b Branding
	var updated *int64
	var name, logo, color, sender *string
	var hide *bool
	err := q.QueryRow(ctx, `SELECT a.name, b.name, b.logo_url, b.primary_color, b.sender_name, b.hide_powered_by, b.updated_at
		FROM portal_agencies a LEFT JOIN portal_branding b ON b.agency_id = a.id WHERE a.id = ?`, agencyID).
		Scan(&b.AgencyName, &name, &logo, &color, &sender, &hide, &updated)
	if errors.Is(err, store.ErrNoRows) {
		return Branding{}, errs.E(errs.NotFound, "agency not found")
	}
	if err != nil {
		return Branding{}, err
	}
	if updated != nil {
		b.Name, b.LogoURL, b.PrimaryColor, b.SenderName, b.HidePoweredBy = *name, *logo, *color, *sender, *hide
		b.UpdatedAt = store.FromMicros(*updated)
	}
	return b, nil
}

// UpdateBranding replaces the agency's branding. Owners only.
func (s *Service) UpdateBranding(ctx context.Context, p *Principal, in Branding) (Branding, error) {
	if !p.Owner {
		return Branding{}, errs.E(errs.Forbidden, "only the agency's owners manage its branding")
	}
	if err := in.validate(); err != nil {
		return Branding{}, err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO portal_branding (agency_id, name, logo_url, primary_color, sender_name, hide_powered_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agency_id) DO UPDATE SET name = excluded.name, logo_url = excluded.logo_url,
		primary_color = excluded.primary_color, sender_name = excluded.sender_name, hide_powered_by = excluded.hide_powered_by,
		updated_at = excluded.updated_at`,
		p.AgencyID, in.Name, in.LogoURL, in.PrimaryColor, in.SenderName, in.HidePoweredBy, store.ToMicros(time.Now()))
	if err != nil {
		return Branding{}, err
	}
	return s.branding(ctx, s.db, p.AgencyID)
}

// brandingProto is the agency's branding as Notification gets it with the
// recipients: the name always filled in.
func (s *Service) brandingProto(ctx context.Context, agencyID string) (*portalv1.Branding, error) {
	b, err := s.branding(ctx, s.db, agencyID)
	if err != nil {
		return nil, err
	}
	name := b.Name
	if name == "" {
		name = b.AgencyName
	}
	return &portalv1.Branding{Name: name, LogoUrl: b.LogoURL, PrimaryColor: b.PrimaryColor, SenderName: b.SenderName, HidePoweredBy: b.HidePoweredBy}, nil
}

type brandingJSON struct {
	Name          string `json:"name"`
	LogoURL       string `json:"logo_url"`
	PrimaryColor  string `json:"primary_color"`
	SenderName    string `json:"sender_name"`
	HidePoweredBy bool   `json:"hide_powered_by"`
	AgencyName    string `json:"agency_name,omitempty"`
	UpdatedAt     string `json:"updated_at,omitempty"`
}

func brandingView(b Branding) brandingJSON {
	out := brandingJSON{Name: b.Name, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor, SenderName: b.SenderName,
		HidePoweredBy: b.HidePoweredBy, AgencyName: b.AgencyName}
	if !b.UpdatedAt.IsZero() {
		out.UpdatedAt = ts(b.UpdatedAt)
	}
	return out
}

// GET /api/v1/agency/branding -> branding (owners only)
func (s *Service) apiGetBranding(w http.ResponseWriter, r *http.Request, p *Principal) error {
	b, err := s.GetBranding(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, brandingView(b))
}

// PUT /api/v1/agency/branding {name, logo_url, primary_color, sender_name,
// hide_powered_by} -> branding (owners only); fields left out are cleared.
func (s *Service) apiPutBranding(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req brandingJSON
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	b, err := s.UpdateBranding(r.Context(), p, Branding{Name: req.Name, LogoURL: req.LogoURL, PrimaryColor: req.PrimaryColor,
		SenderName: req.SenderName, HidePoweredBy: req.HidePoweredBy})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, brandingView(b))
}
