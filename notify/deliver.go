package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/heraldhq/herald/store"
)

// queuedEmail is one claimed row of notify_emails.
type queuedEmail struct {
	id       string
	to       string
	toName   string
	subject  string
	text     string
	html     string
	attempts int // including the one being made
	// fromName is the agency's sender name; unsub the one-click
	// unsubscribe URL for the List-Unsubscribe headers.
	fromName string
	unsub    string
}

// deliverLoop sends due emails until ctx is cancelled.
func (s *Service) deliverLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n, err := s.deliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("notify: delivering email", "err", err)
		}
		// A full batch means more may be due: go again at once.
		if err == nil && n == s.cfg.Batch {
			continue
		}
		wait := s.cfg.Poll
		if next, ok := s.nextDue(ctx); ok {
			wait = max(min(wait, time.Until(next)), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.mailWake:
		case <-timer.C:
		}
	}
}

// nextDue is when the earliest pending email is due.
func (s *Service) nextDue(ctx context.Context) (time.Time, bool) {
	var at *int64
	err := s.db.QueryRow(ctx, `SELECT MIN(next_try_at) FROM notify_emails WHERE status = ?`, statusPending).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, false
	}
	return store.FromMicros(*at), true
}

// deliverDue claims the due emails (one batch), sends them over one
// connection and records each outcome. It returns how many it claimed.
func (s *Service) deliverDue(ctx context.Context) (int, error) {
	batch, err := s.claim(ctx)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	results := s.send(ctx, batch)
	// The outcome is recorded even when shutting down: the mail went out
	// or not, whatever happens to this process next.
	return len(batch), s.recordOutcomes(context.WithoutCancel(ctx), batch, results)
}

