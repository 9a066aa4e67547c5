package portal

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/errs"
	"github.com/heraldhq/herald/provider"
)

// The web UI's pages. Each handler reads a form, calls one domain method
// and either redirects with a flash message or shows the form again with
// its problems; none of them decides anything the domain does not.

// --- first run, sign-in, sign-out, invitations ---

type setupView struct {
	chrome
	Form *form
}

type loginView struct {
	chrome
	Form *form
	Next string
}

type inviteView struct {
	chrome
	Form  *form
	Token string
}

// GET / : the first-run setup while no agency exists, then the dashboard
// of a signed-in user, or the sign-in page.
func (u *webUI) home(w http.ResponseWriter, r *http.Request) error {
	needed, err := u.s.SetupNeeded(r.Context())
	if err != nil {
		return err
	}
	if needed {
		u.render(w, r, http.StatusOK, "setup", setupView{chrome: u.chrome(w, r, nil, "Welcome to Herald", "")})
		return nil
	}
	p, err := u.principal(r)
	if errs.Is(err, errs.Unauthenticated) {
		redirect(w, r, "/login")
		return nil
	}
	if err != nil {
		return err
	}
	return u.dashboard(w, r, p, nil, http.StatusOK)
}

// POST /setup : creates the agency and its owner, and signs the owner in.
func (u *webUI) setup(w http.ResponseWriter, r *http.Request) error {
	in := AgencyInput{AgencyName: r.PostFormValue("agency_name"), Name: r.PostFormValue("name"),
		Email: r.PostFormValue("email"), Password: r.PostFormValue("password")}
	sess, err := u.s.Setup(r.Context(), in)
	if errs.Is(err, errs.Conflict) && len(fieldsOf(err)) == 0 {
		u.setFlash(w, flash{Kind: "error", Message: "Herald is already set up. Sign in with your account."})
		redirect(w, r, "/login")
		return nil
	}
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "agency_name", "name", "email", "password"); err != nil {
			return err
		}
		u.render(w, r, refusedStatus(w, err), "setup", setupView{chrome: u.chrome(w, r, nil, "Welcome to Herald", ""), Form: f})
		return nil
	}
	u.s.SetSessionCookie(w, sess)
	u.setFlash(w, flash{Kind: "success", Message: "Welcome to Herald, " + sess.Principal.Name + ". Create a workspace for your first client to get started."})
	redirect(w, r, "/")
	return nil
}

// GET /login
func (u *webUI) loginPage(w http.ResponseWriter, r *http.Request) error {
	if needed, err := u.s.SetupNeeded(r.Context()); err != nil {
		return err
	} else if needed {
		redirect(w, r, "/")
		return nil
	}
	next := safeNext(r.URL.Query().Get("next"))
	if _, err := u.s.Authenticate(r); err == nil {
		redirect(w, r, next)
		return nil
	}
	u.render(w, r, http.StatusOK, "login", loginView{chrome: u.chrome(w, r, nil, "Sign in", ""), Next: next})
	return nil
}

// POST /login : a new session, the old one (if any) ended.
func (u *webUI) login(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	sess, err := u.s.Login(r.Context(), LoginInput{Email: r.PostFormValue("email"), Password: r.PostFormValue("password"),
		ClientIP: u.s.clientIP(r), PreviousToken: u.s.previousToken(r)})
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "email", "password"); err != nil {
			return err
		}
		u.render(w, r, refusedStatus(w, err), "login", loginView{chrome: u.chrome(w, r, nil, "Sign in", ""), Form: f, Next: next})
		return nil
	}
	u.s.SetSessionCookie(w, sess)
	redirect(w, r, next)
	return nil
}

// POST /logout
func (u *webUI) logout(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := u.s.Logout(r.Context(), p); err != nil {
		return err
	}
	u.s.ClearSessionCookie(w)
	u.setFlash(w, flash{Kind: "success", Message: "You have signed out."})
	redirect(w, r, "/login")
	return nil
}

