package portal

import (
	"context"

	"github.com/heraldhq/herald/errs"
	notificationv1 "github.com/heraldhq/herald/gen/herald/notification/v1"
)

// The preference calls of fakeNotification keep one user's choices in
// memory, which is all Portal's pages and API pass through.

func (f *fakeNotification) GetPreferences(_ context.Context, req *notificationv1.GetPreferencesRequest) (*notificationv1.GetPreferencesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prefAsks = append(f.prefAsks, req.GetTenantId()+"/"+req.GetUserId())
	return &notificationv1.GetPreferencesResponse{Kinds: f.kindPrefs(), Digest: f.digest}, nil
}

func (f *fakeNotification) kindPrefs() []*notificationv1.KindPreference {
	out := []*notificationv1.KindPreference{}
	for _, k := range []string{"post.failed", "post.published"} {
		c, ok := f.prefs[k]
		if !ok {
			c = "both"
		}
		out = append(out, &notificationv1.KindPreference{Kind: k, Channel: c, IsDefault: !ok})
	}
	return out
}

func (f *fakeNotification) UpdatePreferences(_ context.Context, req *notificationv1.UpdatePreferencesRequest) (*notificationv1.UpdatePreferencesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prefAsks = append(f.prefAsks, req.GetTenantId()+"/"+req.GetUserId())
	if f.prefs == nil {
		f.prefs = map[string]string{}
	}
	for i, k := range req.GetKinds() {
		if k.GetChannel() != "in_app" && k.GetChannel() != "email" && k.GetChannel() != "both" && k.GetChannel() != "none" {
			return nil, errs.Fields{"kinds[" + string(rune('0'+i)) + "].channel": "must be one of in_app, email, both, none"}.Err()
		}
		f.prefs[k.GetKind()] = k.GetChannel()
	}
	if req.GetDigest() != nil {
		f.digest = req.GetDigest()
	}
	return &notificationv1.UpdatePreferencesResponse{Kinds: f.kindPrefs(), Digest: f.digest}, nil
}

func (f *fakeNotification) Unsubscribe(_ context.Context, req *notificationv1.UnsubscribeRequest) (*notificationv1.UnsubscribeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetToken() != "good-token" {
		return nil, errs.Fields{"token": "is not a valid unsubscribe link"}.Err()
	}
	f.unsubscribed++
	return &notificationv1.UnsubscribeResponse{TenantId: "agency", UserId: "user", Category: "post.failed"}, nil
}
