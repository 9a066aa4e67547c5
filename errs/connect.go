package errs

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	errorsv1 "github.com/heraldhq/herald/gen/herald/errors/v1"
)

var kindToCode = map[Kind]connect.Code{
	Internal:        connect.CodeInternal,
	Invalid:         connect.CodeInvalidArgument,
	NotFound:        connect.CodeNotFound,
	Conflict:        connect.CodeAlreadyExists,
	Forbidden:       connect.CodePermissionDenied,
	Unauthenticated: connect.CodeUnauthenticated,
	Unavailable:     connect.CodeUnavailable,
	RateLimited:     connect.CodeResourceExhausted,
	TooLarge:        connect.CodeResourceExhausted,
}

var codeToKind = map[connect.Code]Kind{
	connect.CodeInvalidArgument:    Invalid,
	connect.CodeNotFound:           NotFound,
	connect.CodeAlreadyExists:      Conflict,
	connect.CodeAborted:            Conflict,
	connect.CodeFailedPrecondition: Conflict,
	connect.CodePermissionDenied:   Forbidden,
	connect.CodeUnauthenticated:    Unauthenticated,
	connect.CodeUnavailable:        Unavailable,
	connect.CodeDeadlineExceeded:   Unavailable,
	connect.CodeCanceled:           Unavailable,
	connect.CodeResourceExhausted:  RateLimited,
}

// ToConnect turns err into a Connect error carrying its kind and fields.
// Causes are not sent: they may hold internals.
func ToConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return connect.NewError(connect.CodeCanceled, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	k := KindOf(err)
	ce = connect.NewError(kindToCode[k], errors.New(PublicMessage(err)))
	d := &errorsv1.ErrorDetail{Kind: string(k)}
	if e, ok := As(err); ok {
		for f, m := range e.Fields {
			d.Fields = append(d.Fields, &errorsv1.FieldViolation{Field: f, Message: m})
		}
	}
	if detail, derr := connect.NewErrorDetail(d); derr == nil {
		ce.AddDetail(detail)
	}
	return ce
}

// FromConnect turns a Connect error back into a Herald error, so a remote
// call fails the way a method call would. Other errors pass through.
func FromConnect(err error) error {
	var ce *connect.Error
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	out := &Error{Kind: Internal, Message: ce.Message(), Err: err}
	if k, ok := codeToKind[ce.Code()]; ok {
		out.Kind = k
	}
	for _, d := range ce.Details() {
		v, verr := d.Value()
		if verr != nil {
			continue
		}
		if ed, ok := v.(*errorsv1.ErrorDetail); ok {
			if ed.Kind != "" {
				out.Kind = Kind(ed.Kind)
			}
			for _, f := range ed.Fields {
				if out.Fields == nil {
					out.Fields = map[string]string{}
				}
				out.Fields[f.Field] = f.Message
			}
		}
	}
	return out
}

// Interceptor converts errors at a Connect boundary: on the handler side it
// turns Herald errors into Connect errors, on the client side it turns them
// back.
func Interceptor() connect.Interceptor { return interceptor{} }

type interceptor struct{}

func (interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		if err == nil {
			return res, nil
		}
		if req.Spec().IsClient {
			return res, FromConnect(err)
		}
		return res, ToConnect(err)
	}
}

func (interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