// GET /invites/{token}
func (u *webUI) invitePage(w http.ResponseWriter, r *http.Request) error {
	u.render(w, r, http.StatusOK, "invite", inviteView{chrome: u.chrome(w, r, nil, "Join your team", ""), Token: r.PathValue("token")})
	return nil
}

// POST /invites/{token} : creates the user (or adds the role to an existing
// one) and signs them in.
func (u *webUI) acceptInvite(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	sess, err := u.s.AcceptInvite(r.Context(), token, AcceptInput{Name: r.PostFormValue("name"), Password: r.PostFormValue("password"),
		PreviousToken: u.s.previousToken(r)})
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "name", "password"); err != nil {
			return err
		}
		u.render(w, r, refusedStatus(w, err), "invite", inviteView{chrome: u.chrome(w, r, nil, "Join your team", ""), Form: f, Token: token})
		return nil
	}
	u.s.SetSessionCookie(w, sess)
	u.setFlash(w, flash{Kind: "success", Message: "Welcome, " + sess.Principal.Name + ". You have joined the team."})
	redirect(w, r, "/")
	return nil
}

// --- dashboard ---

type dashboardView struct {
	chrome
	Cards     []workspaceCard
	CanCreate bool
	Form      *form
	Zones     []zoneGroup
}

// workspaceCard is a workspace with what is in it.
type workspaceCard struct {
	Workspace
	// Counts are left out where the role may not see them.
	Accounts, Media         int
	ShowAccounts, ShowMedia bool
	// From the agency overview: what goes out today in the workspace's
	// zone, what waits for approval, failed posts and accounts to
	// reconnect.
	ScheduledToday, AwaitingApproval, Failed, NeedsReconnect int
	Offset                                                   string
}

func (u *webUI) dashboard(w http.ResponseWriter, r *http.Request, p *Principal, f *form, status int) error {
	ctx := r.Context()
	c := u.chrome(w, r, p, "Workspaces", "dashboard")
	v := dashboardView{CanCreate: p.Owner, Form: f, Zones: u.zones}
	list, err := u.s.Overview(ctx, p, time.Now())
	if err != nil {
		return err
	}
	summaries := map[string]WorkspaceSummary{}
	for _, sum := range list {
		summaries[sum.ID] = sum
	}
	for _, ws := range c.Workspaces {
		card := workspaceCard{Workspace: ws}
		if loc, err := time.LoadLocation(ws.Timezone); err == nil {
			card.Offset = utcOffset(time.Now().In(loc))
		}
		if ws.Role.can(actViewAccounts) {
			list, err := u.s.ListAccounts(ctx, p, ws.ID)
			if err != nil {
				return err
			}
			card.Accounts, card.ShowAccounts = len(list), true
		}
		if ws.Role.can(actMedia) {
			list, err := u.s.ListMedia(ctx, p, ws.ID)
			if err != nil {
				return err
			}
			card.Media, card.ShowMedia = len(list), true
		}
		if sum, ok := summaries[ws.ID]; ok {
			card.ScheduledToday, card.AwaitingApproval, card.Failed, card.NeedsReconnect = sum.ScheduledToday, sum.AwaitingApproval, sum.Failed, sum.NeedsReconnect
		}
		v.Cards = append(v.Cards, card)
	}
	v.chrome = c
	u.render(w, r, status, "dashboard", v)
	return nil
}

// POST /workspaces
func (u *webUI) createWorkspace(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ws, err := u.s.CreateWorkspace(r.Context(), p, WorkspaceInput{Name: r.PostFormValue("name"), Timezone: r.PostFormValue("timezone")})
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "name", "timezone"); err != nil {
			return err
		}
		return u.dashboard(w, r, p, f, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Workspace “" + ws.Name + "” created. Connect a social account to start posting."})
	redirect(w, r, workspacePath(ws.ID))
	return nil
}

func workspacePath(id string) string { return "/workspaces/" + url.PathEscape(id) }

// --- a workspace ---

