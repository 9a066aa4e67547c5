package brokertest

import (
	"testing"
	"time"
)

func TestHostPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"nats://127.0.0.1:4222", "127.0.0.1:4222", true},
		{"amqp://guest:guest@127.0.0.1:5672/", "127.0.0.1:5672", true},
		{"127.0.0.1:61613", "127.0.0.1:61613", true},
		{"amqp://127.0.0.1/", "", false},
	}
	for _, tt := range tests {
		got, err := hostPort(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("hostPort(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	var l Latencies
	if got := l.Quantile(0.99); got != 0 {
		t.Errorf("Quantile of nothing = %v, want 0", got)
	}
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := l.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}
