package portal

import (
	"net/http"

	"github.com/heraldhq/herald/errs"
)

type brandingPageView struct {
	chrome
	Branding Branding
	Form     *form
}

// GET /settings/branding (owners only)
func (u *webUI) brandingPage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	b, err := u.s.GetBranding(r.Context(), p)
	if err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "branding", brandingPageView{chrome: u.chrome(w, r, p, "Email branding", "branding"), Branding: b})
	return nil
}

// POST /settings/branding (owners only)
func (u *webUI) saveBranding(w http.ResponseWriter, r *http.Request, p *Principal) error {
	in := Branding{Name: r.PostFormValue("name"), LogoURL: r.PostFormValue("logo_url"), PrimaryColor: r.PostFormValue("primary_color"),
		SenderName: r.PostFormValue("sender_name"), HidePoweredBy: r.PostFormValue("hide_powered_by") == "on"}
	if _, err := u.s.UpdateBranding(r.Context(), p, in); err != nil {
		if errs.Is(err, errs.Forbidden) {
			return err
		}
		f := newForm(r)
		if err := f.fail(err, "name", "logo_url", "primary_color", "sender_name"); err != nil {
			return err
		}
		cur, _ := u.s.GetBranding(r.Context(), p)
		in.AgencyName = cur.AgencyName
		u.render(w, r, refusedStatus(w, err), "branding", brandingPageView{chrome: u.chrome(w, r, p, "Email branding", "branding"), Branding: in, Form: f})
		return nil
	}
	u.setFlash(w, flash{Kind: "success", Message: "Your email branding is saved."})
	redirect(w, r, "/settings/branding")
	return nil
}