type workspacePageView struct {
	chrome
	WS       Workspace
	LocalNow string
	Offset   string
	// What the principal's role allows here.
	CanAccounts, CanMedia, CanWrite, CanTeam, CanViewTeam bool

	Accounts []Account
	Media    []Media
	Posts    postsView
	Members  []Member
	Roles    []Role

	// TextLimit is the text limit of the connected networks (0: unknown).
	TextLimit      int
	MaxUploadBytes int64
	// SuggestedTime pre-fills the composer: the next full hour, local.
	SuggestedTime string
	// ComposeWhen is the composer's schedule choice.
	ComposeWhen whenView

	Compose, Connect, Upload, Invite *form
	// ConnectForms are the form networks' connect forms.
	ConnectForms []connectFormView
	// OAuthNetworks are the networks connected through Herald's own app
	// on this server, each a button.
	OAuthNetworks []oauthNetworkView
}

// oauthNetworkView is one "Connect with ..." button.
type oauthNetworkView struct{ Network, Label string }

// postsView is the list of posts, a fragment the page reloads when
// something changes.
type postsView struct {
	WorkspaceID string
	Items       []postItem
	CanWrite    bool
	CSRF        string
	// Live: a post is being published or due within minutes, so the page
	// checks for news often rather than now and then.
	Live bool
}

type postItem struct {
	Post
	Targets []targetItem
	// Repeat describes a recurring post's rule for people.
	Repeat  string
	Firings []firingItem
}

// firingItem is one firing of a recurring or queued post.
type firingItem struct {
	DueAt   time.Time
	Local   string
	Targets []targetItem
}

type targetItem struct {
	Target
	// Account names the account ("@bistro@social.example"), or the network
	// when the viewer may not see accounts.
	Account    string
	ProfileURL string
}

// liveWindow is how far ahead a scheduled post makes the list live.
const liveWindow = 2 * time.Minute

func (u *webUI) postsView(p *Principal, ws Workspace, posts []Post, accounts []Account) postsView {
	byID := make(map[string]Account, len(accounts))
	for _, a := range accounts {
		byID[a.ID] = a
	}
	now := time.Now()
	v := postsView{WorkspaceID: ws.ID, CanWrite: ws.Role.can(actWritePosts), CSRF: p.CSRFToken}
	for _, post := range posts {
		item := postItem{Post: post}
		target := func(t Target) targetItem {
			ti := targetItem{Target: t, Account: networkLabel(t.Network)}
			if a, ok := byID[t.AccountID]; ok {
				ti.Account, ti.ProfileURL = accountName(a), a.ProfileURL
			}
			return ti
		}
		for _, t := range post.Targets {
			item.Targets = append(item.Targets, target(t))
		}
		if post.Kind == KindRecurring {
			item.Repeat = describeRepeat(post.RRule)
		}
		loc, err := time.LoadLocation(post.Zone)
		if err != nil {
			loc = time.UTC
		}
		for _, f := range post.Firings {
			fi := firingItem{DueAt: f.DueAt, Local: formatWall(f.DueAt.In(loc))}
			for _, t := range f.Targets {
				fi.Targets = append(fi.Targets, target(t))
			}
			item.Firings = append(item.Firings, fi)
		}
		if post.Status == PostPublishing || (post.Status == PostScheduled && post.ScheduledAt.Before(now.Add(liveWindow))) {
			v.Live = true
		}
		v.Items = append(v.Items, item)
	}
	return v
}

// accountName is how an account is shown: its handle, and for Mastodon the
// full fediverse-style handle with its server. Other networks' handles are
// whole on their own (a Bluesky handle is a domain): their API's host is no
// part of them.
func accountName(a Account) string {
	h := strings.TrimPrefix(a.Handle, "@")
	if h == "" {
		h = a.RemoteID
	}
	if a.Network == "mastodon" && !strings.Contains(h, "@") {
		if u, err := url.Parse(a.InstanceURL); err == nil && u.Host != "" {
			h += "@" + u.Host
		}
	}
	return "@" + h
}

// accountShort is what an account's avatar shows initials of: its display
// name, or its user name without the server.
func accountShort(a Account) string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	h, _, _ := strings.Cut(strings.TrimPrefix(a.Handle, "@"), "@")
	return h
}

type workspaceForms struct {
	compose, connect, upload, invite *form
	// connectForm is a form network's refused connect form, for the
	// network connectNetwork.
	connectForm    *form
	connectNetwork string
}

