package config

import (
	"net/url"
	"reflect"
	"time"

	"go.yaml.in/yaml/v3"
)

const redacted = "REDACTED"

// Redacted returns a copy with secrets replaced, safe to print or log.
func (c Config) Redacted() Config {
	if c.SecretKey != "" {
		c.SecretKey = redacted
	}
	if c.InternalToken != "" {
		c.InternalToken = redacted
	}
	if c.Metrics.Token != "" {
		c.Metrics.Token = redacted
	}
	c.Store.URL = redactURL(c.Store.URL)
	c.Store.Portal = redactURL(c.Store.Portal)
	c.Store.Trigger = redactURL(c.Store.Trigger)
	c.Store.Publisher = redactURL(c.Store.Publisher)
	c.Store.Notification = redactURL(c.Store.Notification)
	c.Bus.URL = redactURL(c.Bus.URL)
	c.Coord.URL = redactURL(c.Coord.URL)
	c.Cache.URL = redactURL(c.Cache.URL)
	c.Cache.Local = redactURL(c.Cache.Local)
	c.Blob.URL = redactURL(c.Blob.URL)
	c.SMTP.URL = redactURL(c.SMTP.URL)
	c.Telemetry.OTLPEndpoint = redactURL(c.Telemetry.OTLPEndpoint)
	for _, v := range []*string{&c.Networks.X.ClientSecret, &c.Networks.LinkedIn.ClientSecret, &c.Networks.Meta.AppSecret, &c.Networks.Threads.AppSecret} {
		if *v != "" {
			*v = redacted
		}
	}
	return c
}

// redactURL hides a password in a URL's user info and in query parameters
// that commonly hold one.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return raw
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
			changed = true
		}
	}
	q := u.Query()
	for _, k := range []string{"password", "secret", "token", "access_key", "secret_key"} {
		if q.Has(k) {
			q.Set(k, redacted)
			changed = true
		}
	}
	if !changed {
		return raw // re-encoding would turn "mem://" into "mem:"
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// YAML renders the configuration with the keys, and in the order, the file
// takes them.
func (c Config) YAML() ([]byte, error) {
	return yaml.Marshal(node(reflect.ValueOf(c)))
}

func node(v reflect.Value) *yaml.Node {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: time.Duration(v.Int()).String()}
	}
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < v.NumField(); i++ {
			name := v.Type().Field(i).Tag.Get("koanf")
			if name == "" {
				continue
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, node(v.Field(i)))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, node(v.Index(i)))
		}
		return n
	default:
		var n yaml.Node
		_ = n.Encode(v.Interface())
		return &n
	}
}
