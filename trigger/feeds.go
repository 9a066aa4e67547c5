package trigger

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// RSS/Atom feeds: the contract is in trigger.proto; the implementation
// replaces these placeholders.
var errFeedsNotYet = connect.NewError(connect.CodeUnimplemented, errors.New("feeds are not implemented yet"))

func (s *Service) PutFeed(context.Context, *triggerv1.PutFeedRequest) (*triggerv1.PutFeedResponse, error) {
	return nil, errFeedsNotYet
}

func (s *Service) GetFeed(context.Context, *triggerv1.GetFeedRequest) (*triggerv1.GetFeedResponse, error) {
	return nil, errFeedsNotYet
}

func (s *Service) ListFeeds(context.Context, *triggerv1.ListFeedsRequest) (*triggerv1.ListFeedsResponse, error) {
	return nil, errFeedsNotYet
}

func (s *Service) DeleteFeed(context.Context, *triggerv1.DeleteFeedRequest) (*triggerv1.DeleteFeedResponse, error) {
	return nil, errFeedsNotYet
}