// pagePosts is how many posts the workspace page lists, pageFirings how
// many firings of each recurring or queued post.
const (
	pagePosts   = 50
	pageFirings = 5
)

func (u *webUI) workspacePage(w http.ResponseWriter, r *http.Request, p *Principal, id string, forms workspaceForms, status int) error {
	ctx := r.Context()
	ws, err := u.s.GetWorkspace(ctx, p, id)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(ws.Timezone)
	if err != nil {
		return err
	}
	now := time.Now().In(loc)
	v := workspacePageView{WS: ws, LocalNow: now.Format("Mon 2 Jan, 15:04"), Offset: utcOffset(now),
		CanAccounts: ws.Role.can(actAccounts), CanMedia: ws.Role.can(actMedia), CanWrite: ws.Role.can(actWritePosts),
		CanTeam: ws.Role.can(actTeam), CanViewTeam: ws.Role.can(actViewTeam),
		Roles:          InviteRoles,
		MaxUploadBytes: u.s.cfg.MaxUploadBytes,
		SuggestedTime:  now.Truncate(time.Hour).Add(time.Hour).Format("2006-01-02T15:04"),
		Compose:        forms.compose, Connect: forms.connect, Upload: forms.upload, Invite: forms.invite,
	}
	if ws.Role.can(actViewAccounts) {
		if v.Accounts, err = u.s.ListAccounts(ctx, p, id); err != nil {
			return err
		}
	}
	if v.CanAccounts {
		v.ConnectForms = u.s.connectForms(forms.connectNetwork, forms.connectForm)
		for _, n := range slices.Sorted(maps.Keys(u.s.appOAuth)) {
			v.OAuthNetworks = append(v.OAuthNetworks, oauthNetworkView{Network: n, Label: networkLabel(n)})
		}
	}
	if v.CanMedia {
		if v.Media, err = u.s.ListMedia(ctx, p, id); err != nil {
			return err
		}
	}
	posts, err := u.s.ListPosts(ctx, p, id, pagePosts)
	if err != nil {
		return err
	}
	if err := u.s.attachFirings(ctx, p.AgencyID, posts, pageFirings); err != nil {
		return err
	}
	v.Posts = u.postsView(p, ws, posts, v.Accounts)
	v.ComposeWhen = u.whenView(ctx, p, ws, forms.compose, now, "schedule", true)
	if v.CanViewTeam {
		if v.Members, err = u.s.ListMembers(ctx, p, id); err != nil {
			return err
		}
	}
	if v.CanWrite {
		seen := map[string]bool{}
		var networks []string
		for _, a := range v.Accounts {
			if !seen[a.Network] {
				seen[a.Network] = true
				networks = append(networks, a.Network)
			}
		}
		v.TextLimit = u.textLimit(ctx, networks)
	}
	v.chrome = u.chrome(w, r, p, ws.Name, "workspace")
	v.Current = ws.ID
	// The OAuth callback comes back here with its outcome in the query.
	if q := r.URL.Query(); r.Method == http.MethodGet && v.Flash == nil {
		switch {
		case q.Get("oauth_error") != "":
			v.Flash = &flash{Kind: "error", Message: sentence("The account was not connected: " + q.Get("oauth_error"))}
		case q.Get("connected") != "":
			msg := "The account is connected."
			for _, a := range v.Accounts {
				if a.ID == q.Get("connected") {
					msg = accountName(a) + " is connected. You can now schedule posts to it."
				}
			}
			v.Flash = &flash{Kind: "success", Message: msg}
		}
	}
	u.render(w, r, status, "workspace", v)
	return nil
}

// GET /workspaces/{id}
func (u *webUI) workspace(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return u.workspacePage(w, r, p, r.PathValue("id"), workspaceForms{}, http.StatusOK)
}