// claim takes the due emails for this process. A claim counts as an
// attempt and moves next_try_at past the time a send may take, so another
// node (or this one after a crash) takes the email only if this attempt
// was lost: an email may then go out twice, never zero times.
func (s *Service) claim(ctx context.Context) ([]queuedEmail, error) {
	now := time.Now()
	lease := store.ToMicros(now.Add(2 * s.cfg.SendTimeout))
	var claimed []queuedEmail
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		claimed = claimed[:0]
		rows, err := tx.Query(ctx, `SELECT email_id, to_address, to_name, subject, text_body, html_body, attempts, from_name, unsubscribe_url
			FROM notify_emails WHERE status = ? AND next_try_at <= ?
			ORDER BY next_try_at, email_id LIMIT ?`, statusPending, store.ToMicros(now), s.cfg.Batch)
		if err != nil {
			return err
		}
		var due []queuedEmail
		for rows.Next() {
			var e queuedEmail
			if err := rows.Scan(&e.id, &e.to, &e.toName, &e.subject, &e.text, &e.html, &e.attempts, &e.fromName, &e.unsub); err != nil {
				rows.Close()
				return err
			}
			due = append(due, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range due {
			// Guarded by the attempts seen: of two nodes reading the same
			// row, only the first to update it sends it.
			res, err := tx.Exec(ctx, `UPDATE notify_emails SET attempts = attempts + 1, next_try_at = ?
				WHERE email_id = ? AND status = ? AND attempts = ?`, lease, e.id, statusPending, e.attempts)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				e.attempts++
				claimed = append(claimed, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("notify: claiming emails: %w", err)
	}
	return claimed, nil
}

// send delivers batch over one SMTP connection; results[i] is the outcome
// of batch[i].
func (s *Service) send(ctx context.Context, batch []queuedEmail) []error {
	results := make([]error, len(batch))
	msgs := make([]*gomail.Msg, 0, len(batch))
	idx := make([]int, 0, len(batch))
	for i, e := range batch {
		m, err := s.message(e)
		if err != nil {
			results[i] = err
			continue
		}
		msgs = append(msgs, m)
		idx = append(idx, i)
	}
	if len(msgs) == 0 {
		return results
	}
	client, err := s.client()
	if err != nil {
		for _, i := range idx {
			results[i] = err
		}
		return results
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		err = fmt.Errorf("connecting to %s: %w", s.smtp.redacted, err)
		for _, i := range idx {
			results[i] = err
		}
		return results
	}
	sendErr := client.SendWithSMTPClient(conn, msgs...)
	// The messages are with the server once sent: failing to say goodbye
	// changes nothing about them.
	_ = client.CloseWithSMTPClient(conn)
	// A message that failed carries its own error; an error with none of
	// them carrying one (the connection broke before the first) is every
	// message's.
	anyOwn := false
	for j, m := range msgs {
		if m.HasSendError() {
			results[idx[j]] = m.SendError()
			anyOwn = true
		}
	}
	if sendErr != nil && !anyOwn {
		for _, i := range idx {
			results[i] = sendErr
		}
	}
	return results
}

// message builds the email to send for e.
func (s *Service) message(e queuedEmail) (*gomail.Msg, error) {
	m := gomail.NewMsg()
	if e.fromName != "" {
		// White label: the agency's name, Herald's address (the one the
		// mail server may send from).
		if err := m.FromFormat(e.fromName, s.from.Address); err != nil {
			return nil, permanent{fmt.Errorf("sender %q: %w", e.fromName, err)}
		}
	} else {
		m.FromMailAddress(s.from)
	}
	if err := m.AddToFormat(e.toName, e.to); err != nil {
		return nil, permanent{fmt.Errorf("recipient address %q: %w", e.to, err)}
	}
	m.Subject(e.subject)
	// A stable Message-ID lets mail clients fold the copies of an email
	// sent twice (after a crash between send and record).
	m.SetMessageIDWithValue(e.id + "@" + domainOf(s.from.Address))
	m.SetDate()
	// RFC 3834: no out-of-office replies to a machine.
	m.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	if e.unsub != "" {
		// RFC 2369 and RFC 8058: mail clients offer an unsubscribe button
		// that POSTs to the link, no sign-in needed.
		m.SetGenHeader(gomail.Header("List-Unsubscribe"), "<"+e.unsub+">")
		m.SetGenHeader(gomail.Header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click")
	}
	m.SetBodyString(gomail.TypeTextPlain, e.text)
	m.AddAlternativeString(gomail.TypeTextHTML, e.html)
	return m, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "herald"
}

// client is a go-mail client for the configured server.
func (s *Service) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.smtp.port),
		gomail.WithTimeout(s.cfg.SendTimeout),
	}
	switch s.smtp.tls {
	case tlsImplicit:
		opts = append(opts, gomail.WithSSL())
	case tlsMandatory:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case tlsOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case tlsNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.smtp.username != "" {
		// Auto-discovery picks the strongest mechanism the server offers
		// and refuses to send a password in clear text.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.smtp.username), gomail.WithPassword(s.smtp.password))
	}
	c, err := gomail.NewClient(s.smtp.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

// permanent marks an error no retry can fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// isPermanent reports whether retrying cannot help: the address is
// malformed, or the server refused the recipient with a 5xx. Every other
// failure (connection, authentication, a full mailbox, a 4xx) is retried:
// an operator may fix it.
func isPermanent(err error) bool {
	var p permanent
	if errors.As(err, &p) {
		return true
	}
	var se *gomail.SendError
	return errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && se.ErrorCode() >= 500 && se.ErrorCode() < 600
}

// recordOutcomes stores what became of each claimed email.
func (s *Service) recordOutcomes(ctx context.Context, batch []queuedEmail, results []error) error {
	now := time.Now()
	// Only while the claim is still ours: if it outlived its lease and
	// another node took the email, that node's attempt decides.
	const mine = ` WHERE email_id = ? AND status = ? AND attempts = ?`
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		for i, e := range batch {
			err := results[i]
			var q string
			var args []any
			switch {
			case err == nil:
				q, args = `UPDATE notify_emails SET status = ?, sent_at = ?, last_error = '' `+mine,
					[]any{statusSent, store.ToMicros(now), e.id, statusPending, e.attempts}
			case isPermanent(err) || e.attempts >= s.cfg.MaxAttempts:
				s.log.Warn("notify: email given up", "email_id", e.id, "attempts", e.attempts, "err", err)
				q, args = `UPDATE notify_emails SET status = ?, last_error = ? `+mine,
					[]any{statusFailed, errorText(err), e.id, statusPending, e.attempts}
			default:
				wait := s.backoff(e.attempts)
				s.log.Info("notify: email will be retried", "email_id", e.id, "attempts", e.attempts, "retry_in", wait, "err", err)
				q, args = `UPDATE notify_emails SET next_try_at = ?, last_error = ? `+mine,
					[]any{store.ToMicros(now.Add(wait)), errorText(err), e.id, statusPending, e.attempts}
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return fmt.Errorf("notify: recording email %s: %w", e.id, err)
			}
		}
		return nil
	})
}

// backoff is the wait after the given number of failed attempts: RetryMin
// doubled each time up to RetryMax, less up to a fifth at random.
func (s *Service) backoff(attempts int) time.Duration {
	return lessAFifth(expBackoff(s.cfg.RetryMin, s.cfg.RetryMax, attempts))
}

// errorText is what is kept of a delivery error: enough to diagnose, short
// enough for a row.
func errorText(err error) string {
	t := oneLine(err.Error())
	if r := []rune(t); len(r) > 1000 {
		t = string(r[:1000])
	}
	return t
}
