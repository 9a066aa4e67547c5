package trigger

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	triggerv1 "github.com/heraldhq/herald/gen/herald/trigger/v1"
)

// Evergreen queues: the contract is in trigger.proto; the implementation
// replaces these placeholders.
var errQueuesNotYet = connect.NewError(connect.CodeUnimplemented, errors.New("evergreen queues are not implemented yet"))

func (s *Service) PutQueue(context.Context, *triggerv1.PutQueueRequest) (*triggerv1.PutQueueResponse, error) {
	return nil, errQueuesNotYet
}

func (s *Service) GetQueue(context.Context, *triggerv1.GetQueueRequest) (*triggerv1.GetQueueResponse, error) {
	return nil, errQueuesNotYet
}

func (s *Service) ListQueues(context.Context, *triggerv1.ListQueuesRequest) (*triggerv1.ListQueuesResponse, error) {
	return nil, errQueuesNotYet
}

func (s *Service) DeleteQueue(context.Context, *triggerv1.DeleteQueueRequest) (*triggerv1.DeleteQueueResponse, error) {
	return nil, errQueuesNotYet
}

func (s *Service) PauseQueue(context.Context, *triggerv1.PauseQueueRequest) (*triggerv1.PauseQueueResponse, error) {
	return nil, errQueuesNotYet
}

func (s *Service) PauseAccount(context.Context, *triggerv1.PauseAccountRequest) (*triggerv1.PauseAccountResponse, error) {
	return nil, errQueuesNotYet
}