// GET /workspaces/{id}/posts : the post list alone, for the page's script.
func (u *webUI) postsFragment(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ctx := r.Context()
	ws, err := u.s.GetWorkspace(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	var accounts []Account
	if ws.Role.can(actViewAccounts) {
		if accounts, err = u.s.ListAccounts(ctx, p, ws.ID); err != nil {
			return err
		}
	}
	posts, err := u.s.ListPosts(ctx, p, ws.ID, pagePosts)
	if err != nil {
		return err
	}
	if err := u.s.attachFirings(ctx, p.AgencyID, posts, pageFirings); err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "posts_fragment", u.postsView(p, ws, posts, accounts))
	return nil
}

// GET /workspaces/{id}/posts/{post} : where notifications link to; the
// post is shown in its workspace's list.
func (u *webUI) postLink(w http.ResponseWriter, r *http.Request, p *Principal) error {
	post, err := u.s.GetPost(r.Context(), p, r.PathValue("post"))
	if err != nil {
		return err
	}
	redirect(w, r, workspacePath(post.WorkspaceID)+"#post-"+url.PathEscape(post.ID))
	return nil
}

// GET /workspaces/{id}/accounts/{account} : where reconnect notices link to.
func (u *webUI) accountLink(w http.ResponseWriter, r *http.Request, p *Principal) error {
	a, err := u.s.GetAccount(r.Context(), p, r.PathValue("account"))
	if err != nil {
		return err
	}
	redirect(w, r, workspacePath(a.WorkspaceID)+"#account-"+url.PathEscape(a.ID))
	return nil
}

// POST /workspaces/{id}/posts
func (u *webUI) createPost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	ws, err := u.s.GetWorkspace(r.Context(), p, id)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(ws.Timezone)
	if err != nil {
		return err
	}
	var formErrs errs.Fields
	when := formWhen(r, &formErrs, loc)
	in := PostInput{Text: r.PostFormValue("text"), AccountIDs: r.PostForm["account_ids"], MediaIDs: r.PostForm["media_ids"],
		PublishNow: when.PublishNow, Repeat: when.Repeat, Evergreen: when.Evergreen, Draft: when.Draft,
		Variants: formVariants(r), UTM: formUTM(r)}
	if when.ScheduledAt != nil {
		in.ScheduledAt = *when.ScheduledAt
	}
	if when.QueueID != nil {
		in.QueueID = *when.QueueID
	}
	if when.SkipIfLaterThan != nil {
		in.SkipIfLaterThan = *when.SkipIfLaterThan
	}
	in.Labels = splitLabels(r.PostFormValue("labels"))
	var post Post
	err = formErrs.Err()
	if err == nil {
		post, err = u.s.CreatePost(r.Context(), p, id, in)
	}
	if err != nil {
		f := newForm(r)
		err, variantInputs := variantFormErrors(err)
		if err := f.fail(renameFields(err, formScheduleFields), append(variantInputs, composerInputs...)...); err != nil {
			return err
		}
		if in.ScheduledAt == "" && when.ScheduledAt != nil && f.Errors["scheduled_at"] != "" {
			// The domain's wording names the API's field; say it in the form's terms.
			f.Errors["scheduled_at"] = "Choose a date and time, or Publish now."
		}
		return u.workspacePage(w, r, p, id, workspaceForms{compose: f}, refusedStatus(w, err))
	}
	var msg string
	switch {
	case post.Status == PostPendingApproval:
		msg = pendingMessage(post)
	case in.PublishNow:
		msg = "Your post is being published now."
	case post.Kind == KindDraft:
		msg = "Draft saved. Schedule it when it is ready."
	case post.Kind == KindRecurring:
		msg = describeRepeat(post.RRule) + ", first on " + wallLabel(post.LocalTime) + " (" + post.Zone + ")."
	case post.Kind == KindQueue:
		msg = "Added to the queue."
		if post.LocalTime != "" {
			msg = "Added to the queue: it goes out " + wallLabel(post.LocalTime) + " (" + post.Zone + ")."
		}
	default:
		msg = "Post scheduled for " + wallLabel(post.LocalTime) + " (" + post.Zone + ")."
	}
	u.setFlash(w, flash{Kind: "success", Message: msg})
	redirect(w, r, workspacePath(id)+"#post-"+url.PathEscape(post.ID))
	return nil
}

// composerInputs are the composer's inputs field errors can sit beside.
var composerInputs = []string{"text", "labels", "account_ids", "media_ids", "scheduled_at", "when", "repeat_rrule", "repeat_days",
	"repeat_count", "repeat_until", "repeat_skip_dates", "skip_late", "queue_id", "evergreen"}

// POST /workspaces/{id}/posts/{post}/delete
func (u *webUI) deletePost(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	if err := u.s.DeletePost(r.Context(), p, r.PathValue("post")); err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence("The post was not deleted: " + errs.PublicMessage(err))})
	} else {
		u.setFlash(w, flash{Kind: "success", Message: "The post was deleted."})
	}
	redirect(w, r, workspacePath(id)+"#posts")
	return nil
}

// POST /workspaces/{id}/accounts : connect with an access token.
func (u *webUI) connectAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	a, err := u.s.ConnectAccount(r.Context(), p, id, AccountInput{Network: formNetwork(r), InstanceURL: r.PostFormValue("instance_url"),
		AccessToken: r.PostFormValue("access_token")})
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "instance_url", "access_token"); err != nil {
			return err
		}
		if f.Errors["access_token"] != "" && strings.TrimSpace(r.PostFormValue("access_token")) == "" {
			f.Errors["access_token"] = "Paste an access token, or use Connect with OAuth instead."
		}
		return u.workspacePage(w, r, p, id, workspaceForms{connect: f}, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: accountName(a) + " is connected. You can now schedule posts to it."})
	redirect(w, r, workspacePath(id)+"#accounts")
	return nil
}

// POST /workspaces/{id}/accounts/form : connects an account of a network
// that takes a form (network and its fields).
func (u *webUI) connectFormAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	network := strings.TrimSpace(r.PostFormValue("network"))
	values := map[string]string{}
	var inputs, secrets []string
	if fc, ok := u.s.providers[network].(provider.FormConnector); ok {
		for _, f := range fc.ConnectFields() {
			values[f.Name] = r.PostFormValue(f.Name)
			inputs = append(inputs, f.Name)
			if f.Secret {
				secrets = append(secrets, f.Name)
			}
		}
	}
	a, err := u.s.ConnectWithForm(r.Context(), p, id, network, values)
	if err != nil {
		f := newForm(r)
		for _, name := range secrets {
			f.Values.Del(name)
		}
		if err := f.fail(err, inputs...); err != nil {
			return err
		}
		return u.workspacePage(w, r, p, id, workspaceForms{connectForm: f, connectNetwork: network}, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: accountName(a) + " is connected. You can now schedule posts to it."})
	redirect(w, r, workspacePath(id)+"#accounts")
	return nil
}

// formNetwork is the network a connect form names; Mastodon unless said.
func formNetwork(r *http.Request) string {
	if n := strings.TrimSpace(r.PostFormValue("network")); n != "" {
		return n
	}
	return "mastodon"
}

// POST /workspaces/{id}/accounts/oauth : sends the browser to the
// account's server to grant access; it comes back to the OAuth callback.
func (u *webUI) startOAuth(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	target, err := u.s.StartOAuth(r.Context(), p, id, formNetwork(r), r.PostFormValue("instance_url"))
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "instance_url"); err != nil {
			return err
		}
		return u.workspacePage(w, r, p, id, workspaceForms{connect: f}, refusedStatus(w, err))
	}
	redirect(w, r, target)
	return nil
}

// POST /workspaces/{id}/accounts/{account}/delete
func (u *webUI) deleteAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	ctx := r.Context()
	a, err := u.s.GetAccount(ctx, p, r.PathValue("account"))
	if err == nil {
		err = u.s.DeleteAccount(ctx, p, a.ID)
	}
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return err
		}
		u.setFlash(w, flash{Kind: "error", Message: sentence("The account was not disconnected: " + errs.PublicMessage(err))})
	} else {
		u.setFlash(w, flash{Kind: "success", Message: accountName(a) + " is disconnected; Herald no longer holds its token."})
	}
	redirect(w, r, workspacePath(id)+"#accounts")
	return nil
}

// POST /workspaces/{id}/media (multipart)
func (u *webUI) uploadMedia(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	in := MediaInput{Description: r.PostFormValue("description")}
	file, hdr, ferr := r.FormFile("file")
	if ferr == nil {
		defer file.Close()
		in.FileName, in.Content = hdr.Filename, file
	}
	m, err := u.s.UploadMedia(r.Context(), p, id, in)
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "file", "description"); err != nil {
			return err
		}
		if ferr != nil && f.Errors["file"] != "" {
			f.Errors["file"] = "Choose an image to upload."
		}
		return u.workspacePage(w, r, p, id, workspaceForms{upload: f}, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Message: "Uploaded " + m.FileName + ". Tick it in the composer to attach it to a post."})
	redirect(w, r, workspacePath(id)+"#media")
	return nil
}

// POST /workspaces/{id}/invites : the invitation link is shown once.
func (u *webUI) createInvite(w http.ResponseWriter, r *http.Request, p *Principal) error {
	id := r.PathValue("id")
	inv, link, err := u.s.CreateInvite(r.Context(), p, id, InviteInput{Email: r.PostFormValue("email"), Role: Role(r.PostFormValue("role"))})
	if err != nil {
		f := newForm(r)
		if err := f.fail(err, "email", "role"); err != nil {
			return err
		}
		return u.workspacePage(w, r, p, id, workspaceForms{invite: f}, refusedStatus(w, err))
	}
	u.setFlash(w, flash{Kind: "success", Secret: link,
		Message: "Invitation for " + inv.Email + " (" + roleLabel(inv.Role) + ") created. Send them this link: it works once, until " +
			inv.ExpiresAt.Format("2 Jan 2006") + ", and is shown only now."})
	redirect(w, r, workspacePath(id)+"#team")
	return nil
}

// --- notifications ---

type notificationsView struct {
	chrome
	Items []notificationItem
	// Error says why the inbox could not be loaded.
	Error string
}

type notificationItem struct {
	ID, Kind, Title, Body, Link string
	CreatedAt                   time.Time
	Unread                      bool
}

// GET /notifications
func (u *webUI) notifications(w http.ResponseWriter, r *http.Request, p *Principal) error {
	v := notificationsView{}
	res, err := u.s.ListNotifications(r.Context(), p, 100, false)
	switch {
	case err == nil:
		for _, n := range res.GetNotifications() {
			item := notificationItem{ID: n.GetNotificationId(), Kind: n.GetKind(), Title: n.GetTitle(), Body: n.GetBody(),
				Link: localLink(n.GetLink()), Unread: n.GetReadAt() == nil}
			if n.GetCreatedAt() != nil {
				item.CreatedAt = n.GetCreatedAt().AsTime()
			}
			v.Items = append(v.Items, item)
		}
	case errs.KindOf(err) == errs.Internal:
		return err
	default:
		v.Error = sentence(errs.PublicMessage(err))
	}
	v.chrome = u.chrome(w, r, p, "Notifications", "notifications")
	u.render(w, r, http.StatusOK, "notifications", v)
	return nil
}

// localLink keeps a notification's link only if it is a path on this site.
func localLink(link string) string {
	if safeNext(link) != link || link == "/" {
		return ""
	}
	return link
}

// POST /notifications/read : marks every notification read.
func (u *webUI) markRead(w http.ResponseWriter, r *http.Request, p *Principal) error {
	n, err := u.s.MarkNotificationsRead(r.Context(), p, nil)
	switch {
	case err == nil && n == 0:
		u.setFlash(w, flash{Kind: "success", Message: "There was nothing unread."})
	case err == nil:
		u.setFlash(w, flash{Kind: "success", Message: "All notifications are marked as read."})
	case errs.KindOf(err) == errs.Internal:
		return err
	default:
		u.setFlash(w, flash{Kind: "error", Message: sentence(errs.PublicMessage(err))})
	}
	redirect(w, r, "/notifications")
	return nil
}

// fieldsOf returns an error's field problems, if any.
func fieldsOf(err error) map[string]string {
	if e, ok := errs.As(err); ok {
		return e.Fields
	}
	return nil
}
